// Agent: restoring a configuration, and what could not be restored yet
// (pending objects, see Agent::Apply). A pending object keeps its requests
// exactly as the state file holds them, so saving the configuration writes
// them back unchanged, and attaching one later is the same replay as at
// start.
#include <net/if.h>
#include <sys/stat.h>

#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/agent.h"
#include "server/config_edit.h"
#include "server/convert.h"
#include "server/validate.h"

namespace veb::server {

const std::string& Agent::PendingObject::bridge() const {
  if (requests.ports_size() > 0) return requests.ports(0).bridge();
  if (requests.span_ports_size() > 0) return requests.span_ports(0).bridge();
  return requests.vports(0).bridge();
}

const Agent::PendingObject* Agent::FindPendingLocked(const std::string& bridge,
                                                     const std::string& name) const {
  auto it = pending_.find(name);
  if (it == pending_.end() || (!bridge.empty() && it->second.bridge() != bridge)) {
    return nullptr;
  }
  return &it->second;
}

void Agent::FillPendingPortLocked(const PendingObject& p, v1::Port* out) const {
  const v1::AddPortRequest* req = nullptr;
  const v1::CreateVportRequest* vreq = nullptr;
  if (p.requests.ports_size() > 0) req = &p.requests.ports(0);
  if (p.vport()) vreq = &p.requests.vports(0);
  const std::string& bridge = p.bridge();
  out->set_bridge(bridge);
  out->set_name(req ? req->name() : vreq->name());
  out->set_backend(req ? req->backend() : vreq->backend());
  const BridgeEntry* e = FindLocked(bridge);
  absl::StatusOr<PortConfig> config =
      PortConfigForAdd("", req ? req->settings() : vreq->settings(),
                       e ? e->bridge->config().default_pvid : 1);
  if (config.ok()) FillPortConfig(*config, out);
  out->set_vport_kind(vreq ? vreq->kind() : v1::VPORT_KIND_UNSPECIFIED);
  out->set_rule_count(static_cast<uint32_t>(p.requests.rules_size()));
  out->set_address_count(static_cast<uint32_t>(p.requests.static_addresses_size()));
  out->set_pending(true);
  out->set_pending_reason(p.reason);
}

void Agent::FillPendingSpanPortLocked(const PendingObject& p, v1::SpanPort* out) const {
  const v1::AddSpanPortRequest& req = p.requests.span_ports(0);
  out->set_bridge(req.bridge());
  out->set_name(req.name());
  out->set_backend(req.backend());
  out->set_pending(true);
  out->set_pending_reason(p.reason);
}

void Agent::FillPendingVportLocked(const PendingObject& p, v1::Vport* out) const {
  const v1::CreateVportRequest& req = p.requests.vports(0);
  out->set_name(req.name());
  out->set_bridge(req.bridge());
  out->set_kind(req.kind());
  out->set_mac(req.mac());
  if (req.has_mtu()) out->set_mtu(req.mtu());
  if (req.has_pod()) *out->mutable_pod() = req.pod();
  *out->mutable_ip_prefixes() = req.ip_prefixes();
  if (req.has_tunnel()) *out->mutable_tunnel() = req.tunnel();
  out->set_pending(true);
  out->set_pending_reason(p.reason);
}

absl::Status Agent::DeletePending(const std::string& name, absl::string_view obj) {
  std::string bridge;
  {
    absl::ReaderMutexLock lock(&mu_);
    const PendingObject* p = FindPendingLocked("", name);
    if (p == nullptr) return absl::OkStatus();
    bridge = p->bridge();
  }
  if (absl::Status s = Persist(obj, [&](AgentConfig* c) { ErasePort(c, bridge, name); });
      !s.ok()) {
    return s;
  }
  absl::MutexLock lock(&mu_);
  pending_.erase(name);
  return absl::OkStatus();
}

void Agent::AttachPending(const std::string& name) {
  absl::MutexLock config_lock(&config_mu_);
  PendingObject p;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(name);
    if (it == pending_.end()) return;
    if (FindLocked(it->second.bridge()) == nullptr) return;
    p = std::move(it->second);
    pending_.erase(it);
  }
  // The object's own save is the one at the end: in between, the export
  // would lack what is being re-added.
  replaying_ = true;
  absl::Status s;
  const std::string& bridge = p.bridge();
  if (p.vport()) {
    v1::CreateVportResponse resp;
    s = CreateVportImpl(p.requests.vports(0), /*restore=*/true, &resp);
  } else if (p.span()) {
    const v1::AddSpanPortRequest& r = p.requests.span_ports(0);
    s = OpenAndAdd(bridge, name, r.backend(), true, PortConfig{}, SpanObj(name, "add"))
            .status();
  } else {
    const v1::AddPortRequest& r = p.requests.ports(0);
    uint16_t pvid = 1;
    {
      absl::ReaderMutexLock lock(&mu_);
      pvid = FindLocked(bridge)->bridge->config().default_pvid;
    }
    const std::string obj = PortObj(name, "add");
    absl::StatusOr<PortConfig> config = PortConfigForAdd(obj, r.settings(), pvid);
    s = config.ok() ? OpenAndAdd(bridge, name, r.backend(), false, *config, obj).status()
                    : config.status();
  }
  if (!s.ok()) {
    replaying_ = false;
    p.reason = std::string(s.message());
    absl::MutexLock lock(&mu_);
    pending_[name] = std::move(p);
    return;
  }
  // Its rules and static addresses, as the state file held them.
  {
    absl::ReaderMutexLock lock(&mu_);
    BridgeEngine* b = FindLocked(bridge)->bridge.get();
    for (const v1::AddRuleRequest& r : p.requests.rules()) {
      absl::StatusOr<Rule> rule = RuleFromProto("rule: restore", r.rule());
      absl::Status added = rule.ok() ? b->AddRule(r.port(), *rule) : rule.status();
      if (!added.ok()) std::cerr << "vebd: restore: " << added.message() << "\n";
    }
    for (const v1::AddStaticAddressRequest& a : p.requests.static_addresses()) {
      absl::StatusOr<Mac> mac = ParseMacField("address: restore", "mac", a.mac());
      absl::Status added = mac.ok() ? b->AddStaticAddress(static_cast<uint16_t>(a.vid()), *mac,
                                                          a.port())
                                    : mac.status();
      if (!added.ok()) std::cerr << "vebd: restore: " << added.message() << "\n";
    }
  }
  replaying_ = false;
  std::cerr << "vebd: " << (p.vport() ? "vport " : p.span() ? "span port " : "port ")
            << Quote(name) << ": pending: attached to bridge " << Quote(bridge) << "\n";
  PersistCurrent();
}

absl::Status Agent::Apply(const AgentConfig& config, std::vector<std::string>* problems) {
  {
    absl::MutexLock lock(&config_mu_);
    replaying_ = true;
  }
  auto note = [&](const absl::Status& s) {
    if (!s.ok() && problems != nullptr) problems->push_back(std::string(s.message()));
  };
  // An object that could not be attached waits, with its reason.
  auto keep = [&](const std::string& name, const absl::Status& s, auto add_request) {
    if (s.ok() || s.code() == absl::StatusCode::kAlreadyExists) return;
    if (problems != nullptr) problems->push_back(absl::StrCat("pending: ", s.message()));
    absl::MutexLock lock(&mu_);
    PendingObject& p = pending_[name];
    p.requests.Clear();
    add_request(&p.requests);
    p.reason = std::string(s.message());
  };
  for (const auto& req : config.bridges()) {
    v1::CreateBridgeResponse resp;
    absl::Status s = CreateBridge(req, &resp);
    if (!s.ok() && s.code() != absl::StatusCode::kAlreadyExists &&
        s.code() != absl::StatusCode::kInvalidArgument) {
      absl::MutexLock lock(&config_mu_);
      replaying_ = false;
      return s;
    }
    if (s.code() != absl::StatusCode::kAlreadyExists) note(s);
  }
  auto bridge_exists = [&](const std::string& b) {
    absl::ReaderMutexLock lock(&mu_);
    return FindLocked(b) != nullptr;
  };
  for (const auto& req : config.ports()) {
    v1::AddPortResponse resp;
    absl::Status s = AddPort(req, &resp);
    if (!bridge_exists(req.bridge()) || s.code() == absl::StatusCode::kInvalidArgument) {
      note(s);
      continue;
    }
    keep(req.name(), s, [&](AgentConfig* c) { *c->add_ports() = req; });
  }
  for (const auto& req : config.span_ports()) {
    v1::AddSpanPortResponse resp;
    absl::Status s = AddSpanPort(req, &resp);
    if (!bridge_exists(req.bridge()) || s.code() == absl::StatusCode::kInvalidArgument) {
      note(s);
      continue;
    }
    keep(req.name(), s, [&](AgentConfig* c) { *c->add_span_ports() = req; });
  }
  for (const auto& req : config.vports()) {
    v1::CreateVportResponse resp;
    absl::Status s;
    {
      absl::MutexLock lock(&config_mu_);
      s = CreateVportImpl(req, /*restore=*/true, &resp);
    }
    if (!bridge_exists(req.bridge()) || s.code() == absl::StatusCode::kInvalidArgument ||
        req.name().empty()) {
      note(s);
      continue;
    }
    keep(req.name(), s, [&](AgentConfig* c) { *c->add_vports() = req; });
  }
  // Rules and static addresses of a pending port wait with it.
  auto pending_port = [&](const std::string& bridge, const std::string& port) {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(port);
    return it != pending_.end() && it->second.bridge() == bridge ? &it->second : nullptr;
  };
  for (const auto& req : config.rules()) {
    if (PendingObject* p = pending_port(req.bridge(), req.port())) {
      absl::MutexLock lock(&mu_);
      *p->requests.add_rules() = req;
      continue;
    }
    v1::AddRuleResponse resp;
    note(AddRule(req, &resp));
  }
  for (const auto& req : config.static_addresses()) {
    if (PendingObject* p = pending_port(req.bridge(), req.port())) {
      absl::MutexLock lock(&mu_);
      *p->requests.add_static_addresses() = req;
      continue;
    }
    v1::AddStaticAddressResponse resp;
    note(AddStaticAddress(req, &resp));
  }
  absl::MutexLock lock(&config_mu_);
  replaying_ = false;
  // Engines that outlived the previous agent drop what it left and the state
  // no longer records (syscalls: outside mu_; bridges only change under
  // config_mu_, which we hold).
  std::vector<BridgeEngine*> engines;
  {
    absl::ReaderMutexLock read(&mu_);
    for (auto& [name, e] : bridges_) engines.push_back(e.bridge.get());
  }
  for (BridgeEngine* b : engines) {
    for (const std::string& port : b->FinishRestore()) {
      std::cerr << "vebd: bridge \"" << b->name() << "\": port \"" << port
                << "\" was left by the previous agent and is not in the state: removed\n";
    }
  }
  PersistCurrent();
  return absl::OkStatus();
}

}  // namespace veb::server

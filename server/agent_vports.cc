// Agent: vports (docs/design.md "Model"). The backend makes and destroys
// their interfaces (netlink, namespaces) with no agent lock held; the
// records live in VportRegistry, the port with the bridge's other ports.
#include <algorithm>
#include <future>
#include <iostream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/agent.h"
#include "server/config_edit.h"
#include "server/convert.h"
#include "server/validate.h"

namespace veb::server {

absl::Status Agent::CreateVport(const v1::CreateVportRequest& req,
                                v1::CreateVportResponse* resp) {
  absl::MutexLock config_lock(&config_mu_);
  return CreateVportImpl(req, /*restore=*/false, resp);
}

absl::Status Agent::CreateVportImpl(const v1::CreateVportRequest& req, bool restore,
                                    v1::CreateVportResponse* resp) {
  const std::string op = restore ? "restore" : "create";
  std::string obj = VportObj(req.name(), op);
  if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "create vport"), req.bridge());
      !s.ok()) {
    return s;
  }
  absl::StatusOr<VportSpec> spec = VportSpecFromRequest(req, obj);
  if (!spec.ok()) return spec.status();
  if (auto c = PortConfigForAdd(obj, req.settings(), 1);
      !c.ok() && c.status().code() == absl::StatusCode::kInvalidArgument) {
    return c.status();
  }
  const bool pod = spec->type == VportType::kPodVeth || spec->type == VportType::kPodTap;
  const bool pick_host_name = spec->type == VportType::kHost && spec->name.empty();
  int next = 0;
  // Names in use as vports or ports (read under mu_; only config_mu_
  // holders change them, and we hold it).
  auto taken = [&](const std::string& n) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return vports_.Contains(n) || interface_owner_.count(n) > 0 || pending_.count(n) > 0;
  };
  absl::StatusOr<PortConfig> config = absl::UnknownError("");
  absl::StatusOr<Backend> backend = absl::UnknownError("");
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "create vport");
    if (!e.ok()) return e.status();
    if (pod) {
      const v1::CniAttachment& a = req.pod().attachment();
      if (const std::string* n = vports_.NameOf(a.container_id(), a.ifname())) {
        if (restore) return absl::OkStatus();  // already there (startup file after state)
        return absl::AlreadyExistsError(absl::StrCat("vport: ", op, ": ", AttachmentText(a),
                                                     " already exists as ", Quote(*n)));
      }
      if (spec->name.empty()) spec->name = PodVportName(a);
    }
    if (pick_host_name) {
      do spec->name = absl::StrCat("vport", next++);
      while (taken(spec->name));
    }
    obj = VportObj(spec->name, op);
    if (taken(spec->name)) {
      if (restore && vports_.Contains(spec->name)) return absl::OkStatus();
      return absl::AlreadyExistsError(absl::StrCat(obj, ": already exists"));
    }
    if (spec->type == VportType::kTunnel) {
      // One VNI per agent: two devices with one VNI would split the domain.
      for (const auto& [n, v] : vports_.all()) {
        if (v.spec.type == VportType::kTunnel && v.spec.tunnel.vni == spec->tunnel.vni &&
            n != spec->name) {
          return absl::AlreadyExistsError(absl::StrCat(
              obj, ": vni ", spec->tunnel.vni, " is already used by tunnel vport ", Quote(n)));
        }
      }
      for (const auto& [n, p] : pending_) {
        if (p.vport() && p.requests.vports(0).kind() == v1::VPORT_KIND_TUNNEL &&
            p.requests.vports(0).tunnel().vni() == spec->tunnel.vni && n != spec->name) {
          return absl::AlreadyExistsError(absl::StrCat(
              obj, ": vni ", spec->tunnel.vni, " is already used by tunnel vport ", Quote(n),
              " (pending)"));
        }
      }
    }
    if ((*e)->ports.size() >= kMaxPortsPerBridge) {
      return absl::ResourceExhaustedError(absl::StrCat(
          obj, ": bridge ", Quote(req.bridge()), " has ", kMaxPortsPerBridge, " ports"));
    }
    config = PortConfigForAdd(obj, req.settings(), (*e)->bridge->config().default_pvid);
    if (!config.ok()) return config.status();
    const Engine engine = (*e)->bridge->engine();
    if (absl::Status s = CheckVportForEngine(obj, req.bridge(), engine, spec->type); !s.ok()) {
      return s;
    }
    backend = BackendForEngine(obj, req.bridge(), engine, *BackendFromProto(obj, req.backend()));
    if (!backend.ok()) return backend.status();
  }

  absl::StatusOr<OpenedVport> opened = absl::NotFoundError("");
  if (restore) opened = options_.opener->ReopenVport(*spec, *backend);
  // Host vports of the startup file are made when missing; a pod's
  // interfaces that are gone stay gone (the pod went while we were down).
  if (!restore || (opened.status().code() == absl::StatusCode::kNotFound && !pod)) {
    for (int tries = 0;; ++tries) {
      opened = options_.opener->CreateVport(*spec, *backend);
      if (!pick_host_name || tries >= 64 ||
          opened.status().code() != absl::StatusCode::kAlreadyExists) {
        break;
      }
      absl::ReaderMutexLock lock(&mu_);
      do spec->name = absl::StrCat("vport", next++);
      while (taken(spec->name));
      obj = VportObj(spec->name, op);
    }
  }
  if (!opened.ok()) return opened.status();
  if (opened->port.port == nullptr || opened->port.handle == nullptr ||
      opened->port.port->name() != spec->name) {
    opened->port = OpenedPort{};
    (void)options_.opener->DestroyVport(*spec);
    return absl::InternalError(absl::StrCat(obj, ": backend opened the wrong interface"));
  }
  VportRecord rec;
  rec.bridge = req.bridge();
  rec.spec = *spec;
  rec.spec.mac = opened->stack_mac;
  rec.spec.mtu = opened->mtu;
  rec.backend = req.backend();
  if (pod) rec.container_id = req.pod().attachment().container_id();
  // Saved while the interfaces exist but are not yet a port: a failed save
  // removes what was made.
  if (absl::Status s = Persist(obj, [&](AgentConfig* c) {
        v1::CreateVportRequest* v = c->add_vports();
        FillVportFields(spec->name, rec.bridge, rec.spec, rec.container_id, v);
        v->set_backend(rec.backend);
        *v->mutable_settings() = PortSettingsFromConfig(*config);
      });
      !s.ok()) {
    opened->port = OpenedPort{};
    if (!restore) (void)options_.opener->DestroyVport(*spec);
    return s;
  }
  {
    // Recorded first so that PORT_ADDED carries the vport kind.
    absl::MutexLock lock(&mu_);
    vports_.Add(spec->name, rec);
  }
  if (absl::Status s = Attach(req.bridge(), std::move(opened->port), false, *config);
      !s.ok()) {
    {
      absl::MutexLock lock(&mu_);
      vports_.Remove(spec->name);
    }
    if (!restore) (void)options_.opener->DestroyVport(*spec);
    PersistCurrent();  // the vport is not there after all
    return absl::Status(s.code(), absl::StrCat(obj, ": ", s.message()));
  }
  absl::ReaderMutexLock lock(&mu_);
  FillVportLocked(spec->name, *vports_.Find(spec->name), resp->mutable_vport());
  return absl::OkStatus();
}

std::future<void> Agent::RemoveVport(const std::string& name, v1::PortRemovalCause cause) {
  VportRecord rec;
  {
    absl::ReaderMutexLock lock(&mu_);
    const VportRecord* v = vports_.Find(name);
    if (v == nullptr) return {};
    rec = *v;
  }
  PortOpener* opener = options_.opener;
  std::future<void> destroyed = std::async(std::launch::async, [opener, spec = rec.spec] {
    if (absl::Status s = opener->DestroyVport(spec); !s.ok()) {
      std::cerr << "vebd: " << s.message() << "\n";
    }
  });
  RemovePort(rec.bridge, name, cause);
  absl::MutexLock lock(&mu_);
  vports_.Remove(name);
  return destroyed;
}

void Agent::FillVportLocked(const std::string& name, const VportRecord& v,
                            v1::Vport* out) const {
  FillVportFields(name, v.bridge, v.spec, v.container_id, out);
  const BridgeEntry* e = FindLocked(v.bridge);
  if (e != nullptr) FillPortByNameLocked(*e, name, out->mutable_port());
}

template <typename Req>
const Agent::PendingObject* Agent::FindPendingVportLocked(const std::string& bridge,
                                                          const Req& req) const {
  for (const auto& [name, p] : pending_) {
    if (!p.vport() || (!bridge.empty() && p.bridge() != bridge)) continue;
    const v1::CreateVportRequest& v = p.requests.vports(0);
    if (req.target_case() == Req::kAttachment
            ? v.pod().attachment().container_id() == req.attachment().container_id() &&
                  v.pod().attachment().ifname() == req.attachment().ifname()
            : name == req.name()) {
      return &p;
    }
  }
  return nullptr;
}

absl::Status Agent::DeleteVport(const v1::DeleteVportRequest& req,
                                v1::DeleteVportResponse* resp) {
  if (absl::Status s = ValidateVportTarget(req, "delete"); !s.ok()) return s;
  absl::MutexLock config_lock(&config_mu_);
  std::string name;
  std::string pending;
  {
    absl::ReaderMutexLock lock(&mu_);
    const VportRecord* v = vports_.Find(
        req.bridge(), req.name(),
        req.target_case() == v1::DeleteVportRequest::kAttachment ? &req.attachment() : nullptr,
        &name);
    if (v == nullptr) {
      const PendingObject* p = FindPendingVportLocked(req.bridge(), req);
      if (p == nullptr) {
        resp->set_deleted(false);
        return req.allow_missing() ? absl::OkStatus() : VportNotFound(req, "delete");
      }
      pending = p->requests.vports(0).name();
    }
  }
  if (!pending.empty()) {
    if (absl::Status s = DeletePending(pending, VportObj(pending, "delete")); !s.ok()) return s;
    resp->set_deleted(true);
    return absl::OkStatus();
  }
  std::string bridge;
  {
    absl::ReaderMutexLock lock(&mu_);
    bridge = vports_.Find(name)->bridge;
  }
  if (absl::Status s = Persist(VportObj(name, "delete"),
                               [&](AgentConfig* c) { ErasePort(c, bridge, name); });
      !s.ok()) {
    return s;
  }
  std::future<void> destroyed = RemoveVport(name, v1::PORT_REMOVAL_CAUSE_API);
  resp->set_deleted(true);
  return absl::OkStatus();
}

absl::StatusOr<VportRecord> Agent::TunnelForPeers(const std::string& obj,
                                                  const std::string& bridge,
                                                  const std::string& name) {
  absl::ReaderMutexLock lock(&mu_);
  const VportRecord* v = vports_.Find(name);
  if (v == nullptr || (!bridge.empty() && v->bridge != bridge)) {
    if (FindPendingLocked(bridge, name) != nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(obj, ": pending (its device could not be made yet)"));
    }
    return absl::NotFoundError(absl::StrCat(obj, ": not found"));
  }
  if (v->spec.type != VportType::kTunnel) {
    return absl::FailedPreconditionError(absl::StrCat(obj, ": not a tunnel vport"));
  }
  return *v;
}

absl::Status Agent::ChangePeers(const std::string& obj, const VportRecord& rec,
                                const std::vector<std::string>& next,
                                const std::vector<std::string>& next_source, v1::Vport* out) {
  const std::string& name = rec.spec.name;
  const TunnelSpec& old = rec.spec.tunnel;
  if (next.size() > static_cast<size_t>(kMaxTunnelPeers)) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": ", next.size(),
                                                   " peers, at most ", kMaxTunnelPeers));
  }
  std::vector<std::string> add;
  std::vector<std::string> del;
  std::set_difference(next.begin(), next.end(), old.peers.begin(), old.peers.end(),
                      std::back_inserter(add));
  std::set_difference(old.peers.begin(), old.peers.end(), next.begin(), next.end(),
                      std::back_inserter(del));
  if (!add.empty() || !del.empty() || next_source != old.source_peers) {
    // Saved first: a failed save changes nothing; a failed apply is put back.
    auto with_peers = [&name](const std::vector<std::string>& peers,
                              const std::vector<std::string>& source) {
      return [&name, &peers, &source](AgentConfig* c) {
        for (v1::CreateVportRequest& v : *c->mutable_vports()) {
          if (v.name() != name) continue;
          v1::TunnelVport* t = v.mutable_tunnel();
          t->clear_peers();
          for (const std::string& p : peers) t->add_peers(p);
          t->clear_source_peers();
          for (const std::string& p : source) t->add_source_peers(p);
        }
      };
    };
    if (absl::Status s = Persist(obj, with_peers(next, next_source)); !s.ok()) return s;
    if (absl::Status s = options_.opener->SetTunnelPeers(rec.spec, add, del); !s.ok()) {
      (void)options_.opener->SetTunnelPeers(rec.spec, del, add);
      (void)Persist(obj, with_peers(old.peers, old.source_peers));
      return s;
    }
    absl::MutexLock lock(&mu_);
    VportRecord updated = *vports_.Find(name);
    updated.spec.tunnel.peers = next;
    updated.spec.tunnel.source_peers = next_source;
    vports_.Remove(name);
    vports_.Add(name, std::move(updated));
  }
  absl::ReaderMutexLock lock(&mu_);
  FillVportLocked(name, *vports_.Find(name), out);
  return absl::OkStatus();
}

absl::Status Agent::SetVportPeers(const v1::SetVportPeersRequest& req,
                                  v1::SetVportPeersResponse* resp) {
  const std::string obj = VportObj(req.name(), "peers");
  if (absl::Status s = ValidateName(obj, req.name()); !s.ok()) return s;
  if (!req.bridge().empty()) {
    if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "peers"), req.bridge()); !s.ok()) {
      return s;
    }
  }
  if (req.op() != v1::PEERS_OP_SET && req.op() != v1::PEERS_OP_ADD &&
      req.op() != v1::PEERS_OP_DEL) {
    return absl::InvalidArgumentError(
        absl::StrCat(obj, ": op ", req.op(), ": must be PEERS_OP_SET, _ADD or _DEL"));
  }
  absl::StatusOr<std::vector<std::string>> given = ParsePeers(obj, req.peers());
  if (!given.ok()) return given.status();
  absl::MutexLock config_lock(&config_mu_);
  absl::StatusOr<VportRecord> rec = TunnelForPeers(obj, req.bridge(), req.name());
  if (!rec.ok()) return rec.status();
  const std::vector<std::string>& old = rec->spec.tunnel.peers;
  std::vector<std::string> next;
  switch (req.op()) {
    case v1::PEERS_OP_SET:
      next = *given;
      break;
    case v1::PEERS_OP_ADD:
      std::set_union(old.begin(), old.end(), given->begin(), given->end(),
                     std::back_inserter(next));
      break;
    default:
      std::set_difference(old.begin(), old.end(), given->begin(), given->end(),
                          std::back_inserter(next));
      break;
  }
  // The source's peers that are still there stay the source's.
  const std::vector<std::string>& source = rec->spec.tunnel.source_peers;
  std::vector<std::string> next_source;
  std::set_intersection(source.begin(), source.end(), next.begin(), next.end(),
                        std::back_inserter(next_source));
  return ChangePeers(obj, *rec, next, next_source, resp->mutable_vport());
}

absl::Status Agent::SyncSourcePeers(const std::string& name,
                                    const std::vector<std::string>& wanted, v1::Vport* out,
                                    std::vector<std::string>* added,
                                    std::vector<std::string>* removed) {
  const std::string obj = VportObj(name, "peers");
  absl::MutexLock config_lock(&config_mu_);
  absl::StatusOr<VportRecord> rec = TunnelForPeers(obj, "", name);
  if (!rec.ok()) return rec.status();
  const std::vector<std::string>& old = rec->spec.tunnel.peers;
  const std::vector<std::string>& source = rec->spec.tunnel.source_peers;
  added->clear();
  removed->clear();
  std::set_difference(wanted.begin(), wanted.end(), old.begin(), old.end(),
                      std::back_inserter(*added));
  std::set_difference(source.begin(), source.end(), wanted.begin(), wanted.end(),
                      std::back_inserter(*removed));
  std::vector<std::string> kept;  // old without what the source dropped
  std::set_difference(old.begin(), old.end(), removed->begin(), removed->end(),
                      std::back_inserter(kept));
  std::vector<std::string> next;
  std::set_union(kept.begin(), kept.end(), added->begin(), added->end(),
                 std::back_inserter(next));
  std::vector<std::string> still;  // the source's peers it still gives
  std::set_intersection(source.begin(), source.end(), wanted.begin(), wanted.end(),
                        std::back_inserter(still));
  std::vector<std::string> next_source;
  std::set_union(still.begin(), still.end(), added->begin(), added->end(),
                 std::back_inserter(next_source));
  absl::Status s = ChangePeers(obj, *rec, next, next_source, out);
  if (!s.ok()) {
    added->clear();
    removed->clear();
  }
  return s;
}

absl::Status Agent::GetVport(const v1::GetVportRequest& req, v1::GetVportResponse* resp) {
  if (absl::Status s = ValidateVportTarget(req, "get"); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  std::string name;
  const VportRecord* v = vports_.Find(
      req.bridge(), req.name(),
      req.target_case() == v1::GetVportRequest::kAttachment ? &req.attachment() : nullptr,
      &name);
  if (v == nullptr) {
    if (const PendingObject* p = FindPendingVportLocked(req.bridge(), req)) {
      FillPendingVportLocked(*p, resp->mutable_vport());
      return absl::OkStatus();
    }
    return VportNotFound(req, "get");
  }
  FillVportLocked(name, *v, resp->mutable_vport());
  return absl::OkStatus();
}

absl::Status Agent::ListVports(const v1::ListVportsRequest& req,
                               v1::ListVportsResponse* resp) {
  if (!req.bridge().empty()) {
    if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "list vports"), req.bridge());
        !s.ok()) {
      return s;
    }
  }
  if (!v1::VportKind_IsValid(req.kind())) {
    return absl::InvalidArgumentError(absl::StrCat("vport: list: kind ", req.kind(), ": unknown"));
  }
  if (!req.container_id().empty()) {
    if (absl::Status s = ValidateContainerId("vport: list", req.container_id()); !s.ok()) {
      return s;
    }
  }
  absl::ReaderMutexLock lock(&mu_);
  if (!req.bridge().empty() && FindLocked(req.bridge()) == nullptr) {
    return NotFound(BridgeObj(req.bridge(), "list vports"), "not found");
  }
  std::vector<std::pair<std::string, std::string>> keys;  // (bridge, name)
  for (const auto& [name, v] : vports_.all()) {
    if (!req.bridge().empty() && v.bridge != req.bridge()) continue;
    if (req.kind() != v1::VPORT_KIND_UNSPECIFIED && VportKindToProto(v.spec.type) != req.kind()) {
      continue;
    }
    if (!req.container_id().empty() && v.container_id != req.container_id()) continue;
    keys.emplace_back(v.bridge, name);
  }
  for (const auto& [name, p] : pending_) {
    if (!p.vport()) continue;
    const v1::CreateVportRequest& v = p.requests.vports(0);
    if (!req.bridge().empty() && v.bridge() != req.bridge()) continue;
    if (req.kind() != v1::VPORT_KIND_UNSPECIFIED && v.kind() != req.kind()) continue;
    if (!req.container_id().empty() && v.pod().attachment().container_id() != req.container_id()) {
      continue;
    }
    keys.emplace_back(v.bridge(), name);
  }
  std::sort(keys.begin(), keys.end());
  for (const auto& [bridge, name] : keys) {
    if (const VportRecord* v = vports_.Find(name)) {
      FillVportLocked(name, *v, resp->add_vports());
    } else {
      FillPendingVportLocked(pending_.at(name), resp->add_vports());
    }
  }
  return absl::OkStatus();
}

}  // namespace veb::server

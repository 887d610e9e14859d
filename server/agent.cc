// Agent: bridges, rules, counters and events. Ports, addresses, vports,
// saving, restore and the link monitor's hooks with housekeeping are in the
// other agent_*.cc files (see agent.h).
#include "server/agent.h"

#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/config_edit.h"
#include "server/convert.h"
#include "server/validate.h"

namespace veb::server {

Agent::Agent(AgentOptions options)
    : options_(std::move(options)),
      hub_(options_.event_queue_size, options_.max_event_streams) {}

Agent::~Agent() {
  hub_.Shutdown();
  absl::MutexLock config(&config_mu_);
  absl::MutexLock lock(&mu_);
  for (auto& [name, e] : bridges_) {
    for (auto& [pname, rec] : e.ports) rec.opened.handle->Detach();
    e.bridge->SetAddressEventSink(nullptr);
  }
  bridges_.clear();
}

// ---- helpers ---------------------------------------------------------------------

Agent::BridgeEntry* Agent::FindLocked(const std::string& name) {
  auto it = bridges_.find(name);
  return it == bridges_.end() ? nullptr : &it->second;
}

const Agent::BridgeEntry* Agent::FindLocked(const std::string& name) const {
  auto it = bridges_.find(name);
  return it == bridges_.end() ? nullptr : &it->second;
}

absl::StatusOr<Agent::BridgeEntry*> Agent::BridgeOr(const std::string& name,
                                                    absl::string_view op) {
  BridgeEntry* e = FindLocked(name);
  if (e == nullptr) return NotFound(BridgeObj(name, op), "not found");
  return e;
}

absl::StatusOr<Agent::PortRecord*> Agent::PortOr(BridgeEntry& e, const std::string& name,
                                                 bool span, absl::string_view obj) {
  auto it = e.ports.find(name);
  if (it == e.ports.end() || it->second.span != span) {
    return NotFound(obj, absl::StrCat(span ? "not a span port" : "not a member", " of bridge ",
                                      Quote(e.bridge->name())));
  }
  return &it->second;
}

absl::Status Agent::CheckNotOwnedLocked(const std::string& bridge, const std::string& ifname,
                                        absl::string_view obj, bool span) const {
  if (const PendingObject* p = FindPendingLocked("", ifname)) {
    return absl::FailedPreconditionError(
        absl::StrCat(obj, ": already a pending ", p->vport() ? "vport" : "port", " of bridge ",
                     Quote(p->bridge()), " (delete it first)"));
  }
  auto it = interface_owner_.find(ifname);
  if (it == interface_owner_.end()) return absl::OkStatus();
  if (it->second != bridge) {
    return absl::FailedPreconditionError(
        absl::StrCat(obj, ": already a member of bridge ", Quote(it->second)));
  }
  if (span) {
    return absl::AlreadyExistsError(
        absl::StrCat(obj, ": already a port of bridge ", Quote(bridge)));
  }
  const BridgeEntry* e = FindLocked(bridge);
  const bool is_span = e != nullptr && e->ports.count(ifname) && e->ports.at(ifname).span;
  return absl::AlreadyExistsError(absl::StrCat(
      obj, ": already ", is_span ? "a span port" : "a member", " of bridge ", Quote(bridge)));
}

void Agent::FillBridgeLocked(const BridgeEntry& e, v1::Bridge* out) const {
  FillBridge(e.bridge->name(), e.bridge->config(), out);
  out->set_engine(EngineToProto(e.bridge->engine()));
  uint32_t members = 0, spans = 0;
  for (const auto& [n, rec] : e.ports) (rec.span ? spans : members)++;
  out->set_port_count(members);
  out->set_span_port_count(spans);
  out->set_vport_count(static_cast<uint32_t>(vports_.CountOnBridge(e.bridge->name())));
  const AddressCounts counts = e.bridge->GetAddressCounts();
  out->set_address_count(static_cast<uint32_t>(counts.total));
  out->set_static_address_count(static_cast<uint32_t>(counts.statics));
}

void Agent::FillPortLocked(const BridgeEntry& e, const PortRecord& rec, const PortInfo& info,
                           v1::Port* out) const {
  out->set_bridge(e.bridge->name());
  out->set_name(info.name);
  out->set_backend(BackendToProto(rec.opened.backend));
  FillPortConfig(info.config, out);
  out->set_ifindex(rec.opened.ifindex);
  const bool link_up = rec.opened.port->running();
  out->set_link_up(link_up);
  out->set_running(link_up && e.bridge->config().up);
  out->set_mtu(rec.opened.port->mtu());
  out->set_mac(FormatMac(rec.opened.mac));
  out->set_vport_kind(vports_.KindOf(info.name));
  out->set_address_count(static_cast<uint32_t>(info.addresses));
  out->set_rule_count(static_cast<uint32_t>(info.rules));
  out->set_backend_detail(rec.opened.backend_detail);
}

bool Agent::FillPortByNameLocked(const BridgeEntry& e, const std::string& name,
                                 v1::Port* out) const {
  auto rec = e.ports.find(name);
  if (rec == e.ports.end() || rec->second.span) return false;
  absl::StatusOr<PortInfo> info = e.bridge->GetPort(name);
  if (!info.ok()) return false;
  FillPortLocked(e, rec->second, *info, out);
  return true;
}

void Agent::FillSpanPortLocked(const BridgeEntry& e, const PortRecord& rec,
                               v1::SpanPort* out) const {
  out->set_bridge(e.bridge->name());
  out->set_name(rec.opened.port->name());
  out->set_backend(BackendToProto(rec.opened.backend));
  out->set_ifindex(rec.opened.ifindex);
  const bool link_up = rec.opened.port->running();
  out->set_link_up(link_up);
  out->set_running(link_up && e.bridge->config().up);
  out->set_mtu(rec.opened.port->mtu());
  out->set_mac(FormatMac(rec.opened.mac));
  out->set_backend_detail(rec.opened.backend_detail);
}

PortEventInfo Agent::PortEventLocked(const std::string& bridge, const std::string& port,
                                     bool span, bool link_up,
                                     v1::PortRemovalCause cause) const {
  return PortEventInfo{bridge, port, span, vports_.KindOf(port), link_up, cause};
}

void Agent::PublishBridgeEvent(v1::EventType type, const std::string& bridge) {
  v1::Bridge info;
  {
    absl::ReaderMutexLock lock(&mu_);
    const BridgeEntry* e = FindLocked(bridge);
    if (e == nullptr) return;
    FillBridgeLocked(*e, &info);
  }
  hub_.Publish(type, bridge, [&](v1::Event* ev) { *ev->mutable_bridge_info() = info; });
}

// ---- bridges ---------------------------------------------------------------------

absl::Status Agent::CreateBridge(const v1::CreateBridgeRequest& req,
                                 v1::CreateBridgeResponse* resp) {
  const std::string obj = BridgeObj(req.name(), "create");
  if (absl::Status s = ValidateName(obj, req.name()); !s.ok()) return s;
  absl::StatusOr<BridgeConfig> config =
      ApplyBridgeSettings(obj, req.settings(), BridgeConfig{});
  if (!config.ok()) return config.status();
  absl::StatusOr<Engine> engine = EngineFromProto(obj, req.engine());
  if (!engine.ok()) return engine.status();
  absl::MutexLock config_lock(&config_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    if (bridges_.count(req.name())) {
      return absl::AlreadyExistsError(absl::StrCat(obj, ": already exists"));
    }
    if (bridges_.size() >= kMaxBridges) {
      return absl::ResourceExhaustedError(
          absl::StrCat(obj, ": limit of ", kMaxBridges, " bridges reached"));
    }
  }
  absl::StatusOr<std::unique_ptr<BridgeEngine>> bridge = absl::UnknownError("");
  if (*engine == Engine::kKernel) {
    if (!options_.make_kernel_bridge) {
      return absl::FailedPreconditionError(
          absl::StrCat(obj, ": the kernel engine is not available in this agent (",
                       options_.kernel_engine_unavailable, ")"));
    }
    bridge = options_.make_kernel_bridge(req.name(), *config);
  } else {
    bridge = Bridge::Create(req.name(), *config, options_.clock, &qsbr_, options_.num_workers);
  }
  if (!bridge.ok()) return bridge.status();
  if (absl::Status s = Persist(obj, [&](AgentConfig* c) {
        v1::CreateBridgeRequest* b = c->add_bridges();
        b->set_name(req.name());
        *b->mutable_settings() = BridgeSettingsFromConfig(*config);
        if (*engine == Engine::kKernel) b->set_engine(v1::ENGINE_KERNEL);
      });
      !s.ok()) {
    return s;
  }
  {
    absl::MutexLock lock(&mu_);
    BridgeEntry& e = bridges_[req.name()];
    e.bridge = std::move(*bridge);
    e.names = std::make_shared<PortNames>();
    e.names->set_timeout_seconds(config->timeout_seconds);
    e.bridge->SetAddressEventSink(MakeAddressEventSink(e.names, &hub_, req.name()));
    FillBridgeLocked(e, resp->mutable_bridge());
  }
  PublishBridgeEvent(v1::EVENT_TYPE_BRIDGE_CREATED, req.name());
  return absl::OkStatus();
}

absl::Status Agent::DeleteBridge(const v1::DeleteBridgeRequest& req,
                                 v1::DeleteBridgeResponse* /*resp*/) {
  const std::string obj = BridgeObj(req.name(), "delete");
  if (absl::Status s = ValidateName(obj, req.name()); !s.ok()) return s;
  absl::MutexLock config_lock(&config_mu_);
  v1::Bridge before;
  std::vector<std::pair<std::string, bool>> ports;  // name, is a vport
  {
    absl::ReaderMutexLock lock(&mu_);
    const BridgeEntry* e = FindLocked(req.name());
    if (e == nullptr) return NotFound(obj, "not found");
    size_t members = 0, spans = 0, vports = 0;
    for (const auto& [n, rec] : e->ports) {
      const bool vport = vports_.Contains(n);
      ports.emplace_back(n, vport);
      if (vport) {
        ++vports;
      } else {
        (rec.span ? spans : members)++;
      }
    }
    size_t pending = 0;
    for (const auto& [n, p] : pending_) pending += p.bridge() == req.name();
    if (!req.force() && (!ports.empty() || pending > 0)) {
      std::vector<std::string> parts;
      if (members) parts.push_back(absl::StrCat(members, members == 1 ? " port" : " ports"));
      if (spans) parts.push_back(absl::StrCat(spans, spans == 1 ? " span port" : " span ports"));
      if (vports) parts.push_back(absl::StrCat(vports, vports == 1 ? " vport" : " vports"));
      if (pending) parts.push_back(absl::StrCat(pending, " pending"));
      return absl::FailedPreconditionError(absl::StrCat(
          obj, ": has ", absl::StrJoin(parts, " and "), " (use force)"));
    }
    FillBridgeLocked(*e, &before);
  }
  if (absl::Status s = Persist(obj, [&](AgentConfig* c) { EraseBridge(c, req.name()); });
      !s.ok()) {
    return s;
  }
  std::vector<std::future<void>> destroyed;
  for (const auto& [n, vport] : ports) {
    if (vport) {
      destroyed.push_back(RemoveVport(n, v1::PORT_REMOVAL_CAUSE_BRIDGE_DELETED));
    } else {
      RemovePort(req.name(), n, v1::PORT_REMOVAL_CAUSE_BRIDGE_DELETED);
    }
  }
  std::unique_ptr<BridgeEngine> gone;
  {
    absl::MutexLock lock(&mu_);
    for (auto p = pending_.begin(); p != pending_.end();) {
      p = p->second.bridge() == req.name() ? pending_.erase(p) : std::next(p);
    }
    auto it = bridges_.find(req.name());
    it->second.bridge->SetAddressEventSink(nullptr);
    gone = std::move(it->second.bridge);
    bridges_.erase(it);
  }
  // Outside mu_: the kernel engine removes its programs, filters and pins.
  if (absl::Status s = gone->Destroy(); !s.ok()) std::cerr << "vebd: " << s.message() << "\n";
  gone.reset();
  hub_.Publish(v1::EVENT_TYPE_BRIDGE_DELETED, req.name(),
               [&](v1::Event* ev) { *ev->mutable_bridge_info() = before; });
  return absl::OkStatus();
}

absl::Status Agent::GetBridge(const v1::GetBridgeRequest& req,
                              v1::GetBridgeResponse* resp) {
  const std::string obj = BridgeObj(req.name(), "get");
  if (absl::Status s = ValidateName(obj, req.name()); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  const BridgeEntry* e = FindLocked(req.name());
  if (e == nullptr) return NotFound(obj, "not found");
  FillBridgeLocked(*e, resp->mutable_bridge());
  return absl::OkStatus();
}

absl::Status Agent::ListBridges(const v1::ListBridgesRequest&,
                                v1::ListBridgesResponse* resp) {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, e] : bridges_) FillBridgeLocked(e, resp->add_bridges());
  return absl::OkStatus();
}

absl::Status Agent::UpdateBridge(const v1::UpdateBridgeRequest& req,
                                 v1::UpdateBridgeResponse* resp) {
  const std::string obj = BridgeObj(req.name(), "update");
  if (absl::Status s = ValidateName(obj, req.name()); !s.ok()) return s;
  // Ranges first, whatever the state.
  if (auto c = ApplyBridgeSettings(obj, req.settings(), BridgeConfig{}); !c.ok()) {
    return c.status();
  }
  absl::MutexLock config_lock(&config_mu_);
  absl::StatusOr<BridgeConfig> config = absl::UnknownError("");
  {
    absl::ReaderMutexLock lock(&mu_);
    BridgeEntry* e = FindLocked(req.name());
    if (e == nullptr) return NotFound(obj, "not found");
    config = ApplyBridgeSettings(obj, req.settings(), e->bridge->config());
    if (!config.ok()) return config.status();
  }
  if (req.has_settings()) {
    if (absl::Status s = Persist(obj, [&](AgentConfig* c) {
          SetBridgeSettings(c, req.name(), BridgeSettingsFromConfig(*config));
        });
        !s.ok()) {
      return s;
    }
  }
  absl::Status applied;
  {
    absl::ReaderMutexLock lock(&mu_);
    BridgeEntry* e = FindLocked(req.name());
    if (req.has_settings()) applied = e->bridge->Update(*config);
    if (applied.ok()) {
      if (req.has_settings()) e->names->set_timeout_seconds(config->timeout_seconds);
      FillBridgeLocked(*e, resp->mutable_bridge());
    }
  }
  if (!applied.ok()) {
    PersistCurrent();  // validated above: not expected
    return applied;
  }
  if (req.has_settings()) PublishBridgeEvent(v1::EVENT_TYPE_BRIDGE_UPDATED, req.name());
  return absl::OkStatus();
}

// ---- rules -----------------------------------------------------------------------------

absl::Status Agent::AddRule(const v1::AddRuleRequest& req, v1::AddRuleResponse* resp) {
  const std::string obj = PortObj(req.port(), "add rule");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "add rule", req.port(), obj);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Rule> rule = RuleFromProto("rule: add", req.rule());
  if (!rule.ok()) return rule.status();
  absl::MutexLock config_lock(&config_mu_);
  size_t index = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "add rule");
    if (!e.ok()) return e.status();
    absl::StatusOr<PortRecord*> rec = PortOr(**e, req.port(), false, obj);
    if (!rec.ok()) return rec.status();
    absl::StatusOr<PortInfo> info = (*e)->bridge->GetPort(req.port());
    if (!info.ok()) return info.status();
    if (info->rules >= kMaxRulesPerPort) {
      return absl::ResourceExhaustedError(
          absl::StrCat(obj, ": ", kMaxRulesPerPort, " rules already"));
    }
    index = info->rules;
  }
  v1::Rule* out = resp->mutable_rule();
  *out = RuleToProto(*rule);
  if (absl::Status s = Persist(obj, [&](AgentConfig* c) {
        v1::AddRuleRequest* ar = c->add_rules();
        ar->set_bridge(req.bridge());
        ar->set_port(req.port());
        *ar->mutable_rule() = *out;
      });
      !s.ok()) {
    return s;
  }
  absl::Status applied;
  {
    absl::ReaderMutexLock lock(&mu_);
    applied = FindLocked(req.bridge())->bridge->AddRule(req.port(), *rule);
  }
  if (!applied.ok()) {
    PersistCurrent();  // validated above: not expected
    return applied;
  }
  out->set_bridge(req.bridge());
  out->set_port(req.port());
  out->set_index(static_cast<uint32_t>(index));
  return absl::OkStatus();
}

absl::Status Agent::ListRules(const v1::ListRulesRequest& req, v1::ListRulesResponse* resp) {
  if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "list rules"), req.bridge());
      !s.ok()) {
    return s;
  }
  const std::string obj = PortObj(req.port(), "list rules");
  if (!req.port().empty()) {
    if (absl::Status s = ValidateName(obj, req.port()); !s.ok()) return s;
  }
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "list rules");
  if (!e.ok()) return e.status();
  std::vector<std::string> ports;
  if (!req.port().empty()) {
    if (absl::StatusOr<PortRecord*> rec = PortOr(**e, req.port(), false, obj); !rec.ok()) {
      return rec.status();
    }
    ports.push_back(req.port());
  } else {
    for (const auto& [name, rec] : (*e)->ports) {
      if (!rec.span) ports.push_back(name);
    }
  }
  for (const std::string& p : ports) {
    absl::StatusOr<std::vector<Rule>> rules = (*e)->bridge->ListRules(p);
    if (!rules.ok()) continue;  // being removed
    for (size_t i = 0; i < rules->size(); ++i) {
      v1::Rule* out = resp->add_rules();
      *out = RuleToProto((*rules)[i]);
      out->set_bridge(req.bridge());
      out->set_port(p);
      out->set_index(static_cast<uint32_t>(i));
    }
  }
  return absl::OkStatus();
}

absl::Status Agent::FlushRules(const v1::FlushRulesRequest& req,
                               v1::FlushRulesResponse* resp) {
  const std::string obj = PortObj(req.port(), "flush rules");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "flush rules", req.port(), obj);
      !s.ok()) {
    return s;
  }
  absl::MutexLock config_lock(&config_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "flush rules");
    if (!e.ok()) return e.status();
    absl::StatusOr<PortRecord*> rec = PortOr(**e, req.port(), false, obj);
    if (!rec.ok()) return rec.status();
  }
  if (absl::Status s =
          Persist(obj, [&](AgentConfig* c) { EraseRules(c, req.bridge(), req.port()); });
      !s.ok()) {
    return s;
  }
  absl::ReaderMutexLock lock(&mu_);
  BridgeEngine* b = FindLocked(req.bridge())->bridge.get();
  absl::StatusOr<PortInfo> info = b->GetPort(req.port());
  if (!info.ok()) return info.status();
  if (absl::Status s = b->FlushRules(req.port()); !s.ok()) return s;
  resp->set_removed(static_cast<uint32_t>(info->rules));
  return absl::OkStatus();
}

// ---- counters ----------------------------------------------------------------------------

absl::Status Agent::GetPortCounters(const v1::GetPortCountersRequest& req,
                                    v1::GetPortCountersResponse* resp) {
  const std::string obj = PortObj(req.port(), "get counters");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "get counters", req.port(), obj);
      !s.ok()) {
    return s;
  }
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "get counters");
  if (!e.ok()) return e.status();
  auto it = (*e)->ports.find(req.port());
  if (it == (*e)->ports.end()) {
    return NotFound(obj, absl::StrCat("not a port of bridge ", Quote(req.bridge())));
  }
  absl::StatusOr<PortCounters> c = (*e)->bridge->GetPortCounters(req.port());
  if (!c.ok()) return c.status();
  FillPortCounters(req.bridge(), req.port(), it->second.span, *c,
                   BackendStatsOf(it->second.opened), resp->mutable_counters());
  return absl::OkStatus();
}

absl::Status Agent::ListCounters(const v1::ListCountersRequest& req,
                                 v1::ListCountersResponse* resp) {
  if (!req.bridge().empty()) {
    if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "list counters"), req.bridge());
        !s.ok()) {
      return s;
    }
  }
  absl::ReaderMutexLock lock(&mu_);
  if (!req.bridge().empty() && FindLocked(req.bridge()) == nullptr) {
    return NotFound(BridgeObj(req.bridge(), "list counters"), "not found");
  }
  for (const auto& [name, e] : bridges_) {
    if (!req.bridge().empty() && name != req.bridge()) continue;
    v1::BridgeCounters* bc = resp->add_bridges();
    bc->set_bridge(name);
    FillBridgeCounters(e.bridge->GetCounters(), bc);
    for (const auto& [pname, rec] : e.ports) {
      absl::StatusOr<PortCounters> c = e.bridge->GetPortCounters(pname);
      if (!c.ok()) continue;
      FillPortCounters(name, pname, rec.span, *c, BackendStatsOf(rec.opened),
                       rec.span ? bc->add_span_ports() : bc->add_ports());
    }
  }
  return absl::OkStatus();
}

std::vector<BridgeView> Agent::Views() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<BridgeView> out;
  for (const auto& [name, e] : bridges_) {
    BridgeView v;
    v.name = name;
    v.config = e.bridge->config();
    v.addresses = e.bridge->address_count();
    v.counters = e.bridge->GetCounters();
    for (const auto& [pname, rec] : e.ports) {
      if (!rec.span) ++v.member_ports;
      absl::StatusOr<PortCounters> c = e.bridge->GetPortCounters(pname);
      if (!c.ok()) continue;
      v.ports.push_back({pname, rec.span, *c, BackendStatsOf(rec.opened)});
    }
    out.push_back(std::move(v));
  }
  return out;
}

// ---- events ------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<EventHub::Subscription>> Agent::Watch(
    const v1::WatchEventsRequest& req) {
  absl::StatusOr<std::set<v1::EventType>> types = ParseWatchTypes(req);
  if (!types.ok()) return types.status();
  return hub_.Subscribe(req.bridge(), *std::move(types));
}

Bridge* Agent::BridgeForTesting(const std::string& name) {
  absl::ReaderMutexLock lock(&mu_);
  BridgeEntry* e = FindLocked(name);
  return e == nullptr ? nullptr : e->bridge->AsUserspace();
}

absl::StatusOr<PortRef> Agent::PortRefForTesting(const std::string& bridge,
                                                 const std::string& port) {
  absl::ReaderMutexLock lock(&mu_);
  BridgeEntry* e = FindLocked(bridge);
  if (e == nullptr) return absl::NotFoundError("no bridge");
  auto it = e->ports.find(port);
  if (it == e->ports.end()) return absl::NotFoundError("no port");
  return it->second.ref;
}

}  // namespace veb::server

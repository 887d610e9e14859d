#include "server/agent.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <iostream>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/convert.h"

namespace veb::server {

// PortRef -> port name for the MAC table's event sink (leaf lock), plus the
// bridge's address timeout for the events' expires_in_seconds.
struct Agent::PortNames {
  absl::Mutex mu;
  absl::flat_hash_map<uint64_t, std::string> names ABSL_GUARDED_BY(mu);
  std::atomic<uint32_t> timeout_seconds{kDefaultTimeoutSeconds};

  static uint64_t Key(PortRef r) { return (uint64_t{r.slot} << 32) | r.gen; }
  void Set(PortRef r, const std::string& name) {
    absl::MutexLock lock(&mu);
    names[Key(r)] = name;
  }
  void Erase(PortRef r) {
    absl::MutexLock lock(&mu);
    names.erase(Key(r));
  }
  std::string Get(PortRef r) {
    absl::MutexLock lock(&mu);
    auto it = names.find(Key(r));
    return it == names.end() ? std::string() : it->second;
  }
};

namespace {

std::string BridgeObj(absl::string_view name, absl::string_view op) {
  return absl::StrCat("bridge ", Quote(name), ": ", op);
}
std::string PortObj(absl::string_view name, absl::string_view op) {
  return absl::StrCat("port ", Quote(name), ": ", op);
}
std::string SpanObj(absl::string_view name, absl::string_view op) {
  return absl::StrCat("span port ", Quote(name), ": ", op);
}
std::string AddrObj(Mac mac, std::optional<uint16_t> vid, absl::string_view op) {
  if (vid) return absl::StrCat("address ", FormatMac(mac), " vid ", *vid, ": ", op);
  return absl::StrCat("address ", FormatMac(mac), ": ", op);
}

absl::Status NotFound(absl::string_view obj, absl::string_view reason) {
  return absl::NotFoundError(absl::StrCat(obj, ": ", reason));
}

// INVALID_ARGUMENT for a bad bridge name (`<bridge>: <bridge_op>`) or port
// name (`obj`), in that order.
absl::Status ValidateBridgeAndPort(const std::string& bridge, absl::string_view bridge_op,
                                   const std::string& port, absl::string_view obj) {
  if (absl::Status s = ValidateName(BridgeObj(bridge, bridge_op), bridge); !s.ok()) return s;
  return ValidateName(obj, port);
}

// Entries sorted by (vid, mac).
void SortAddresses(std::vector<AddressInfo>* v) {
  std::sort(v->begin(), v->end(), [](const AddressInfo& a, const AddressInfo& b) {
    return std::tie(a.vid, a.mac) < std::tie(b.vid, b.mac);
  });
}

uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

Agent::Agent(AgentOptions options)
    : options_(std::move(options)),
      hub_(options_.event_queue_size, options_.max_event_streams) {}

Agent::~Agent() {
  hub_.Shutdown();
  absl::MutexLock lock(&mu_);
  for (auto& [name, e] : bridges_) {
    for (auto& [pname, rec] : e.ports) {
      if (rec.opened.stop_receive) rec.opened.stop_receive();
    }
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

void Agent::FillBridgeLocked(const BridgeEntry& e, v1::Bridge* out) const {
  FillBridge(e.bridge->name(), e.bridge->config(), out);
  uint32_t members = 0, spans = 0, vports = 0;
  for (const auto& [n, rec] : e.ports) (rec.span ? spans : members)++;
  for (const auto& [n, v] : vports_) vports += v.bridge == e.bridge->name();
  out->set_port_count(members);
  out->set_span_port_count(spans);
  out->set_vport_count(vports);
  const std::vector<AddressInfo> addrs = e.bridge->ListAddresses();
  out->set_address_count(static_cast<uint32_t>(addrs.size()));
  out->set_static_address_count(static_cast<uint32_t>(std::count_if(
      addrs.begin(), addrs.end(), [](const AddressInfo& a) { return a.is_static; })));
}

void Agent::FillPortLocked(const BridgeEntry& e, const PortRecord& rec,
                           const PortInfo& info, size_t address_count,
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
  out->set_vport_kind(VportKindLocked(info.name));
  out->set_address_count(static_cast<uint32_t>(address_count));
  out->set_rule_count(static_cast<uint32_t>(info.rules));
  out->set_backend_detail(rec.opened.backend_detail);
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

v1::Address Agent::AddressToProto(const BridgeEntry& e,
                                  const AddressInfo& a) const {
  v1::Address out;
  out.set_bridge(e.bridge->name());
  out.set_vid(a.vid);
  out.set_mac(FormatMac(a.mac));
  out.set_port(a.port);
  out.set_type(a.is_static ? v1::ADDRESS_TYPE_STATIC : v1::ADDRESS_TYPE_DYNAMIC);
  out.set_age_seconds(a.age_seconds);
  if (!a.is_static) {
    const uint32_t timeout = e.bridge->config().timeout_seconds;
    out.set_expires_in_seconds(a.age_seconds >= timeout ? 1 : timeout - a.age_seconds);
  }
  return out;
}

void Agent::PublishPortEvent(v1::EventType type, const std::string& bridge,
                             const std::string& port, bool span, bool link_up,
                             v1::PortRemovalCause cause) {
  hub_.Publish(type, bridge, [&](v1::Event* ev) {
    v1::PortEvent* p = ev->mutable_port();
    p->set_name(port);
    p->set_span(span);
    p->set_vport_kind(VportKindLocked(port));
    p->set_link_up(link_up);
    p->set_removal_cause(cause);
  });
}

void Agent::PublishBridgeEvent(v1::EventType type, const BridgeEntry& e) {
  v1::Bridge info;
  FillBridgeLocked(e, &info);
  hub_.Publish(type, e.bridge->name(),
               [&](v1::Event* ev) { *ev->mutable_bridge_info() = info; });
}

void Agent::InstallSinkLocked(BridgeEntry& e) {
  std::shared_ptr<PortNames> names = e.names;
  EventHub* hub = &hub_;
  const std::string bridge = e.bridge->name();
  // Runs in workers with the MAC table lock held: no Bridge calls.
  e.bridge->SetAddressEventSink([names, hub, bridge](const AddressEvent& ev) {
    v1::EventType type;
    switch (ev.kind) {
      case AddressEventKind::kLearned: type = v1::EVENT_TYPE_ADDRESS_LEARNED; break;
      case AddressEventKind::kMoved: type = v1::EVENT_TYPE_ADDRESS_MOVED; break;
      case AddressEventKind::kExpired: type = v1::EVENT_TYPE_ADDRESS_EXPIRED; break;
      default: return;  // deletions: the agent publishes DELETED/FLUSHED itself
    }
    hub->Publish(type, bridge, [&](v1::Event* out) {
      const uint32_t timeout = names->timeout_seconds.load(std::memory_order_relaxed);
      v1::AddressEvent* a = out->mutable_address();
      v1::Address* addr = a->mutable_address();
      addr->set_bridge(bridge);
      addr->set_vid(ev.vid);
      addr->set_mac(FormatMac(ev.mac));
      addr->set_port(names->Get(ev.port));
      addr->set_type(v1::ADDRESS_TYPE_DYNAMIC);
      if (type == v1::EVENT_TYPE_ADDRESS_EXPIRED) {
        addr->set_age_seconds(timeout);
      } else {
        addr->set_expires_in_seconds(timeout);
      }
      if (type == v1::EVENT_TYPE_ADDRESS_MOVED) {
        a->set_previous_port(names->Get(ev.old_port));
      }
    });
  });
}

void Agent::PersistLocked() {
  if (replaying_ || !options_.persist) return;
  options_.persist(ExportConfigLocked());
}

// ---- bridges ---------------------------------------------------------------------

absl::Status Agent::CreateBridge(const v1::CreateBridgeRequest& req,
                                 v1::CreateBridgeResponse* resp) {
  const std::string obj = BridgeObj(req.name(), "create");
  if (absl::Status s = ValidateName(obj, req.name()); !s.ok()) return s;
  absl::StatusOr<BridgeConfig> config =
      ApplyBridgeSettings(obj, req.settings(), BridgeConfig{});
  if (!config.ok()) return config.status();
  absl::MutexLock lock(&mu_);
  if (bridges_.count(req.name())) {
    return absl::AlreadyExistsError(absl::StrCat(obj, ": already exists"));
  }
  if (bridges_.size() >= kMaxBridges) {
    return absl::ResourceExhaustedError(
        absl::StrCat(obj, ": limit of ", kMaxBridges, " bridges reached"));
  }
  absl::StatusOr<std::unique_ptr<Bridge>> bridge = Bridge::Create(
      req.name(), *config, options_.clock, &qsbr_, options_.num_workers);
  if (!bridge.ok()) return bridge.status();
  BridgeEntry& e = bridges_[req.name()];
  e.bridge = std::move(*bridge);
  e.names = std::make_shared<PortNames>();
  e.names->timeout_seconds = config->timeout_seconds;
  InstallSinkLocked(e);
  FillBridgeLocked(e, resp->mutable_bridge());
  PublishBridgeEvent(v1::EVENT_TYPE_BRIDGE_CREATED, e);
  PersistLocked();
  return absl::OkStatus();
}

absl::Status Agent::DeleteBridge(const v1::DeleteBridgeRequest& req,
                                 v1::DeleteBridgeResponse* resp) {
  const std::string obj = BridgeObj(req.name(), "delete");
  if (absl::Status s = ValidateName(obj, req.name()); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = bridges_.find(req.name());
  if (it == bridges_.end()) return NotFound(obj, "not found");
  BridgeEntry& e = it->second;
  if (!req.force() && !e.ports.empty()) {
    size_t members = 0, spans = 0, vports = 0;
    for (const auto& [n, rec] : e.ports) {
      if (vports_.count(n)) {
        ++vports;
      } else {
        (rec.span ? spans : members)++;
      }
    }
    std::vector<std::string> parts;
    if (members) parts.push_back(absl::StrCat(members, members == 1 ? " port" : " ports"));
    if (spans) parts.push_back(absl::StrCat(spans, spans == 1 ? " span port" : " span ports"));
    if (vports) parts.push_back(absl::StrCat(vports, vports == 1 ? " vport" : " vports"));
    return absl::FailedPreconditionError(absl::StrCat(
        obj, ": has ", absl::StrJoin(parts, " and "), " (use force)"));
  }
  v1::Bridge before;
  FillBridgeLocked(e, &before);
  std::vector<std::string> names;
  for (const auto& [n, rec] : e.ports) names.push_back(n);
  for (const std::string& n : names) {
    if (vports_.count(n)) {
      RemoveVportLocked(n, v1::PORT_REMOVAL_CAUSE_BRIDGE_DELETED);
    } else {
      RemovePortLocked(e, n, v1::PORT_REMOVAL_CAUSE_BRIDGE_DELETED);
    }
  }
  e.bridge->SetAddressEventSink(nullptr);
  bridges_.erase(it);
  hub_.Publish(v1::EVENT_TYPE_BRIDGE_DELETED, req.name(),
               [&](v1::Event* ev) { *ev->mutable_bridge_info() = before; });
  PersistLocked();
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
  absl::MutexLock lock(&mu_);
  BridgeEntry* e = FindLocked(req.name());
  if (e == nullptr) return NotFound(obj, "not found");
  absl::StatusOr<BridgeConfig> config =
      ApplyBridgeSettings(obj, req.settings(), e->bridge->config());
  if (!config.ok()) return config.status();
  if (req.has_settings()) {
    if (absl::Status s = e->bridge->Update(*config); !s.ok()) return s;
    e->names->timeout_seconds = config->timeout_seconds;
    PublishBridgeEvent(v1::EVENT_TYPE_BRIDGE_UPDATED, *e);
    PersistLocked();
  }
  FillBridgeLocked(*e, resp->mutable_bridge());
  return absl::OkStatus();
}

// ---- member and span ports ----------------------------------------------------------

absl::StatusOr<Agent::PortRecord*> Agent::OpenAndAddLocked(
    BridgeEntry& e, const std::string& ifname, v1::Backend backend_proto,
    bool span, const PortConfig& config, const std::string& obj) {
  absl::StatusOr<Backend> backend = BackendFromProto(obj, backend_proto);
  if (!backend.ok()) return backend.status();
  // A veb bridge is not an interface; refused even if a netdev by that name
  // exists, as veb(4) refuses `ifconfig veb0 add veb0`.
  if (ifname == e.bridge->name()) {
    return absl::FailedPreconditionError(
        absl::StrCat(obj, ": a bridge cannot be a port of itself"));
  }
  if (bridges_.count(ifname) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(obj, ": ", Quote(ifname), " is a bridge, not an interface"));
  }
  if (e.ports.size() >= kMaxPortsPerBridge) {
    return absl::ResourceExhaustedError(absl::StrCat(
        obj, ": bridge ", Quote(e.bridge->name()), " has ", kMaxPortsPerBridge,
        " ports"));
  }
  absl::StatusOr<OpenedPort> opened = options_.opener->Open(ifname, *backend);
  if (!opened.ok()) {
    return absl::Status(opened.status().code(),
                        absl::StrCat(obj, ": ", opened.status().message()));
  }
  if (opened->port == nullptr || opened->port->name() != ifname) {
    return absl::InternalError(absl::StrCat(obj, ": backend opened the wrong interface"));
  }
  return AttachLocked(e, *std::move(opened), span, config);
}

absl::StatusOr<Agent::PortRecord*> Agent::AttachLocked(BridgeEntry& e, OpenedPort opened,
                                                       bool span, const PortConfig& config) {
  const std::string ifname = opened.port->name();
  absl::StatusOr<PortRef> ref = span ? e.bridge->AddSpanPort(opened.port)
                                     : e.bridge->AddPort(opened.port, config);
  if (!ref.ok()) return ref.status();
  PortRecord& rec = e.ports[ifname];
  rec.opened = std::move(opened);
  rec.ref = *ref;
  rec.span = span;
  e.names->Set(*ref, ifname);
  interface_owner_[ifname] = e.bridge->name();
  if (rec.opened.start_receive) rec.opened.start_receive(e.bridge.get(), *ref);
  PublishPortEvent(v1::EVENT_TYPE_PORT_ADDED, e.bridge->name(), ifname, span,
                   rec.opened.port->running(), v1::PORT_REMOVAL_CAUSE_UNSPECIFIED);
  return &rec;
}

absl::Status Agent::AddPort(const v1::AddPortRequest& req, v1::AddPortResponse* resp) {
  absl::MutexLock lock(&mu_);
  return AddPortLocked(req, resp);
}

absl::Status Agent::AddPortLocked(const v1::AddPortRequest& req,
                                  v1::AddPortResponse* resp) {
  const std::string obj = PortObj(req.name(), "add");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "add port", req.name(), obj);
      !s.ok()) {
    return s;
  }
  if (auto b = BackendFromProto(obj, req.backend()); !b.ok()) return b.status();
  // Malformed settings are INVALID_ARGUMENT whatever the bridge's state.
  if (auto c = PortConfigForAdd(obj, req.settings(), 1);
      !c.ok() && c.status().code() == absl::StatusCode::kInvalidArgument) {
    return c.status();
  }
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "add port");
  if (!e.ok()) return e.status();
  if (auto it = interface_owner_.find(req.name()); it != interface_owner_.end()) {
    if (it->second == req.bridge()) {
      return absl::AlreadyExistsError(absl::StrCat(
          obj, ": already ", (*e)->ports.at(req.name()).span ? "a span port" : "a member",
          " of bridge ", Quote(it->second)));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        obj, ": already a member of bridge ", Quote(it->second)));
  }
  absl::StatusOr<PortConfig> config =
      PortConfigForAdd(obj, req.settings(), (*e)->bridge->config().default_pvid);
  if (!config.ok()) return config.status();
  absl::StatusOr<PortRecord*> rec =
      OpenAndAddLocked(**e, req.name(), req.backend(), false, *config, obj);
  if (!rec.ok()) return rec.status();
  absl::StatusOr<PortInfo> info = (*e)->bridge->GetPort(req.name());
  if (info.ok()) FillPortLocked(**e, **rec, *info, 0, resp->mutable_port());
  PersistLocked();
  return absl::OkStatus();
}

void Agent::RemovePortLocked(BridgeEntry& e, const std::string& port,
                             v1::PortRemovalCause cause) {
  auto it = e.ports.find(port);
  if (it == e.ports.end()) return;
  PortRecord& rec = it->second;
  const bool span = rec.span;
  size_t entries = 0;
  for (const AddressInfo& a : e.bridge->ListAddresses()) entries += a.port == port;
  if (rec.opened.stop_receive) rec.opened.stop_receive();
  absl::Status s = e.bridge->RemovePort(port);
  if (!s.ok()) std::cerr << "vebd: " << s.message() << "\n";
  e.names->Erase(rec.ref);
  interface_owner_.erase(port);
  e.ports.erase(it);  // drops the backend's handle: the interface is released
  const std::string& bridge = e.bridge->name();
  PublishPortEvent(v1::EVENT_TYPE_PORT_REMOVED, bridge, port, span, false, cause);
  if (entries > 0) {
    hub_.Publish(v1::EVENT_TYPE_ADDRESSES_FLUSHED, bridge, [&](v1::Event* ev) {
      ev->mutable_flush()->set_port(port);
      ev->mutable_flush()->set_mode(v1::FLUSH_MODE_ALL);
      ev->mutable_flush()->set_removed(entries);
    });
  }
}

absl::Status Agent::DeletePort(const v1::DeletePortRequest& req,
                               v1::DeletePortResponse* resp) {
  const std::string obj = PortObj(req.name(), "delete");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "delete port", req.name(), obj);
      !s.ok()) {
    return s;
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "delete port");
  if (!e.ok()) return e.status();
  absl::StatusOr<PortRecord*> rec = PortOr(**e, req.name(), false, obj);
  if (!rec.ok()) return rec.status();
  if (auto v = vports_.find(req.name()); v != vports_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        obj, ": is a ", v->second.spec.type == VportType::kHost ? "host" : "pod",
        " vport (use DeleteVport)"));
  }
  RemovePortLocked(**e, req.name(), v1::PORT_REMOVAL_CAUSE_API);
  PersistLocked();
  return absl::OkStatus();
}

absl::Status Agent::GetPort(const v1::GetPortRequest& req, v1::GetPortResponse* resp) {
  const std::string obj = PortObj(req.name(), "get");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "get port", req.name(), obj);
      !s.ok()) {
    return s;
  }
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "get port");
  if (!e.ok()) return e.status();
  absl::StatusOr<PortRecord*> rec = PortOr(**e, req.name(), false, obj);
  if (!rec.ok()) return rec.status();
  absl::StatusOr<PortInfo> info = (*e)->bridge->GetPort(req.name());
  if (!info.ok()) return info.status();
  size_t n = 0;
  for (const AddressInfo& a : (*e)->bridge->ListAddresses()) n += a.port == req.name();
  FillPortLocked(**e, **rec, *info, n, resp->mutable_port());
  return absl::OkStatus();
}

absl::Status Agent::ListPorts(const v1::ListPortsRequest& req,
                              v1::ListPortsResponse* resp) {
  const std::string obj = BridgeObj(req.bridge(), "list ports");
  if (absl::Status s = ValidateName(obj, req.bridge()); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "list ports");
  if (!e.ok()) return e.status();
  std::map<std::string, size_t> counts;
  for (const AddressInfo& a : (*e)->bridge->ListAddresses()) ++counts[a.port];
  std::map<std::string, PortInfo> infos;
  for (PortInfo& p : (*e)->bridge->ListPorts()) infos[p.name] = std::move(p);
  for (const auto& [name, rec] : (*e)->ports) {
    if (rec.span) continue;
    auto info = infos.find(name);
    if (info == infos.end()) continue;
    FillPortLocked(**e, rec, info->second, counts[name], resp->add_ports());
  }
  return absl::OkStatus();
}

absl::Status Agent::UpdatePort(const v1::UpdatePortRequest& req,
                               v1::UpdatePortResponse* resp) {
  const std::string obj = PortObj(req.name(), "update");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "update port", req.name(), obj);
      !s.ok()) {
    return s;
  }
  const std::vector<uint32_t> add(req.add_tagged_vids().begin(), req.add_tagged_vids().end());
  const std::vector<uint32_t> remove(req.remove_tagged_vids().begin(),
                                     req.remove_tagged_vids().end());
  if (auto c = PortConfigForUpdate(obj, req.settings(), add, remove, PortConfig{});
      !c.ok() && c.status().code() == absl::StatusCode::kInvalidArgument) {
    return c.status();
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "update port");
  if (!e.ok()) return e.status();
  absl::StatusOr<PortRecord*> rec = PortOr(**e, req.name(), false, obj);
  if (!rec.ok()) return rec.status();
  absl::StatusOr<PortInfo> cur = (*e)->bridge->GetPort(req.name());
  if (!cur.ok()) return cur.status();
  absl::StatusOr<PortConfig> config =
      PortConfigForUpdate(obj, req.settings(), add, remove, cur->config);
  if (!config.ok()) return config.status();
  if (absl::Status s = (*e)->bridge->UpdatePort(req.name(), *config); !s.ok()) return s;
  absl::StatusOr<PortInfo> info = (*e)->bridge->GetPort(req.name());
  if (!info.ok()) return info.status();
  size_t n = 0;
  for (const AddressInfo& a : (*e)->bridge->ListAddresses()) n += a.port == req.name();
  FillPortLocked(**e, **rec, *info, n, resp->mutable_port());
  PublishPortEvent(v1::EVENT_TYPE_PORT_UPDATED, req.bridge(), req.name(), false,
                   (*rec)->opened.port->running(), v1::PORT_REMOVAL_CAUSE_UNSPECIFIED);
  PersistLocked();
  return absl::OkStatus();
}

absl::Status Agent::AddSpanPort(const v1::AddSpanPortRequest& req,
                                v1::AddSpanPortResponse* resp) {
  absl::MutexLock lock(&mu_);
  return AddSpanPortLocked(req, resp);
}

absl::Status Agent::AddSpanPortLocked(const v1::AddSpanPortRequest& req,
                                      v1::AddSpanPortResponse* resp) {
  const std::string obj = SpanObj(req.name(), "add");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "add span port", req.name(), obj);
      !s.ok()) {
    return s;
  }
  if (auto b = BackendFromProto(obj, req.backend()); !b.ok()) return b.status();
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "add span port");
  if (!e.ok()) return e.status();
  if (auto it = interface_owner_.find(req.name()); it != interface_owner_.end()) {
    if (it->second == req.bridge()) {
      return absl::AlreadyExistsError(
          absl::StrCat(obj, ": already a port of bridge ", Quote(it->second)));
    }
    return absl::FailedPreconditionError(
        absl::StrCat(obj, ": already a member of bridge ", Quote(it->second)));
  }
  absl::StatusOr<PortRecord*> rec =
      OpenAndAddLocked(**e, req.name(), req.backend(), true, PortConfig{}, obj);
  if (!rec.ok()) return rec.status();
  FillSpanPortLocked(**e, **rec, resp->mutable_span_port());
  PersistLocked();
  return absl::OkStatus();
}

absl::Status Agent::DeleteSpanPort(const v1::DeleteSpanPortRequest& req,
                                   v1::DeleteSpanPortResponse* resp) {
  const std::string obj = SpanObj(req.name(), "delete");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "delete span port", req.name(), obj);
      !s.ok()) {
    return s;
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "delete span port");
  if (!e.ok()) return e.status();
  absl::StatusOr<PortRecord*> rec = PortOr(**e, req.name(), true, obj);
  if (!rec.ok()) return rec.status();
  RemovePortLocked(**e, req.name(), v1::PORT_REMOVAL_CAUSE_API);
  PersistLocked();
  return absl::OkStatus();
}

absl::Status Agent::GetSpanPort(const v1::GetSpanPortRequest& req,
                                v1::GetSpanPortResponse* resp) {
  const std::string obj = SpanObj(req.name(), "get");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "get span port", req.name(), obj);
      !s.ok()) {
    return s;
  }
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "get span port");
  if (!e.ok()) return e.status();
  absl::StatusOr<PortRecord*> rec = PortOr(**e, req.name(), true, obj);
  if (!rec.ok()) return rec.status();
  FillSpanPortLocked(**e, **rec, resp->mutable_span_port());
  return absl::OkStatus();
}

absl::Status Agent::ListSpanPorts(const v1::ListSpanPortsRequest& req,
                                  v1::ListSpanPortsResponse* resp) {
  const std::string obj = BridgeObj(req.bridge(), "list span ports");
  if (absl::Status s = ValidateName(obj, req.bridge()); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "list span ports");
  if (!e.ok()) return e.status();
  for (const auto& [name, rec] : (*e)->ports) {
    if (rec.span) FillSpanPortLocked(**e, rec, resp->add_span_ports());
  }
  return absl::OkStatus();
}

// ---- MAC table -----------------------------------------------------------------------

absl::Status Agent::ListAddresses(const v1::ListAddressesRequest& req,
                                  v1::ListAddressesResponse* resp) {
  const std::string obj = BridgeObj(req.bridge(), "list addresses");
  if (absl::Status s = ValidateName(obj, req.bridge()); !s.ok()) return s;
  if (!req.port().empty()) {
    if (absl::Status s = ValidateName(absl::StrCat(obj, ": port filter"), req.port()); !s.ok()) {
      return s;
    }
  }
  if (req.has_vid()) {
    if (absl::Status s = ValidateVid(obj, "vid", req.vid()); !s.ok()) return s;
  }
  std::optional<Mac> mac;
  if (!req.mac().empty()) {
    absl::StatusOr<Mac> m = ParseMacField(obj, "mac", req.mac());
    if (!m.ok()) return m.status();
    mac = *m;
  }
  if (!v1::AddressType_IsValid(req.type())) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": type ", req.type(), " unknown"));
  }
  if (req.page_size() > 10000) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": page_size ", req.page_size(), " out of range 0..10000"));
  }
  const size_t page_size = req.page_size() == 0 ? 1000 : req.page_size();
  // Tokens: <filter fingerprint>.<vid>.<mac>, all hex; the position is the
  // last entry returned.
  const uint64_t fingerprint = Fnv1a(absl::StrCat(
      req.port(), "|", req.has_vid() ? static_cast<int>(req.vid()) : -1, "|",
      mac ? static_cast<int64_t>(*mac) : -1, "|", req.type()));
  std::optional<std::pair<uint16_t, Mac>> after;
  if (!req.page_token().empty()) {
    std::vector<std::string> parts = absl::StrSplit(req.page_token(), '.');
    uint64_t fp = 0, vid = 0, m = 0;
    if (parts.size() != 3 || !absl::SimpleHexAtoi(parts[0], &fp) ||
        !absl::SimpleHexAtoi(parts[1], &vid) || !absl::SimpleHexAtoi(parts[2], &m) ||
        vid > 4095 || m > 0xffffffffffffULL) {
      return absl::InvalidArgumentError(absl::StrCat(obj, ": invalid page_token"));
    }
    if (fp != fingerprint) {
      return absl::InvalidArgumentError(
          absl::StrCat(obj, ": page_token was issued for different filters"));
    }
    after = std::make_pair(static_cast<uint16_t>(vid), static_cast<Mac>(m));
  }
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "list addresses");
  if (!e.ok()) return e.status();
  if (!req.port().empty()) {
    absl::StatusOr<PortRecord*> rec = PortOr(**e, req.port(), false, PortObj(req.port(), "list addresses"));
    if (!rec.ok()) return rec.status();
  }
  std::vector<AddressInfo> all = (*e)->bridge->ListAddresses();
  SortAddresses(&all);
  std::vector<const AddressInfo*> matching;
  for (const AddressInfo& a : all) {
    if (!req.port().empty() && a.port != req.port()) continue;
    if (req.has_vid() && a.vid != req.vid()) continue;
    if (mac && a.mac != *mac) continue;
    if (req.type() == v1::ADDRESS_TYPE_STATIC && !a.is_static) continue;
    if (req.type() == v1::ADDRESS_TYPE_DYNAMIC && a.is_static) continue;
    matching.push_back(&a);
  }
  resp->set_total_count(static_cast<uint32_t>(matching.size()));
  size_t i = 0;
  if (after) {
    while (i < matching.size() &&
           std::make_pair(matching[i]->vid, matching[i]->mac) <= *after) {
      ++i;
    }
  }
  const size_t end = std::min(matching.size(), i + page_size);
  for (; i < end; ++i) *resp->add_addresses() = AddressToProto(**e, *matching[i]);
  if (end < matching.size()) {
    const AddressInfo& last = *matching[end - 1];
    resp->set_next_page_token(absl::StrFormat("%x.%x.%x", fingerprint, last.vid, last.mac));
  }
  return absl::OkStatus();
}

absl::Status Agent::AddStaticAddress(const v1::AddStaticAddressRequest& req,
                                     v1::AddStaticAddressResponse* resp) {
  if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "add address"), req.bridge());
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Mac> mac = ParseMacField("address: add", "mac", req.mac());
  if (!mac.ok()) return mac.status();
  std::optional<uint16_t> vid;
  if (req.has_vid()) {
    if (absl::Status s = ValidateVid(AddrObj(*mac, std::nullopt, "add"), "vid", req.vid());
        !s.ok()) {
      return s;
    }
    vid = static_cast<uint16_t>(req.vid());
  }
  if (IsMulticast(*mac) || *mac == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(AddrObj(*mac, vid, "add"), ": multicast or all-zero MAC"));
  }
  if (absl::Status s = ValidateName(AddrObj(*mac, vid, "add: port"), req.port()); !s.ok()) {
    return s;
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "add address");
  if (!e.ok()) return e.status();
  auto it = (*e)->ports.find(req.port());
  if (it == (*e)->ports.end() || it->second.span) {
    return NotFound(AddrObj(*mac, vid, "add"),
                    absl::StrCat("port ", Quote(req.port()), " not a member of bridge ",
                                 Quote(req.bridge())));
  }
  if (!vid) {
    absl::StatusOr<PortInfo> info = (*e)->bridge->GetPort(req.port());
    if (!info.ok()) return info.status();
    if (info->config.pvid == kPvidNone) {
      return absl::FailedPreconditionError(
          absl::StrCat(AddrObj(*mac, vid, "add"), ": port ", Quote(req.port()),
                       " has no PVID (give a VID)"));
    }
    vid = info->config.pvid;
  }
  const std::string obj = AddrObj(*mac, vid, "add");
  bool exists = false;
  const std::vector<AddressInfo> all = (*e)->bridge->ListAddresses();
  for (const AddressInfo& a : all) {
    if (a.vid != *vid || a.mac != *mac) continue;
    if (a.is_static) {
      return absl::AlreadyExistsError(
          absl::StrCat(obj, ": static entry exists on port ", Quote(a.port)));
    }
    exists = true;
  }
  const uint32_t max = (*e)->bridge->config().max_addresses;
  if (!exists && (*e)->bridge->address_count() >= max) {
    return absl::ResourceExhaustedError(absl::StrCat(
        obj, ": bridge ", Quote(req.bridge()), " table full (", max, " entries)"));
  }
  if (absl::Status s = (*e)->bridge->AddStaticAddress(*vid, *mac, req.port()); !s.ok()) {
    return s;
  }
  AddressInfo info;
  info.vid = *vid;
  info.mac = *mac;
  info.port = req.port();
  info.is_static = true;
  *resp->mutable_address() = AddressToProto(**e, info);
  hub_.Publish(v1::EVENT_TYPE_ADDRESS_ADDED, req.bridge(), [&](v1::Event* ev) {
    *ev->mutable_address()->mutable_address() = resp->address();
  });
  PersistLocked();
  return absl::OkStatus();
}

absl::Status Agent::DeleteAddress(const v1::DeleteAddressRequest& req,
                                  v1::DeleteAddressResponse* resp) {
  if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "delete address"), req.bridge());
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Mac> mac = ParseMacField("address: delete", "mac", req.mac());
  if (!mac.ok()) return mac.status();
  std::optional<uint16_t> vid;
  if (req.has_vid()) {
    if (absl::Status s = ValidateVid(AddrObj(*mac, std::nullopt, "delete"), "vid", req.vid());
        !s.ok()) {
      return s;
    }
    vid = static_cast<uint16_t>(req.vid());
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "delete address");
  if (!e.ok()) return e.status();
  std::vector<AddressInfo> victims;
  for (const AddressInfo& a : (*e)->bridge->ListAddresses()) {
    if (a.mac == *mac && (!vid || a.vid == *vid)) victims.push_back(a);
  }
  if (victims.empty()) return NotFound(AddrObj(*mac, vid, "delete"), "not found");
  uint32_t deleted = 0;
  bool any_static = false;
  for (const AddressInfo& a : victims) {
    if (!(*e)->bridge->DeleteAddress(a.vid, a.mac).ok()) continue;  // raced an expiry
    ++deleted;
    any_static |= a.is_static;
    const v1::Address addr = AddressToProto(**e, a);
    hub_.Publish(v1::EVENT_TYPE_ADDRESS_DELETED, req.bridge(), [&](v1::Event* ev) {
      *ev->mutable_address()->mutable_address() = addr;
    });
  }
  if (deleted == 0) return NotFound(AddrObj(*mac, vid, "delete"), "not found");
  resp->set_deleted(deleted);
  if (any_static) PersistLocked();
  return absl::OkStatus();
}

absl::Status Agent::FlushAddresses(const v1::FlushAddressesRequest& req,
                                   v1::FlushAddressesResponse* resp) {
  const std::string obj = BridgeObj(req.bridge(), "flush addresses");
  if (absl::Status s = ValidateName(obj, req.bridge()); !s.ok()) return s;
  if (!v1::FlushMode_IsValid(req.mode())) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": mode ", req.mode(), " unknown"));
  }
  if (!req.port().empty()) {
    if (absl::Status s = ValidateName(PortObj(req.port(), "flush addresses"), req.port());
        !s.ok()) {
      return s;
    }
  }
  const bool all = req.mode() == v1::FLUSH_MODE_ALL;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "flush addresses");
  if (!e.ok()) return e.status();
  size_t removed = 0;
  if (req.port().empty()) {
    removed = (*e)->bridge->FlushAddresses(all);
  } else {
    absl::StatusOr<PortRecord*> rec = PortOr(**e, req.port(), false, PortObj(req.port(), "flush addresses"));
    if (!rec.ok()) return rec.status();
    for (const AddressInfo& a : (*e)->bridge->ListAddresses()) {
      if (a.port != req.port() || (a.is_static && !all)) continue;
      if ((*e)->bridge->DeleteAddress(a.vid, a.mac).ok()) ++removed;
    }
  }
  resp->set_removed(static_cast<uint32_t>(removed));
  hub_.Publish(v1::EVENT_TYPE_ADDRESSES_FLUSHED, req.bridge(), [&](v1::Event* ev) {
    ev->mutable_flush()->set_port(req.port());
    ev->mutable_flush()->set_mode(all ? v1::FLUSH_MODE_ALL : v1::FLUSH_MODE_DYNAMIC);
    ev->mutable_flush()->set_removed(removed);
  });
  if (all) PersistLocked();
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
  absl::MutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "add rule");
  if (!e.ok()) return e.status();
  absl::StatusOr<PortRecord*> rec = PortOr(**e, req.port(), false, obj);
  if (!rec.ok()) return rec.status();
  absl::StatusOr<std::vector<Rule>> rules = (*e)->bridge->ListRules(req.port());
  if (!rules.ok()) return rules.status();
  if (rules->size() >= kMaxRulesPerPort) {
    return absl::ResourceExhaustedError(
        absl::StrCat(obj, ": ", kMaxRulesPerPort, " rules already"));
  }
  if (absl::Status s = (*e)->bridge->AddRule(req.port(), *rule); !s.ok()) return s;
  v1::Rule* out = resp->mutable_rule();
  *out = RuleToProto(*rule);
  out->set_bridge(req.bridge());
  out->set_port(req.port());
  out->set_index(static_cast<uint32_t>(rules->size()));
  PersistLocked();
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
    if (!rules.ok()) return rules.status();
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
  absl::MutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "flush rules");
  if (!e.ok()) return e.status();
  absl::StatusOr<PortRecord*> rec = PortOr(**e, req.port(), false, obj);
  if (!rec.ok()) return rec.status();
  absl::StatusOr<std::vector<Rule>> rules = (*e)->bridge->ListRules(req.port());
  if (!rules.ok()) return rules.status();
  if (absl::Status s = (*e)->bridge->FlushRules(req.port()); !s.ok()) return s;
  resp->set_removed(static_cast<uint32_t>(rules->size()));
  PersistLocked();
  return absl::OkStatus();
}

// ---- vports ----------------------------------------------------------------------------

namespace {

std::string VportObj(absl::string_view name, absl::string_view op) {
  if (name.empty()) return absl::StrCat("vport: ", op);
  return absl::StrCat("vport ", Quote(name), ": ", op);
}

std::string AttachmentText(const v1::CniAttachment& a) {
  return absl::StrCat("attachment (", Quote(a.container_id()), ", ", Quote(a.ifname()), ")");
}

// CNI_CONTAINERID rule: 1..255 of [A-Za-z0-9_.-], alphanumeric first.
absl::Status ValidateContainerId(absl::string_view obj, absl::string_view id) {
  bool ok = !id.empty() && id.size() <= 255 && absl::ascii_isalnum(id[0]);
  for (char c : id) ok = ok && (absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-');
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": container_id ", Quote(id.substr(0, 64)),
        ": must be 1..255 characters of [A-Za-z0-9_.-] starting with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAttachment(absl::string_view obj, const v1::CniAttachment& a) {
  if (absl::Status s = ValidateContainerId(obj, a.container_id()); !s.ok()) return s;
  return ValidateName(absl::StrCat(obj, ": ifname"), a.ifname());
}

// "10.22.0.1/24" or "fd00::1/64".
absl::Status ValidatePrefix(absl::string_view obj, const std::string& prefix) {
  const size_t slash = prefix.find('/');
  bool ok = slash != std::string::npos;
  int family = AF_INET;
  uint32_t len = 0;
  if (ok) {
    const std::string ip = prefix.substr(0, slash);
    unsigned char buf[16];
    family = ip.find(':') == std::string::npos ? AF_INET : AF_INET6;
    ok = inet_pton(family, ip.c_str(), buf) == 1 &&
         absl::SimpleAtoi(prefix.substr(slash + 1), &len) &&
         prefix.find_first_not_of("0123456789", slash + 1) == std::string::npos &&
         len <= (family == AF_INET ? 32u : 128u);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": ip prefix ", Quote(prefix), ": not an IPv4 or IPv6 address with /length"));
  }
  return absl::OkStatus();
}

// Everything about a CreateVportRequest that needs no state. `name` may be
// empty (the agent picks one).
absl::StatusOr<VportSpec> VportSpecFromRequest(const v1::CreateVportRequest& req,
                                               const std::string& obj) {
  VportSpec spec;
  spec.name = req.name();
  if (!req.name().empty()) {
    if (absl::Status s = ValidateName(obj, req.name()); !s.ok()) return s;
  }
  if (!req.mac().empty()) {
    absl::StatusOr<Mac> mac = ParseMacField(obj, "mac", req.mac());
    if (!mac.ok()) return mac.status();
    if (*mac == 0 || IsMulticast(*mac)) {
      return absl::InvalidArgumentError(
          absl::StrCat(obj, ": mac ", Quote(req.mac()), ": must be a unicast, non-zero address"));
    }
    spec.mac = *mac;
  }
  if (req.has_mtu()) {
    if (req.mtu() < 68 || req.mtu() > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(obj, ": mtu ", req.mtu(), ": out of range 68..65535"));
    }
    spec.mtu = req.mtu();
  }
  absl::StatusOr<Backend> backend = BackendFromProto(obj, req.backend());
  if (!backend.ok()) return backend.status();
  switch (req.kind()) {
    case v1::VPORT_KIND_HOST:
      if (req.has_pod()) {
        return absl::InvalidArgumentError(absl::StrCat(obj, ": pod: must be unset for a HOST vport"));
      }
      if (req.ip_prefixes_size() > 16) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": ip_prefixes: ", req.ip_prefixes_size(), " given, at most 16"));
      }
      for (const std::string& p : req.ip_prefixes()) {
        if (absl::Status s = ValidatePrefix(obj, p); !s.ok()) return s;
        spec.ip_prefixes.push_back(p);
      }
      spec.type = VportType::kHost;
      break;
    case v1::VPORT_KIND_POD: {
      if (!req.has_pod()) {
        return absl::InvalidArgumentError(absl::StrCat(obj, ": pod: required for a POD vport"));
      }
      if (req.ip_prefixes_size() > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": ip_prefixes: only for HOST vports"));
      }
      const v1::PodVport& pod = req.pod();
      if (pod.netns().empty() || pod.netns()[0] != '/' || pod.netns().size() > 4095) {
        return absl::InvalidArgumentError(absl::StrCat(
            obj, ": pod.netns ", Quote(pod.netns().substr(0, 64)),
            ": must be an absolute path of 1..4095 bytes"));
      }
      if (absl::Status s = ValidateAttachment(absl::StrCat(obj, ": pod.attachment"),
                                              pod.attachment());
          !s.ok()) {
        return s;
      }
      if (!v1::VportType_IsValid(pod.type())) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": pod.type ", pod.type(), ": unknown"));
      }
      spec.type = pod.type() == v1::VPORT_TYPE_TAP ? VportType::kPodTap : VportType::kPodVeth;
      spec.netns = pod.netns();
      spec.pod_ifname = pod.attachment().ifname();
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(obj, ": kind ", v1::VportKind_Name(req.kind()).empty()
                                           ? absl::StrCat(req.kind())
                                           : v1::VportKind_Name(req.kind()),
                       ": must be VPORT_KIND_HOST or VPORT_KIND_POD"));
  }
  const bool tap = spec.type != VportType::kPodVeth;
  if (tap && *backend != Backend::kDefault && *backend != Backend::kTap) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": backend ", v1::Backend_Name(req.backend()), ": a TAP vport has only BACKEND_TAP"));
  }
  if (!tap && *backend == Backend::kTap) {
    return absl::InvalidArgumentError(
        absl::StrCat(obj, ": backend BACKEND_TAP: a veth vport uses AF_PACKET or AF_XDP"));
  }
  return spec;
}

// "vp" + 8 hex digits of the attachment's hash: stable, so a retried ADD
// finds the same name.
std::string PodVportName(const v1::CniAttachment& a) {
  const uint64_t h = Fnv1a(absl::StrCat(a.container_id(), "/", a.ifname()));
  return absl::StrFormat("vp%08x", static_cast<uint32_t>(h ^ (h >> 32)));
}

}  // namespace

v1::VportKind Agent::VportKindLocked(const std::string& port) const {
  auto it = vports_.find(port);
  if (it == vports_.end()) return v1::VPORT_KIND_UNSPECIFIED;
  return it->second.spec.type == VportType::kHost ? v1::VPORT_KIND_HOST : v1::VPORT_KIND_POD;
}

absl::Status Agent::CreateVport(const v1::CreateVportRequest& req,
                                v1::CreateVportResponse* resp) {
  absl::MutexLock lock(&mu_);
  return CreateVportLocked(req, /*restore=*/false, resp);
}

absl::Status Agent::CreateVportLocked(const v1::CreateVportRequest& req, bool restore,
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
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "create vport");
  if (!e.ok()) return e.status();
  const bool pod = spec->type != VportType::kHost;
  if (pod) {
    const v1::CniAttachment& a = req.pod().attachment();
    auto it = attachments_.find({a.container_id(), a.ifname()});
    if (it != attachments_.end()) {
      if (restore) return absl::OkStatus();  // already there (startup file after state)
      return absl::AlreadyExistsError(absl::StrCat("vport: ", op, ": ", AttachmentText(a),
                                                   " already exists as ", Quote(it->second)));
    }
    if (spec->name.empty()) spec->name = PodVportName(a);
  }
  const bool pick_host_name = spec->name.empty();
  int next = 0;
  auto taken = [&](const std::string& n) {
    return vports_.count(n) > 0 || interface_owner_.count(n) > 0;
  };
  if (pick_host_name) {
    do spec->name = absl::StrCat("vport", next++);
    while (taken(spec->name));
  }
  obj = VportObj(spec->name, op);
  if (taken(spec->name)) {
    if (restore && vports_.count(spec->name)) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat(obj, ": already exists"));
  }
  if ((*e)->ports.size() >= kMaxPortsPerBridge) {
    return absl::ResourceExhaustedError(absl::StrCat(
        obj, ": bridge ", Quote(req.bridge()), " has ", kMaxPortsPerBridge, " ports"));
  }
  absl::StatusOr<PortConfig> config =
      PortConfigForAdd(obj, req.settings(), (*e)->bridge->config().default_pvid);
  if (!config.ok()) return config.status();
  const Backend backend = *BackendFromProto(obj, req.backend());

  absl::StatusOr<OpenedVport> opened = absl::NotFoundError("");
  if (restore) opened = options_.opener->ReopenVport(*spec, backend);
  // Host vports of the startup file are made when missing; a pod's
  // interfaces that are gone stay gone (the pod went while we were down).
  if (!restore || (opened.status().code() == absl::StatusCode::kNotFound && !pod)) {
    for (int tries = 0;; ++tries) {
      opened = options_.opener->CreateVport(*spec, backend);
      if (!pick_host_name || tries >= 64 ||
          opened.status().code() != absl::StatusCode::kAlreadyExists) {
        break;
      }
      do spec->name = absl::StrCat("vport", next++);
      while (taken(spec->name));
      obj = VportObj(spec->name, op);
    }
  }
  if (!opened.ok()) return opened.status();
  if (opened->port.port == nullptr || opened->port.port->name() != spec->name) {
    opened->port.port.reset();
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
  // Recorded first so that PORT_ADDED carries the vport kind.
  vports_[spec->name] = rec;
  absl::StatusOr<PortRecord*> port = AttachLocked(**e, std::move(opened->port), false, *config);
  if (!port.ok()) {
    vports_.erase(spec->name);
    if (!restore) (void)options_.opener->DestroyVport(*spec);
    return absl::Status(port.status().code(), absl::StrCat(obj, ": ", port.status().message()));
  }
  if (pod) {
    attachments_[{rec.container_id, spec->pod_ifname}] = spec->name;
  }
  FillVportLocked(spec->name, vports_.at(spec->name), resp->mutable_vport());
  PersistLocked();
  return absl::OkStatus();
}

std::future<void> Agent::RemoveVportLocked(const std::string& name,
                                           v1::PortRemovalCause cause) {
  auto it = vports_.find(name);
  if (it == vports_.end()) return {};
  const VportRecord rec = it->second;
  PortOpener* opener = options_.opener;
  std::future<void> destroyed = std::async(std::launch::async, [opener, spec = rec.spec] {
    if (absl::Status s = opener->DestroyVport(spec); !s.ok()) {
      std::cerr << "vebd: " << s.message() << "\n";
    }
  });
  if (BridgeEntry* e = FindLocked(rec.bridge)) RemovePortLocked(*e, name, cause);
  if (rec.spec.type != VportType::kHost) {
    attachments_.erase({rec.container_id, rec.spec.pod_ifname});
  }
  vports_.erase(name);
  return destroyed;
}

const Agent::VportRecord* Agent::FindVportLocked(const std::string& bridge,
                                                 const std::string& name,
                                                 const v1::CniAttachment* attachment) const {
  std::string key = name;
  if (attachment != nullptr) {
    auto a = attachments_.find({attachment->container_id(), attachment->ifname()});
    if (a == attachments_.end()) return nullptr;
    key = a->second;
  }
  auto it = vports_.find(key);
  if (it == vports_.end() || (!bridge.empty() && it->second.bridge != bridge)) return nullptr;
  return &it->second;
}

void Agent::FillVportLocked(const std::string& name, const VportRecord& v,
                            v1::Vport* out) const {
  out->set_name(name);
  out->set_bridge(v.bridge);
  out->set_kind(v.spec.type == VportType::kHost ? v1::VPORT_KIND_HOST : v1::VPORT_KIND_POD);
  out->set_mac(FormatMac(v.spec.mac.value_or(0)));
  out->set_mtu(v.spec.mtu.value_or(0));
  if (v.spec.type != VportType::kHost) {
    v1::PodVport* pod = out->mutable_pod();
    pod->set_netns(v.spec.netns);
    pod->mutable_attachment()->set_container_id(v.container_id);
    pod->mutable_attachment()->set_ifname(v.spec.pod_ifname);
    pod->set_type(v.spec.type == VportType::kPodTap ? v1::VPORT_TYPE_TAP : v1::VPORT_TYPE_VETH);
  }
  for (const std::string& p : v.spec.ip_prefixes) out->add_ip_prefixes(p);
  const BridgeEntry* e = FindLocked(v.bridge);
  if (e == nullptr) return;
  auto rec = e->ports.find(name);
  absl::StatusOr<PortInfo> info = e->bridge->GetPort(name);
  if (rec == e->ports.end() || !info.ok()) return;
  size_t n = 0;
  for (const AddressInfo& a : e->bridge->ListAddresses()) n += a.port == name;
  FillPortLocked(*e, rec->second, *info, n, out->mutable_port());
}

// Shared by DeleteVport/GetVport: the target and the bridge filter.
template <typename Req>
static absl::Status ValidateVportTarget(const Req& req, absl::string_view op) {
  if (!req.bridge().empty()) {
    if (absl::Status s = ValidateName(BridgeObj(req.bridge(), op), req.bridge()); !s.ok()) {
      return s;
    }
  }
  switch (req.target_case()) {
    case Req::kName:
      return ValidateName(VportObj(req.name(), op), req.name());
    case Req::kAttachment:
      return ValidateAttachment(absl::StrCat("vport: ", op, ": attachment"), req.attachment());
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("vport: ", op, ": name or attachment required"));
  }
}

template <typename Req>
static absl::Status VportNotFound(const Req& req, absl::string_view op) {
  std::string where = req.bridge().empty() ? "" : absl::StrCat(" on bridge ", Quote(req.bridge()));
  if (req.target_case() == Req::kAttachment) {
    return absl::NotFoundError(
        absl::StrCat("vport: ", op, ": ", AttachmentText(req.attachment()), " not found", where));
  }
  return absl::NotFoundError(absl::StrCat(VportObj(req.name(), op), ": not found", where));
}

absl::Status Agent::DeleteVport(const v1::DeleteVportRequest& req,
                                v1::DeleteVportResponse* resp) {
  if (absl::Status s = ValidateVportTarget(req, "delete"); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  const VportRecord* v = FindVportLocked(
      req.bridge(), req.name(),
      req.target_case() == v1::DeleteVportRequest::kAttachment ? &req.attachment() : nullptr);
  if (v == nullptr) {
    resp->set_deleted(false);
    return req.allow_missing() ? absl::OkStatus() : VportNotFound(req, "delete");
  }
  std::string name = req.name();
  if (req.target_case() == v1::DeleteVportRequest::kAttachment) {
    name = attachments_.at({req.attachment().container_id(), req.attachment().ifname()});
  }
  std::future<void> destroyed = RemoveVportLocked(name, v1::PORT_REMOVAL_CAUSE_API);
  resp->set_deleted(true);
  PersistLocked();  // while the kernel removes the interfaces
  return absl::OkStatus();
}

absl::Status Agent::GetVport(const v1::GetVportRequest& req, v1::GetVportResponse* resp) {
  if (absl::Status s = ValidateVportTarget(req, "get"); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  const VportRecord* v = FindVportLocked(
      req.bridge(), req.name(),
      req.target_case() == v1::GetVportRequest::kAttachment ? &req.attachment() : nullptr);
  if (v == nullptr) return VportNotFound(req, "get");
  for (const auto& [name, rec] : vports_) {
    if (&rec == v) FillVportLocked(name, rec, resp->mutable_vport());
  }
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
  for (const auto& [name, v] : vports_) {
    if (!req.bridge().empty() && v.bridge != req.bridge()) continue;
    const v1::VportKind kind =
        v.spec.type == VportType::kHost ? v1::VPORT_KIND_HOST : v1::VPORT_KIND_POD;
    if (req.kind() != v1::VPORT_KIND_UNSPECIFIED && kind != req.kind()) continue;
    if (!req.container_id().empty() && v.container_id != req.container_id()) continue;
    keys.emplace_back(v.bridge, name);
  }
  std::sort(keys.begin(), keys.end());
  for (const auto& [bridge, name] : keys) {
    FillVportLocked(name, vports_.at(name), resp->add_vports());
  }
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

// ---- events ------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<EventHub::Subscription>> Agent::Watch(
    const v1::WatchEventsRequest& req) {
  if (!req.bridge().empty()) {
    if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "watch"), req.bridge());
        !s.ok()) {
      return s;
    }
  }
  std::set<v1::EventType> types;
  for (int t : req.types()) {
    if (t == v1::EVENT_TYPE_UNSPECIFIED || !v1::EventType_IsValid(t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("watch: types: ", t == 0 ? "EVENT_TYPE_UNSPECIFIED" : absl::StrCat(t),
                       " is not a valid filter"));
    }
    types.insert(static_cast<v1::EventType>(t));
  }
  return hub_.Subscribe(req.bridge(), std::move(types));
}

// ---- link monitor hooks ------------------------------------------------------------------

void Agent::OnLinkChange(const std::string& ifname, bool up) {
  absl::ReaderMutexLock lock(&mu_);
  auto owner = interface_owner_.find(ifname);
  if (owner == interface_owner_.end()) return;
  const BridgeEntry* e = FindLocked(owner->second);
  if (e == nullptr) return;
  auto it = e->ports.find(ifname);
  if (it == e->ports.end()) return;
  if (it->second.opened.port->running() == up) return;
  if (it->second.opened.set_running) it->second.opened.set_running(up);
  PublishPortEvent(up ? v1::EVENT_TYPE_PORT_LINK_UP : v1::EVENT_TYPE_PORT_LINK_DOWN,
                   owner->second, ifname, it->second.span, up,
                   v1::PORT_REMOVAL_CAUSE_UNSPECIFIED);
}

void Agent::OnInterfaceGone(const std::string& ifname, uint32_t ifindex) {
  absl::MutexLock lock(&mu_);
  auto owner = interface_owner_.find(ifname);
  if (owner == interface_owner_.end()) return;
  BridgeEntry* e = FindLocked(owner->second);
  if (e == nullptr) return;
  auto port = e->ports.find(ifname);
  if (port != e->ports.end() && ifindex != 0 && port->second.opened.ifindex != ifindex) {
    return;  // an older interface of that name
  }
  if (vports_.count(ifname)) {
    // A pod's veth goes with its namespace; whatever is left is removed.
    RemoveVportLocked(ifname, v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE);
  } else {
    RemovePortLocked(*e, ifname, v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE);
  }
  // The port stays out of the persisted state: the interface is gone.
  PersistLocked();
}

// ---- housekeeping ------------------------------------------------------------------------

void Agent::Sweep() {
  std::vector<std::string> orphans;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (auto& [name, e] : bridges_) e.bridge->ExpireAddresses();
    for (const auto& [name, v] : vports_) {
      struct stat st;
      if (v.spec.type != VportType::kHost && stat(v.spec.netns.c_str(), &st) != 0 &&
          errno == ENOENT) {
        orphans.push_back(name);
      }
    }
  }
  if (!orphans.empty()) {
    absl::MutexLock lock(&mu_);
    for (const std::string& name : orphans) {
      if (vports_.count(name)) RemoveVportLocked(name, v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE);
    }
    PersistLocked();
  }
  qsbr_.Reclaim();
}

AgentConfig Agent::ExportConfig() const {
  absl::ReaderMutexLock lock(&mu_);
  return ExportConfigLocked();
}

AgentConfig Agent::ExportConfigLocked() const {
  AgentConfig out;
  out.set_version(1);
  for (const auto& [name, e] : bridges_) {
    v1::CreateBridgeRequest* b = out.add_bridges();
    b->set_name(name);
    *b->mutable_settings() = BridgeSettingsFromConfig(e.bridge->config());
    std::map<std::string, PortInfo> infos;
    for (PortInfo& p : e.bridge->ListPorts()) infos[p.name] = std::move(p);
    for (const auto& [pname, rec] : e.ports) {
      if (rec.span) {
        v1::AddSpanPortRequest* s = out.add_span_ports();
        s->set_bridge(name);
        s->set_name(pname);
        s->set_backend(RequestedBackend(rec.opened));
        continue;
      }
      auto info = infos.find(pname);
      if (info == infos.end()) continue;
      if (auto v = vports_.find(pname); v != vports_.end()) {
        const VportRecord& vr = v->second;
        v1::CreateVportRequest* c = out.add_vports();
        c->set_bridge(name);
        c->set_name(pname);
        c->set_kind(vr.spec.type == VportType::kHost ? v1::VPORT_KIND_HOST
                                                      : v1::VPORT_KIND_POD);
        if (vr.spec.mac) c->set_mac(FormatMac(*vr.spec.mac));
        if (vr.spec.mtu) c->set_mtu(*vr.spec.mtu);
        if (vr.spec.type != VportType::kHost) {
          c->mutable_pod()->set_netns(vr.spec.netns);
          c->mutable_pod()->mutable_attachment()->set_container_id(vr.container_id);
          c->mutable_pod()->mutable_attachment()->set_ifname(vr.spec.pod_ifname);
          c->mutable_pod()->set_type(vr.spec.type == VportType::kPodTap ? v1::VPORT_TYPE_TAP
                                                                         : v1::VPORT_TYPE_VETH);
        }
        for (const std::string& p : vr.spec.ip_prefixes) c->add_ip_prefixes(p);
        c->set_backend(vr.backend);
        *c->mutable_settings() = PortSettingsFromConfig(info->second.config);
      } else {
        v1::AddPortRequest* p = out.add_ports();
        p->set_bridge(name);
        p->set_name(pname);
        p->set_backend(RequestedBackend(rec.opened));
        *p->mutable_settings() = PortSettingsFromConfig(info->second.config);
      }
      absl::StatusOr<std::vector<Rule>> rules = e.bridge->ListRules(pname);
      if (rules.ok()) {
        for (const Rule& r : *rules) {
          v1::AddRuleRequest* ar = out.add_rules();
          ar->set_bridge(name);
          ar->set_port(pname);
          *ar->mutable_rule() = RuleToProto(r);
        }
      }
    }
    std::vector<AddressInfo> addrs = e.bridge->ListAddresses();
    SortAddresses(&addrs);
    for (const AddressInfo& a : addrs) {
      if (!a.is_static) continue;
      v1::AddStaticAddressRequest* s = out.add_static_addresses();
      s->set_bridge(name);
      s->set_mac(FormatMac(a.mac));
      s->set_port(a.port);
      s->set_vid(a.vid);
    }
  }
  return out;
}

void Agent::Apply(const AgentConfig& config, std::vector<std::string>* problems) {
  {
    absl::MutexLock lock(&mu_);
    replaying_ = true;
  }
  auto note = [&](const absl::Status& s) {
    if (!s.ok() && problems != nullptr) problems->push_back(std::string(s.message()));
  };
  for (const auto& req : config.bridges()) {
    v1::CreateBridgeResponse resp;
    absl::Status s = CreateBridge(req, &resp);
    if (s.code() != absl::StatusCode::kAlreadyExists) note(s);
  }
  for (const auto& req : config.ports()) {
    v1::AddPortResponse resp;
    note(AddPort(req, &resp));
  }
  for (const auto& req : config.span_ports()) {
    v1::AddSpanPortResponse resp;
    note(AddSpanPort(req, &resp));
  }
  for (const auto& req : config.vports()) {
    v1::CreateVportResponse resp;
    absl::Status s;
    {
      absl::MutexLock lock(&mu_);
      s = CreateVportLocked(req, /*restore=*/true, &resp);
    }
    note(s);
  }
  for (const auto& req : config.rules()) {
    v1::AddRuleResponse resp;
    note(AddRule(req, &resp));
  }
  for (const auto& req : config.static_addresses()) {
    v1::AddStaticAddressResponse resp;
    note(AddStaticAddress(req, &resp));
  }
  absl::MutexLock lock(&mu_);
  replaying_ = false;
  PersistLocked();
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

Bridge* Agent::BridgeForTesting(const std::string& name) {
  absl::ReaderMutexLock lock(&mu_);
  BridgeEntry* e = FindLocked(name);
  return e == nullptr ? nullptr : e->bridge.get();
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

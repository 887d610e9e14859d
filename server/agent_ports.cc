// Agent: member and span ports (see agent.h for the locks: the backend
// opens, attaches, detaches and releases interfaces with no agent lock held).
#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/agent.h"
#include "server/config_edit.h"
#include "server/convert.h"
#include "server/validate.h"

namespace veb::server {

// ---- member and span ports ----------------------------------------------------------

absl::StatusOr<std::string> Agent::OpenAndAdd(const std::string& bridge,
                                              const std::string& ifname,
                                              v1::Backend backend_proto, bool span,
                                              const PortConfig& config,
                                              const std::string& obj) {
  absl::StatusOr<Backend> backend = BackendFromProto(obj, backend_proto);
  if (!backend.ok()) return backend.status();
  {
    absl::ReaderMutexLock lock(&mu_);
    if (const BridgeEntry* e = FindLocked(bridge)) {
      backend = BackendForEngine(obj, bridge, e->bridge->engine(), *backend);
      if (!backend.ok()) return backend.status();
    }
    // A veb bridge is not an interface; refused even if a netdev by that
    // name exists, as veb(4) refuses `ifconfig veb0 add veb0`.
    if (ifname == bridge) {
      return absl::FailedPreconditionError(
          absl::StrCat(obj, ": a bridge cannot be a port of itself"));
    }
    if (bridges_.count(ifname) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(obj, ": ", Quote(ifname), " is a bridge, not an interface"));
    }
    const BridgeEntry* e = FindLocked(bridge);
    if (e != nullptr && e->ports.size() >= kMaxPortsPerBridge) {
      return absl::ResourceExhaustedError(absl::StrCat(
          obj, ": bridge ", Quote(bridge), " has ", kMaxPortsPerBridge, " ports"));
    }
  }
  absl::StatusOr<OpenedPort> opened = options_.opener->Open(ifname, *backend);
  if (!opened.ok()) {
    // The Linux backends name the port themselves; one prefix is enough.
    absl::string_view why = opened.status().message();
    absl::ConsumePrefix(&why, absl::StrCat("port ", Quote(ifname), ": add: "));
    return absl::Status(opened.status().code(), absl::StrCat(obj, ": ", why));
  }
  if (opened->port == nullptr || opened->handle == nullptr ||
      opened->port->name() != ifname) {
    return absl::InternalError(absl::StrCat(obj, ": backend opened the wrong interface"));
  }
  // Saved while the interface is open but not yet a port: a failed save
  // drops `opened`, which releases the interface.
  const v1::Backend requested = RequestedBackend(*opened);
  if (absl::Status s = Persist(obj, [&](AgentConfig* c) {
        if (span) {
          v1::AddSpanPortRequest* r = c->add_span_ports();
          r->set_bridge(bridge);
          r->set_name(ifname);
          r->set_backend(requested);
        } else {
          v1::AddPortRequest* r = c->add_ports();
          r->set_bridge(bridge);
          r->set_name(ifname);
          r->set_backend(requested);
          *r->mutable_settings() = PortSettingsFromConfig(config);
        }
      });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Attach(bridge, *std::move(opened), span, config); !s.ok()) {
    PersistCurrent();  // the port is not there after all
    return absl::Status(s.code(), absl::StrCat(obj, ": ", s.message()));
  }
  return ifname;
}

absl::Status Agent::Attach(const std::string& bridge, OpenedPort opened, bool span,
                           const PortConfig& config) {
  const std::string ifname = opened.port->name();
  // The record (and the handle it owns) stays put until a holder of
  // config_mu_ erases it, so the raw pointers outlive the lock below.
  PortHandle* const handle = opened.handle.get();
  BridgeEngine* b = nullptr;
  PortRef ref;
  PortEventInfo info;
  {
    absl::MutexLock lock(&mu_);
    BridgeEntry* e = FindLocked(bridge);
    if (e == nullptr) return NotFound(BridgeObj(bridge, "add port"), "not found");
    b = e->bridge.get();
    absl::StatusOr<PortRef> added =
        span ? b->AddSpanPort(opened.port) : b->AddPort(opened.port, config);
    if (!added.ok()) return added.status();
    ref = *added;
    e->names->Set(ref, ifname);
    info = PortEventLocked(bridge, ifname, span, opened.port->running(),
                           v1::PORT_REMOVAL_CAUSE_UNSPECIFIED);
    PortRecord& rec = e->ports[ifname];
    rec.opened = std::move(opened);
    rec.ref = ref;
    rec.span = span;
    interface_owner_[ifname] = bridge;
  }
  if (absl::Status s = handle->Attach(b, ref); !s.ok()) {
    // Nothing would poll the port: take it out again.
    (void)b->RemovePort(ifname);
    PortRecord dropped;  // released after mu_
    {
      absl::MutexLock lock(&mu_);
      BridgeEntry* e = FindLocked(bridge);
      e->names->Erase(ref);
      dropped = std::move(e->ports.at(ifname));
      e->ports.erase(ifname);
      interface_owner_.erase(ifname);
    }
    return absl::Status(s.code(), absl::StrCat("attach to a worker: ", s.message()));
  }
  PublishPortEvent(hub_, v1::EVENT_TYPE_PORT_ADDED, info);
  return absl::OkStatus();
}

void Agent::RemovePort(const std::string& bridge, const std::string& port,
                       v1::PortRemovalCause cause) {
  BridgeEngine* b = nullptr;
  PortHandle* handle = nullptr;
  bool span = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    BridgeEntry* e = FindLocked(bridge);
    if (e == nullptr) return;
    auto it = e->ports.find(port);
    if (it == e->ports.end()) return;
    b = e->bridge.get();
    handle = it->second.opened.handle.get();
    span = it->second.span;
  }
  // Both wait (for the worker, for the grace period) with no agent lock.
  handle->Detach();
  absl::StatusOr<size_t> entries = b->RemovePort(port);
  if (!entries.ok()) std::cerr << "vebd: " << entries.status().message() << "\n";
  PortRecord gone;
  PortEventInfo info;
  {
    absl::MutexLock lock(&mu_);
    BridgeEntry* e = FindLocked(bridge);
    auto it = e->ports.find(port);
    e->names->Erase(it->second.ref);
    gone = std::move(it->second);
    e->ports.erase(it);
    interface_owner_.erase(port);
    info = PortEventLocked(bridge, port, span, false, cause);
  }
  gone = PortRecord{};  // the backend releases the interface, outside mu_
  PublishPortEvent(hub_, v1::EVENT_TYPE_PORT_REMOVED, info);
  if (entries.ok() && *entries > 0) PublishFlush(hub_, bridge, port, true, *entries);
}

absl::Status Agent::AddPort(const v1::AddPortRequest& req, v1::AddPortResponse* resp) {
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
  absl::MutexLock config_lock(&config_mu_);
  absl::StatusOr<PortConfig> config = absl::UnknownError("");
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "add port");
    if (!e.ok()) return e.status();
    if (absl::Status s = CheckNotOwnedLocked(req.bridge(), req.name(), obj, false); !s.ok()) {
      return s;
    }
    config = PortConfigForAdd(obj, req.settings(), (*e)->bridge->config().default_pvid);
    if (!config.ok()) return config.status();
  }
  absl::StatusOr<std::string> added =
      OpenAndAdd(req.bridge(), req.name(), req.backend(), false, *config, obj);
  if (!added.ok()) return added.status();
  {
    absl::ReaderMutexLock lock(&mu_);
    FillPortByNameLocked(*FindLocked(req.bridge()), req.name(), resp->mutable_port());
  }
  return absl::OkStatus();
}

absl::Status Agent::DeleteMemberOrSpan(const std::string& bridge, const std::string& name,
                                       bool span) {
  const std::string obj = span ? SpanObj(name, "delete") : PortObj(name, "delete");
  const std::string op = span ? "delete span port" : "delete port";
  if (absl::Status s = ValidateBridgeAndPort(bridge, op, name, obj); !s.ok()) return s;
  absl::MutexLock config_lock(&config_mu_);
  bool pending = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(bridge, op);
    if (!e.ok()) return e.status();
    const PendingObject* p = FindPendingLocked(bridge, name);
    pending = p != nullptr && p->span() == span && !p->vport();
    if (!pending) {
      absl::StatusOr<PortRecord*> rec = PortOr(**e, name, span, obj);
      if (!rec.ok()) return rec.status();
      if (const VportRecord* v = vports_.Find(name)) {
        return absl::FailedPreconditionError(absl::StrCat(
            obj, ": is a ", v->pod() ? "pod" : "host", " vport (use DeleteVport)"));
      }
    }
  }
  if (pending) return DeletePending(name, obj);
  if (absl::Status s = Persist(obj, [&](AgentConfig* c) { ErasePort(c, bridge, name); });
      !s.ok()) {
    return s;
  }
  RemovePort(bridge, name, v1::PORT_REMOVAL_CAUSE_API);
  return absl::OkStatus();
}

absl::Status Agent::DeletePort(const v1::DeletePortRequest& req,
                               v1::DeletePortResponse* /*resp*/) {
  return DeleteMemberOrSpan(req.bridge(), req.name(), /*span=*/false);
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
  if (const PendingObject* p = FindPendingLocked(req.bridge(), req.name());
      p != nullptr && !p->span()) {
    FillPendingPortLocked(*p, resp->mutable_port());
    return absl::OkStatus();
  }
  absl::StatusOr<PortRecord*> rec = PortOr(**e, req.name(), false, obj);
  if (!rec.ok()) return rec.status();
  absl::StatusOr<PortInfo> info = (*e)->bridge->GetPort(req.name());
  if (!info.ok()) return info.status();
  FillPortLocked(**e, **rec, *info, resp->mutable_port());
  return absl::OkStatus();
}

absl::Status Agent::ListPorts(const v1::ListPortsRequest& req,
                              v1::ListPortsResponse* resp) {
  const std::string obj = BridgeObj(req.bridge(), "list ports");
  if (absl::Status s = ValidateName(obj, req.bridge()); !s.ok()) return s;
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "list ports");
  if (!e.ok()) return e.status();
  for (const auto& [name, rec] : (*e)->ports) {
    if (!rec.span) FillPortByNameLocked(**e, name, resp->add_ports());
  }
  // A port being removed right now is in the map but no longer in the
  // bridge: FillPortByNameLocked left an empty entry for it.
  auto* ports = resp->mutable_ports();
  ports->erase(std::remove_if(ports->begin(), ports->end(),
                              [](const v1::Port& p) { return p.name().empty(); }),
               ports->end());
  for (const auto& [name, p] : pending_) {
    if (p.bridge() == req.bridge() && !p.span()) FillPendingPortLocked(p, resp->add_ports());
  }
  std::sort(ports->pointer_begin(), ports->pointer_end(),
            [](const v1::Port* a, const v1::Port* b) { return a->name() < b->name(); });
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
  absl::MutexLock config_lock(&config_mu_);
  PortEventInfo info;
  absl::StatusOr<PortConfig> config = absl::UnknownError("");
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "update port");
    if (!e.ok()) return e.status();
    absl::StatusOr<PortRecord*> rec = PortOr(**e, req.name(), false, obj);
    if (!rec.ok()) return rec.status();
    absl::StatusOr<PortInfo> cur = (*e)->bridge->GetPort(req.name());
    if (!cur.ok()) return cur.status();
    config = PortConfigForUpdate(obj, req.settings(), add, remove, cur->config);
    if (!config.ok()) return config.status();
  }
  if (absl::Status s = Persist(obj, [&](AgentConfig* c) {
        SetPortSettings(c, req.bridge(), req.name(), PortSettingsFromConfig(*config));
      });
      !s.ok()) {
    return s;
  }
  absl::Status applied;
  {
    absl::ReaderMutexLock lock(&mu_);
    BridgeEntry* e = FindLocked(req.bridge());
    applied = e->bridge->UpdatePort(req.name(), *config);
    if (applied.ok()) {
      FillPortByNameLocked(*e, req.name(), resp->mutable_port());
      info = PortEventLocked(req.bridge(), req.name(), false,
                             e->ports.at(req.name()).opened.port->running(),
                             v1::PORT_REMOVAL_CAUSE_UNSPECIFIED);
    }
  }
  if (!applied.ok()) {
    PersistCurrent();  // validated above: not expected
    return applied;
  }
  PublishPortEvent(hub_, v1::EVENT_TYPE_PORT_UPDATED, info);
  return absl::OkStatus();
}

absl::Status Agent::AddSpanPort(const v1::AddSpanPortRequest& req,
                                v1::AddSpanPortResponse* resp) {
  const std::string obj = SpanObj(req.name(), "add");
  if (absl::Status s = ValidateBridgeAndPort(req.bridge(), "add span port", req.name(), obj);
      !s.ok()) {
    return s;
  }
  if (auto b = BackendFromProto(obj, req.backend()); !b.ok()) return b.status();
  absl::MutexLock config_lock(&config_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "add span port");
    if (!e.ok()) return e.status();
    if (absl::Status s = CheckNotOwnedLocked(req.bridge(), req.name(), obj, true); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::string> added =
      OpenAndAdd(req.bridge(), req.name(), req.backend(), true, PortConfig{}, obj);
  if (!added.ok()) return added.status();
  {
    absl::ReaderMutexLock lock(&mu_);
    BridgeEntry* e = FindLocked(req.bridge());
    FillSpanPortLocked(*e, e->ports.at(req.name()), resp->mutable_span_port());
  }
  return absl::OkStatus();
}

absl::Status Agent::DeleteSpanPort(const v1::DeleteSpanPortRequest& req,
                                   v1::DeleteSpanPortResponse* /*resp*/) {
  return DeleteMemberOrSpan(req.bridge(), req.name(), /*span=*/true);
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
  if (const PendingObject* p = FindPendingLocked(req.bridge(), req.name());
      p != nullptr && p->span()) {
    FillPendingSpanPortLocked(*p, resp->mutable_span_port());
    return absl::OkStatus();
  }
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
  for (const auto& [name, p] : pending_) {
    if (p.bridge() == req.bridge() && p.span()) {
      FillPendingSpanPortLocked(p, resp->add_span_ports());
    }
  }
  auto* spans = resp->mutable_span_ports();
  std::sort(spans->pointer_begin(), spans->pointer_end(),
            [](const v1::SpanPort* a, const v1::SpanPort* b) { return a->name() < b->name(); });
  return absl::OkStatus();
}

}  // namespace veb::server

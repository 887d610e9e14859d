// Agent: the configuration as replayable requests (the state file and the
// startup file share the AgentConfig shape) and its saving before every
// mutation (docs/design.md §6). The replay is in agent_pending.cc.
#include <iostream>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/agent.h"
#include "server/config_edit.h"
#include "server/convert.h"
#include "server/state_store.h"

namespace veb::server {

absl::Status Agent::Persist(absl::string_view obj,
                            const std::function<void(AgentConfig*)>& edit) {
  if (replaying_ || !options_.persist) return absl::OkStatus();
  AgentConfig config;
  {
    absl::ReaderMutexLock lock(&mu_);
    config = ExportConfigLocked();
  }
  if (edit) {
    edit(&config);
    Canonicalize(&config);
  }
  absl::Status s = options_.persist(config);  // may fsync: mu_ is not held
  saves_failing_.store(!s.ok());
  if (s.ok()) return s;
  save_failures_.fetch_add(1);
  return absl::UnavailableError(
      absl::StrCat(obj, ": not saved (", s.message(), "); nothing changed"));
}

void Agent::PersistCurrent() {
  if (absl::Status s = Persist("configuration", nullptr); !s.ok()) {
    std::cerr << "vebd: " << s.message() << "\n";
  }
}

AgentConfig Agent::ExportConfig() const {
  absl::ReaderMutexLock lock(&mu_);
  return ExportConfigLocked();
}

AgentConfig Agent::ExportConfigLocked() const {
  AgentConfig out;
  out.set_version(kStateVersion);
  for (const auto& [name, e] : bridges_) {
    v1::CreateBridgeRequest* b = out.add_bridges();
    b->set_name(name);
    *b->mutable_settings() = BridgeSettingsFromConfig(e.bridge->config());
    if (e.bridge->engine() == Engine::kKernel) b->set_engine(v1::ENGINE_KERNEL);
    for (const auto& [pname, rec] : e.ports) {
      if (rec.span) {
        v1::AddSpanPortRequest* s = out.add_span_ports();
        s->set_bridge(name);
        s->set_name(pname);
        s->set_backend(RequestedBackend(rec.opened));
        continue;
      }
      absl::StatusOr<PortInfo> info = e.bridge->GetPort(pname);
      if (!info.ok()) continue;  // being removed
      if (const VportRecord* v = vports_.Find(pname)) {
        v1::CreateVportRequest* c = out.add_vports();
        FillVportFields(pname, name, v->spec, v->container_id, c);
        c->set_backend(v->backend);
        *c->mutable_settings() = PortSettingsFromConfig(info->config);
      } else {
        v1::AddPortRequest* p = out.add_ports();
        p->set_bridge(name);
        p->set_name(pname);
        p->set_backend(RequestedBackend(rec.opened));
        *p->mutable_settings() = PortSettingsFromConfig(info->config);
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
    AddressQuery statics;
    statics.is_static = true;
    absl::StatusOr<AddressInfoPage> page =
        e.bridge->ListAddressPage(statics, std::nullopt, std::numeric_limits<size_t>::max());
    if (!page.ok()) continue;
    for (const AddressInfo& a : page->addresses) {
      v1::AddStaticAddressRequest* s = out.add_static_addresses();
      s->set_bridge(name);
      s->set_mac(FormatMac(a.mac));
      s->set_port(a.port);
      s->set_vid(a.vid);
    }
  }
  // What could not be attached yet stays (Apply).
  for (const auto& [name, p] : pending_) out.MergeFrom(p.requests);
  if (!pending_.empty()) Canonicalize(&out);
  return out;
}

}  // namespace veb::server

#include "server/config_edit.h"

#include <algorithm>
#include <tuple>
#include <utility>

namespace veb::server {
namespace {

template <typename T, typename Pred>
void EraseIf(google::protobuf::RepeatedPtrField<T>* field, Pred pred) {
  field->erase(std::remove_if(field->begin(), field->end(), pred), field->end());
}

template <typename T, typename Key>
void StableSortBy(google::protobuf::RepeatedPtrField<T>* field, Key key) {
  std::stable_sort(field->pointer_begin(), field->pointer_end(),
                   [&](const T* a, const T* b) { return key(*a) < key(*b); });
}

}  // namespace

void Canonicalize(AgentConfig* c) {
  StableSortBy(c->mutable_bridges(), [](const auto& b) { return b.name(); });
  auto by_name = [](const auto& x) { return std::make_pair(x.bridge(), x.name()); };
  StableSortBy(c->mutable_ports(), by_name);
  StableSortBy(c->mutable_span_ports(), by_name);
  StableSortBy(c->mutable_vports(), by_name);
  StableSortBy(c->mutable_rules(),
               [](const auto& r) { return std::make_pair(r.bridge(), r.port()); });
  StableSortBy(c->mutable_static_addresses(),
               [](const auto& a) { return std::make_tuple(a.bridge(), a.vid(), a.mac()); });
}

void EraseBridge(AgentConfig* c, const std::string& bridge) {
  EraseIf(c->mutable_bridges(), [&](const auto& b) { return b.name() == bridge; });
  auto on = [&](const auto& x) { return x.bridge() == bridge; };
  EraseIf(c->mutable_ports(), on);
  EraseIf(c->mutable_span_ports(), on);
  EraseIf(c->mutable_vports(), on);
  EraseIf(c->mutable_rules(), on);
  EraseIf(c->mutable_static_addresses(), on);
}

void ErasePort(AgentConfig* c, const std::string& bridge, const std::string& port) {
  auto named = [&](const auto& x) { return x.bridge() == bridge && x.name() == port; };
  EraseIf(c->mutable_ports(), named);
  EraseIf(c->mutable_span_ports(), named);
  EraseIf(c->mutable_vports(), named);
  EraseRules(c, bridge, port);
  EraseStatics(c, bridge, port);
}

void EraseRules(AgentConfig* c, const std::string& bridge, const std::string& port) {
  EraseIf(c->mutable_rules(),
          [&](const auto& r) { return r.bridge() == bridge && r.port() == port; });
}

void EraseStatic(AgentConfig* c, const std::string& bridge, const std::string& mac,
                 std::optional<uint32_t> vid) {
  EraseIf(c->mutable_static_addresses(), [&](const auto& a) {
    return a.bridge() == bridge && a.mac() == mac && (!vid || a.vid() == *vid);
  });
}

void EraseStatics(AgentConfig* c, const std::string& bridge, const std::string& port) {
  EraseIf(c->mutable_static_addresses(), [&](const auto& a) {
    return a.bridge() == bridge && (port.empty() || a.port() == port);
  });
}

void SetBridgeSettings(AgentConfig* c, const std::string& bridge,
                       const v1::BridgeSettings& settings) {
  for (auto& b : *c->mutable_bridges()) {
    if (b.name() == bridge) *b.mutable_settings() = settings;
  }
}

void SetPortSettings(AgentConfig* c, const std::string& bridge, const std::string& port,
                     const v1::PortSettings& settings) {
  for (auto& p : *c->mutable_ports()) {
    if (p.bridge() == bridge && p.name() == port) *p.mutable_settings() = settings;
  }
  for (auto& v : *c->mutable_vports()) {
    if (v.bridge() == bridge && v.name() == port) *v.mutable_settings() = settings;
  }
}

}  // namespace veb::server

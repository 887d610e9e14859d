#include "server/vport_registry.h"

#include "server/convert.h"

namespace veb::server {

const VportRecord* VportRegistry::Find(const std::string& name) const {
  auto it = vports_.find(name);
  return it == vports_.end() ? nullptr : &it->second;
}

const std::string* VportRegistry::NameOf(const std::string& container_id,
                                         const std::string& ifname) const {
  auto it = attachments_.find({container_id, ifname});
  return it == attachments_.end() ? nullptr : &it->second;
}

const VportRecord* VportRegistry::Find(const std::string& bridge, const std::string& name,
                                       const v1::CniAttachment* attachment,
                                       std::string* name_out) const {
  std::string key = name;
  if (attachment != nullptr) {
    const std::string* n = NameOf(attachment->container_id(), attachment->ifname());
    if (n == nullptr) return nullptr;
    key = *n;
  }
  const VportRecord* v = Find(key);
  if (v == nullptr || (!bridge.empty() && v->bridge != bridge)) return nullptr;
  if (name_out != nullptr) *name_out = key;
  return v;
}

v1::VportKind VportRegistry::KindOf(const std::string& port) const {
  const VportRecord* v = Find(port);
  return v == nullptr ? v1::VPORT_KIND_UNSPECIFIED : VportKindToProto(v->spec.type);
}

size_t VportRegistry::CountOnBridge(const std::string& bridge) const {
  size_t n = 0;
  for (const auto& [name, v] : vports_) n += v.bridge == bridge;
  return n;
}

void VportRegistry::Add(const std::string& name, VportRecord record) {
  if (record.pod()) attachments_[{record.container_id, record.spec.pod_ifname}] = name;
  vports_[name] = std::move(record);
}

void VportRegistry::Remove(const std::string& name) {
  auto it = vports_.find(name);
  if (it == vports_.end()) return;
  if (it->second.pod()) {
    attachments_.erase({it->second.container_id, it->second.spec.pod_ifname});
  }
  vports_.erase(it);
}

}  // namespace veb::server

// The vports the agent made (docs/design.md "Model"): for each, the bridge
// its port belongs to and the interfaces behind it, plus the CNI attachment
// index (container ID, ifname) -> vport name that makes a retried ADD or a
// DEL by attachment find the same vport. The port itself (same name) lives
// with the bridge's other ports in the agent.
//
// Thread-safety: none of its own; the agent guards it with its mutex.
#ifndef VEB_SERVER_VPORT_REGISTRY_H_
#define VEB_SERVER_VPORT_REGISTRY_H_

#include <cstddef>
#include <map>
#include <string>
#include <utility>

#include "proto/veb/v1/types.pb.h"
#include "server/port_opener.h"

namespace veb::server {

struct VportRecord {
  std::string bridge;
  VportSpec spec;  // with the MAC and MTU actually used
  v1::Backend backend = v1::BACKEND_UNSPECIFIED;  // as requested
  std::string container_id;  // pods
  bool pod() const {
    return spec.type == VportType::kPodVeth || spec.type == VportType::kPodTap;
  }
};

class VportRegistry {
 public:
  const VportRecord* Find(const std::string& name) const;
  bool Contains(const std::string& name) const { return vports_.count(name) != 0; }
  // The vport's name for a pod attachment, or null.
  const std::string* NameOf(const std::string& container_id, const std::string& ifname) const;
  // By name or (when `attachment` is set) attachment, optionally only on
  // `bridge`; null if none. `name_out` receives the vport's name.
  const VportRecord* Find(const std::string& bridge, const std::string& name,
                          const v1::CniAttachment* attachment, std::string* name_out) const;
  // HOST or POD for a vport's port, UNSPECIFIED for other ports.
  v1::VportKind KindOf(const std::string& port) const;
  size_t CountOnBridge(const std::string& bridge) const;

  void Add(const std::string& name, VportRecord record);
  void Remove(const std::string& name);

  const std::map<std::string, VportRecord>& all() const { return vports_; }

 private:
  std::map<std::string, VportRecord> vports_;
  std::map<std::pair<std::string, std::string>, std::string> attachments_;
};

}  // namespace veb::server

#endif  // VEB_SERVER_VPORT_REGISTRY_H_

// Per-node rendering for the chart's init container (veb-node-config): from
// the chart's cluster-wide conflist and vebd startup file (a ConfigMap), the
// node's Node object and its IP, writes the node's own conflist (its IPAM
// range from the Node's spec.podCIDR inside the cluster pod subnet, the pod
// MTU from the underlay's) and vebd startup file (the tunnel vport's local
// address, underlay and MTU). Pure functions except FindUnderlay (reads the
// host's interfaces) and WriteFileAtomically. Thread-safety: stateless.
#ifndef VEB_CNI_PLUGIN_NODE_CONFIG_H_
#define VEB_CNI_PLUGIN_NODE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace veb::cni {

// IPv4 VXLAN encapsulation: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner
// Ethernet (14) bytes.
inline constexpr int kVxlanOverhead = 50;
// The smallest IPv4 MTU (RFC 791), the kernel's minimum for veth and tap.
inline constexpr int kMinMtu = 68;
// The largest MTU the API takes (and the kernel gives a veth or tap).
inline constexpr int kMaxMtu = 65535;

struct Ipv4Prefix {
  uint32_t network = 0;  // host byte order, host bits zero
  int length = 0;        // 0..32
  uint32_t Last() const { return network | (length == 32 ? 0 : ~0u >> length); }
  bool Contains(const Ipv4Prefix& inner) const;
};

// "10.244.0.0/16" -> prefix; host bits must be zero. `what` names the value
// in the error ("cluster pod subnet", "node \"n1\" podCIDR").
absl::StatusOr<Ipv4Prefix> ParseIpv4Prefix(absl::string_view text, absl::string_view what);
std::string FormatIpv4(uint32_t addr);

// One host-local range: pods of every node share `subnet` (on-link), this node
// allocates rangeStart..rangeEnd, and its host vport holds `gateway`.
struct NodeRange {
  std::string subnet;
  std::string range_start;
  std::string range_end;
  std::string gateway;
};

// The range of node `node` whose podCIDR is `pod_cidr`, inside `cluster_cidr`:
// gateway = the first host of the podCIDR, range = first host .. last - 1
// (host-local skips the gateway). Errors name the node and the reason.
absl::StatusOr<NodeRange> RangeForNode(absl::string_view node, absl::string_view cluster_cidr,
                                       absl::string_view pod_cidr);

// The IPv4 podCIDR of a Node object (the API's JSON): spec.podCIDR, else the
// IPv4 entry of spec.podCIDRs. A missing one is an error naming the node and
// the likely cause (the controller-manager does not allocate node CIDRs).
absl::StatusOr<std::string> PodCidrOfNode(absl::string_view node_json);

// The interface holding `ip` in this network namespace, and its MTU.
struct Underlay {
  std::string name;
  int mtu = 0;
};
absl::StatusOr<Underlay> FindUnderlay(absl::string_view ip);

struct NodeFacts {
  std::string node_name;
  std::string node_ip;
  Underlay underlay;
  // Set when the IPAM range comes from the Node's podCIDR.
  std::optional<std::string> pod_cidr;
};

// vebd's startup file for this node (veb.server.AgentConfig, protobuf JSON):
// every TUNNEL vport of `agent_config_json` gets local = the node IP,
// underlay = its interface and MTU = the underlay's minus kVxlanOverhead
// where unset. `*tunnel` says whether there is one.
absl::StatusOr<std::string> RenderAgentConfig(absl::string_view agent_config_json,
                                              const NodeFacts& node, bool* tunnel);

// The node's conflist: the `veb` plugin's ipam.ranges replaced by the node's
// range (when node.pod_cidr is set; the template's single range's subnet is
// the cluster pod subnet) and `"mtu": "auto"` replaced by the underlay's MTU,
// minus kVxlanOverhead when `tunnel`.
absl::StatusOr<std::string> RenderConflist(absl::string_view conflist_json, const NodeFacts& node,
                                           bool tunnel);

// Writes `content` to `path` through a temporary file in the same directory
// and a rename: a reader sees the old file or the whole new one.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, int mode);

}  // namespace veb::cni

#endif  // VEB_CNI_PLUGIN_NODE_CONFIG_H_

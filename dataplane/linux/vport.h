// Vports: how a network stack joins a bridge (docs/design.md). Created and deleted
// through libnl; the agent then opens the switch-side end as a port.
//  - Pod veth vport: one RTM_NEWLINK creates the veth pair with the pod end
//    directly inside the pod's network namespace (IFLA_NET_NS_FD on the peer,
//    the namespace file opened by path), already carrying its final name
//    (e.g. "eth0"), MAC and MTU, host end up; then a route socket inside the
//    namespace (helper thread after setns) brings the pod end up (the kernel
//    cannot open the peer while creating the pair). No temporary names in the
//    host, no rename step; if bringing the pod end up fails, deleting the host
//    end removes both. The host end becomes an AF_PACKET port.
//  - Host TAP vport: a persistent TAP in the host namespace (the pods'
//    gateway, addressable by the host stack); the switch keeps the fd
//    (TapPort::Create).
//  - Pod TAP vport: a TAP created inside the pod namespace (opened from a
//    helper thread that joined it) with its final name, MAC, MTU, up; the
//    switch keeps the fd. It is persistent, so an agent restart does not
//    take the pod's interface away (ReopenTapPodVport attaches again); it
//    goes with the namespace or DeleteTapPodVport.
//  - Tunnel vport: a VXLAN device in the host namespace (docs/design.md
//    section 14), created with learning off (the switch learns remote MACs
//    behind the port) and up; its peers are all-zeros forwarding entries
//    (one per remote VTEP: head-end replication of floods), changed with
//    SetVxlanPeers.
// Every step after the first undoes the earlier ones on failure (scope
// guards), so no half-made interface is left behind.
//
// Thread-safety: the functions are independent; callers serialise operations
// on the same names.
#ifndef VEB_DATAPLANE_LINUX_VPORT_H_
#define VEB_DATAPLANE_LINUX_VPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/mac_address.h"

namespace veb {

// kHostVeth: the host vport of a kernel bridge, a veth pair in the host
// namespace (the switch end is the port, the stack end carries the host's
// addresses): the kernel engine has no fd to read a TAP with.
enum class VportKind { kPodVeth, kHostTap, kPodTap, kHostVeth, kVxlan };

struct Vport {
  VportKind kind = VportKind::kPodVeth;
  // The switch-side interface: the host veth end or the host TAP; for a pod
  // TAP, the TAP's name inside the pod namespace.
  std::string ifname;
  int ifindex = 0;  // in the host namespace; 0 for a pod TAP
  Mac mac = 0;      // the pod/host stack's MAC (pod end, or the TAP)
  uint32_t mtu = 0;
  int tap_fd = -1;  // TAP kinds: owned by the caller (TapPort::Create)
};

// Errors: INVALID_ARGUMENT (names, MTU outside 68..65535, multicast MAC),
// NOT_FOUND (netns path), ALREADY_EXISTS (host_ifname exists, or pod_ifname
// inside the namespace), UNAVAILABLE/INTERNAL (kernel), each naming the vport.
absl::StatusOr<Vport> CreateVethPodVport(const std::string& netns_path,
                                         const std::string& pod_ifname,
                                         const std::string& host_ifname,
                                         std::optional<Mac> mac = std::nullopt,
                                         std::optional<uint32_t> mtu = std::nullopt);
absl::StatusOr<Vport> CreateHostTapVport(const std::string& name,
                                         std::optional<Mac> mac = std::nullopt,
                                         std::optional<uint32_t> mtu = std::nullopt);
// The stack end's name: `<name>-h` (so `name` may have at most 13 bytes).
absl::StatusOr<std::string> HostVethStackName(const std::string& name);
// A veth pair `name` (switch end) + HostVethStackName(name) (stack end, with
// `mac` and `mtu`), both up; Vport::mac is the stack end's.
absl::StatusOr<Vport> CreateHostVethVport(const std::string& name,
                                          std::optional<Mac> mac = std::nullopt,
                                          std::optional<uint32_t> mtu = std::nullopt);
absl::StatusOr<Vport> CreateTapPodVport(const std::string& netns_path,
                                        const std::string& pod_ifname,
                                        std::optional<Mac> mac = std::nullopt,
                                        std::optional<uint32_t> mtu = std::nullopt);

// A VXLAN device's parameters (validated by the caller: vni 1..16777215,
// `local` empty or an IP address, `underlay` empty or an interface name).
struct VxlanParams {
  uint32_t vni = 0;
  std::string local;     // source address; empty = chosen by routing
  std::string underlay;  // device for the underlay; empty = any
  uint16_t dstport = 4789;
  std::optional<Mac> mac;
  std::optional<uint32_t> mtu;
};
// Creates VXLAN device `name` (nolearning, up). NOT_FOUND when the underlay
// device is missing, ALREADY_EXISTS when `name` exists or another VXLAN
// device of this namespace already has the VNI and port.
absl::StatusOr<Vport> CreateVxlanVport(const std::string& name, const VxlanParams& params);
// Checks that `name` is a VXLAN device with `params.vni` (restarts).
absl::Status CheckVxlanVport(const std::string& name, const VxlanParams& params);
// Adds then removes all-zeros forwarding entries (peer VTEP addresses,
// validated by the caller) on VXLAN device `name`. Adding an entry that
// exists and removing one that does not are not errors.
absl::Status SetVxlanPeers(const std::string& name, const std::vector<std::string>& add,
                           const std::vector<std::string>& del);

// After an agent restart: a new fd on the existing pod TAP (NOT_FOUND when
// it is gone, FAILED_PRECONDITION when the name is not a TAP).
absl::StatusOr<int> ReopenTapPodVport(const std::string& netns_path,
                                      const std::string& pod_ifname);
// Removes a pod TAP (the switch's fd must be closed first). NOT_FOUND when
// the namespace or the interface is gone.
absl::Status DeleteTapPodVport(const std::string& netns_path,
                               const std::string& pod_ifname);

// Adds each prefix ("10.22.0.1/24", "fd00::1/64"; the agent validated them)
// to interface `ifname` of this namespace; already present is fine
// (restores).
absl::Status AddVportAddresses(const std::string& ifname,
                               const std::vector<std::string>& prefixes);

// Deletes a host-namespace vport interface by name (veth: both ends; a
// persistent host TAP: made non-persistent and removed). A pod TAP goes away
// when its fd is closed. NOT_FOUND if there is no such interface.
absl::Status DeleteVport(const std::string& ifname);

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_VPORT_H_

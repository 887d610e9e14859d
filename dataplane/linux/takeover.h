// What taking an interface over means for every backend that uses a packet
// socket (AF_PACKET, AF_XDP; docs/design.md): promiscuous mode and LRO off. The
// promiscuous mode is a PACKET_MR_PROMISC membership of a packet socket, so
// the kernel drops it when that socket closes (even if the agent is killed);
// LRO is turned back on by the backend's destructor if it was on.
//
// Thread-safety: plain system calls; no shared state.
#ifndef VEB_DATAPLANE_LINUX_TAKEOVER_H_
#define VEB_DATAPLANE_LINUX_TAKEOVER_H_

#include <string>

#include "absl/status/statusor.h"

namespace veb {

// `port "<ifname>": add: <what>: <errno text>` as INTERNAL.
absl::Status PortSysError(const std::string& ifname, const char* what, int err);

// Adds a PACKET_MR_PROMISC membership for `ifindex` to packet socket `fd`.
absl::Status SetPromiscuous(int fd, int ifindex, const std::string& ifname);

// LRO through the legacy ethtool flags (ETHTOOL_[GS]FLAGS map to the netdev
// feature NETIF_F_LRO); `fd` is any socket. Returns whether LRO was on and is
// now off (false when the device has no ethtool support).
absl::StatusOr<bool> DisableLro(int fd, const std::string& ifname);
// Turns LRO back on; a vanished interface is ignored.
void EnableLro(int fd, const std::string& ifname);

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_TAKEOVER_H_

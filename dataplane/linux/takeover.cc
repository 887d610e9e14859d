#include "dataplane/linux/takeover.h"

#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace veb {

absl::Status PortSysError(const std::string& ifname, const char* what, int err) {
  return absl::InternalError(
      absl::StrCat("port \"", ifname, "\": add: ", what, ": ", std::strerror(err)));
}

absl::Status SetPromiscuous(int fd, int ifindex, const std::string& ifname) {
  packet_mreq mr{};
  mr.mr_ifindex = ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) {
    return PortSysError(ifname, "promiscuous mode", errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> DisableLro(int fd, const std::string& ifname) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ethtool_value ev{};
  ev.cmd = ETHTOOL_GFLAGS;
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) {
    if (errno == EOPNOTSUPP) return false;  // no ethtool: no LRO either
    return PortSysError(ifname, "ethtool get flags", errno);
  }
  if ((ev.data & ETH_FLAG_LRO) == 0) return false;
  ev.cmd = ETHTOOL_SFLAGS;
  ev.data &= ~ETH_FLAG_LRO;
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) {
    return PortSysError(ifname, "ethtool turn LRO off", errno);
  }
  return true;
}

void EnableLro(int fd, const std::string& ifname) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ethtool_value ev{};
  ev.cmd = ETHTOOL_GFLAGS;
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) return;  // interface gone
  ev.cmd = ETHTOOL_SFLAGS;
  ev.data |= ETH_FLAG_LRO;
  (void)ioctl(fd, SIOCETHTOOL, &ifr);
}

}  // namespace veb

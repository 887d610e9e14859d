// Small libnl (libnl-route-3) helpers shared by the Linux backends, vports and
// the link monitor: an owning route socket, interface facts by name or index,
// and running code inside another network namespace. Every netlink operation
// in dataplane/linux goes through libnl; nothing here builds messages by hand.
//
// Thread-safety: an NlSocket is used by one thread at a time. RunInNetns
// runs its function on a fresh thread that joined the namespace, so the
// caller's thread never changes namespace.
#ifndef VEB_DATAPLANE_LINUX_NETLINK_H_
#define VEB_DATAPLANE_LINUX_NETLINK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dataplane/mac_address.h"

struct nl_sock;
struct rtnl_link;

namespace veb {

struct NlSockDeleter {
  void operator()(nl_sock* s) const;
};
using NlSocket = std::unique_ptr<nl_sock, NlSockDeleter>;

struct RtnlLinkDeleter {
  void operator()(rtnl_link* l) const;
};
using RtnlLinkPtr = std::unique_ptr<rtnl_link, RtnlLinkDeleter>;

// A connected NETLINK_ROUTE socket in the calling thread's namespace.
absl::StatusOr<NlSocket> ConnectRoute();

// "<libnl error text>" for a negative libnl return code.
std::string NlErrorText(int err);

struct LinkFacts {
  int ifindex = 0;
  std::string name;
  std::string kind;       // "veth", "tun", ... ("" when not reported)
  unsigned arptype = 0;   // ARPHRD_*
  uint32_t mtu = 0;
  unsigned flags = 0;     // IFF_*
  uint8_t operstate = 0;  // IF_OPER_*
  Mac mac = 0;
  int master = 0;         // ifindex of the master device (bridge, bond), 0 if none
  // The link's other end (a veth's peer) is in another network namespace
  // (IFLA_LINK_NETNSID reported).
  bool link_in_other_netns = false;
};

// Link up and able to carry frames: administratively up and operationally
// running (carrier, IFF_RUNNING).
bool LinkRunning(const LinkFacts& link);
LinkFacts FactsOf(rtnl_link* link);

// NOT_FOUND "no such interface" or UNAVAILABLE with libnl's reason.
absl::StatusOr<LinkFacts> GetLink(nl_sock* sock, absl::string_view name);
absl::StatusOr<LinkFacts> GetLinkByIndex(nl_sock* sock, int ifindex);

// The interface a member/span port takes over, checked for every backend:
// errors name it as `port "<ifname>": add: ...` -- NOT_FOUND "no such
// interface", FAILED_PRECONDITION "interface is not Ethernet (type N)" or
// "enslaved to \"br0\"".
absl::StatusOr<LinkFacts> GetPortLink(const std::string& ifname);

// Linux interface name rules: 1..15 bytes, no '/', ':' or whitespace, not "."
// or "..". INVALID_ARGUMENT naming the rule.
absl::Status ValidateIfName(absl::string_view name);

// Runs `fn` on a new thread that first joined the network namespace `netns_fd`
// (setns CLONE_NEWNET), and returns its status. Sockets and fds opened inside
// `fn` stay bound to that namespace after it returns.
absl::Status RunInNetns(int netns_fd, const std::function<absl::Status()>& fn);

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_NETLINK_H_

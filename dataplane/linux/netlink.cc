#include "dataplane/linux/netlink.h"

#include <net/if.h>
#include <net/if_arp.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

namespace veb {

void NlSockDeleter::operator()(nl_sock* s) const { nl_socket_free(s); }
void RtnlLinkDeleter::operator()(rtnl_link* l) const { rtnl_link_put(l); }

std::string NlErrorText(int err) { return nl_geterror(err); }

absl::StatusOr<NlSocket> ConnectRoute() {
  NlSocket sock(nl_socket_alloc());
  if (!sock) return absl::ResourceExhaustedError("netlink: cannot allocate socket");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return absl::UnavailableError(
        absl::StrCat("netlink: connect: ", NlErrorText(err)));
  }
  return sock;
}

LinkFacts FactsOf(rtnl_link* link) {
  LinkFacts f;
  f.ifindex = rtnl_link_get_ifindex(link);
  if (const char* n = rtnl_link_get_name(link)) f.name = n;
  if (const char* t = rtnl_link_get_type(link)) f.kind = t;
  f.arptype = rtnl_link_get_arptype(link);
  f.mtu = rtnl_link_get_mtu(link);
  f.flags = rtnl_link_get_flags(link);
  f.operstate = rtnl_link_get_operstate(link);
  f.master = rtnl_link_get_master(link);
  int32_t netnsid = -1;
  f.link_in_other_netns = rtnl_link_get_link_netnsid(link, &netnsid) == 0 && netnsid >= 0;
  if (nl_addr* a = rtnl_link_get_addr(link);
      a != nullptr && nl_addr_get_len(a) == 6) {
    f.mac = LoadMac(static_cast<const uint8_t*>(nl_addr_get_binary_addr(a)));
  }
  return f;
}

bool LinkRunning(const LinkFacts& link) {
  return (link.flags & IFF_UP) != 0 && (link.flags & IFF_RUNNING) != 0;
}

namespace {

absl::StatusOr<LinkFacts> Get(nl_sock* sock, int ifindex, const char* name,
                              absl::string_view label) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock, ifindex, name, &raw);
  if (err < 0) {
    if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) {
      return absl::NotFoundError(
          absl::StrCat("interface \"", label, "\": no such interface"));
    }
    return absl::UnavailableError(absl::StrCat(
        "interface \"", label, "\": netlink: ", NlErrorText(err)));
  }
  RtnlLinkPtr link(raw);
  return FactsOf(link.get());
}

}  // namespace

absl::StatusOr<LinkFacts> GetLink(nl_sock* sock, absl::string_view name) {
  if (absl::Status s = ValidateIfName(name); !s.ok()) return s;
  std::string n(name);
  return Get(sock, 0, n.c_str(), name);
}

absl::StatusOr<LinkFacts> GetLinkByIndex(nl_sock* sock, int ifindex) {
  return Get(sock, ifindex, nullptr, absl::StrCat("#", ifindex));
}

absl::StatusOr<LinkFacts> GetPortLink(const std::string& ifname) {
  auto sock = ConnectRoute();
  if (!sock.ok()) return sock.status();
  auto link = GetLink(sock->get(), ifname);
  if (!link.ok()) {
    return absl::Status(link.status().code(), absl::StrCat("port \"", ifname, "\": add: ",
                                                           link.status().message()));
  }
  if (link->arptype != ARPHRD_ETHER) {
    return absl::FailedPreconditionError(absl::StrCat(
        "port \"", ifname, "\": add: interface is not Ethernet (type ", link->arptype, ")"));
  }
  if (link->master != 0) {
    std::string master = absl::StrCat("#", link->master);
    if (auto m = GetLinkByIndex(sock->get(), link->master); m.ok()) master = m->name;
    return absl::FailedPreconditionError(
        absl::StrCat("port \"", ifname, "\": add: enslaved to \"", master, "\""));
  }
  return link;
}

absl::Status ValidateIfName(absl::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat(
        "interface name \"", name, "\": must be 1..", IFNAMSIZ - 1, " bytes"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("interface name \"", name, "\": not allowed"));
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' || c == ' ' || c == '\t' ||
        c == '\n' || c == '\r') {
      return absl::InvalidArgumentError(absl::StrCat(
          "interface name \"", name, "\": contains '/', ':' or whitespace"));
    }
  }
  return absl::OkStatus();
}

absl::Status RunInNetns(int netns_fd, const std::function<absl::Status()>& fn) {
  absl::Status result;
  std::thread t([&] {
    if (setns(netns_fd, CLONE_NEWNET) != 0) {
      result = absl::FailedPreconditionError(
          absl::StrCat("setns: ", std::strerror(errno)));
      return;
    }
    result = fn();
  });
  t.join();
  return result;
}

}  // namespace veb

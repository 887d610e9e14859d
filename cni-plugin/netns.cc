#include "cni-plugin/netns.h"

#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace veb::cni {
namespace {

struct NlDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
  void operator()(nl_addr* a) const { nl_addr_put(a); }
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
template <typename T>
using NlPtr = std::unique_ptr<T, NlDeleter>;

// Runs `fn` on a new thread inside the network namespace at `path`.
std::optional<Error> InNetns(const std::string& path,
                             const std::function<std::optional<Error>()>& fn) {
  std::optional<Error> result;
  std::thread t([&] {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      result = Error{kUnknownContainer,
                     absl::StrCat("netns \"", path, "\": ", strerror(errno)), ""};
      return;
    }
    // Network namespaces are per thread: this thread only.
    if (setns(fd, CLONE_NEWNET) != 0) {
      result = Error{kIoFailure, absl::StrCat("netns \"", path, "\": setns: ", strerror(errno)), ""};
      close(fd);
      return;
    }
    close(fd);
    result = fn();
  });
  t.join();
  return result;
}

std::optional<Error> Connect(NlPtr<nl_sock>* sk) {
  sk->reset(nl_socket_alloc());
  if (!*sk || nl_connect(sk->get(), NETLINK_ROUTE) < 0) {
    return Error{kIoFailure, "netlink: cannot open a route socket", ""};
  }
  return std::nullopt;
}

std::optional<Error> Parse(const std::string& text, NlPtr<nl_addr>* out) {
  nl_addr* a = nullptr;
  const int err = nl_addr_parse(text.c_str(), AF_UNSPEC, &a);
  if (err < 0) {
    return Error{kInvalidConfig, absl::StrCat("address \"", text, "\": ", nl_geterror(err)), ""};
  }
  out->reset(a);
  return std::nullopt;
}

std::string GatewayFor(const Result& r, bool v6) {
  for (const IpConfig& ip : r.ips) {
    if (IsIpv6(ip.address) == v6 && !ip.gateway.empty()) return ip.gateway;
  }
  return "";
}

bool Applies(const IpConfig& ip, int itf_index) {
  return !ip.interface || *ip.interface == itf_index;
}

}  // namespace

bool NetnsExists(const std::string& netns) {
  struct stat st;
  return !netns.empty() && stat(netns.c_str(), &st) == 0;
}

std::optional<Error> ConfigureInterface(const std::string& netns, const std::string& ifname,
                                        const Result& result, int itf_index) {
  return InNetns(netns, [&]() -> std::optional<Error> {
    NlPtr<nl_sock> sk;
    if (auto e = Connect(&sk)) return e;
    rtnl_link* raw_link = nullptr;
    if (rtnl_link_get_kernel(sk.get(), 0, ifname.c_str(), &raw_link) < 0) {
      return Error{kIoFailure, absl::StrCat("interface \"", ifname, "\" not found in ", netns), ""};
    }
    NlPtr<rtnl_link> link(raw_link);
    const int ifindex = rtnl_link_get_ifindex(link.get());
    for (const IpConfig& ip : result.ips) {
      if (!Applies(ip, itf_index)) continue;
      NlPtr<nl_addr> local;
      if (auto e = Parse(ip.address, &local)) return e;
      NlPtr<rtnl_addr> addr(rtnl_addr_alloc());
      rtnl_addr_set_ifindex(addr.get(), ifindex);
      rtnl_addr_set_local(addr.get(), local.get());
      const int err = rtnl_addr_add(sk.get(), addr.get(), 0);
      if (err < 0 && err != -NLE_EXIST) {
        return Error{kIoFailure,
                     absl::StrCat("interface \"", ifname, "\": add address ", ip.address, ": ",
                                  nl_geterror(err)), ""};
      }
    }
    NlPtr<rtnl_link> change(rtnl_link_alloc());
    rtnl_link_set_flags(change.get(), IFF_UP);
    if (int err = rtnl_link_change(sk.get(), link.get(), change.get(), 0); err < 0) {
      return Error{kIoFailure, absl::StrCat("interface \"", ifname, "\": up: ", nl_geterror(err)), ""};
    }
    for (const Route& rt : result.routes) {
      NlPtr<nl_addr> dst;
      if (auto e = Parse(rt.dst, &dst)) return e;
      const bool v6 = nl_addr_get_family(dst.get()) == AF_INET6;
      const std::string gw = rt.gw.empty() ? GatewayFor(result, v6) : rt.gw;
      NlPtr<rtnl_route> route(rtnl_route_alloc());
      rtnl_route_set_family(route.get(), v6 ? AF_INET6 : AF_INET);
      rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
      rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
      rtnl_route_set_scope(route.get(), gw.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
      rtnl_route_set_dst(route.get(), dst.get());
      rtnl_nexthop* nh = rtnl_route_nh_alloc();
      rtnl_route_nh_set_ifindex(nh, ifindex);
      if (!gw.empty()) {
        NlPtr<nl_addr> gwaddr;
        if (auto e = Parse(gw, &gwaddr)) {
          rtnl_route_nh_free(nh);
          return e;
        }
        rtnl_route_nh_set_gateway(nh, gwaddr.get());
      }
      rtnl_route_add_nexthop(route.get(), nh);  // owned by the route now
      const int err = rtnl_route_add(sk.get(), route.get(), NLM_F_CREATE);
      if (err < 0 && err != -NLE_EXIST) {
        return Error{kIoFailure,
                     absl::StrCat("interface \"", ifname, "\": add route ", rt.dst, " via ",
                                  gw.empty() ? "link" : gw, ": ", nl_geterror(err)), ""};
      }
    }
    return std::nullopt;
  });
}

std::optional<Error> CheckInterface(const std::string& netns, const std::string& ifname,
                                    const std::string& mac, const Result& result,
                                    int itf_index) {
  if (!NetnsExists(netns)) {
    return Error{kUnknownContainer, absl::StrCat("netns \"", netns, "\" does not exist"), ""};
  }
  return InNetns(netns, [&]() -> std::optional<Error> {
    NlPtr<nl_sock> sk;
    if (auto e = Connect(&sk)) return e;
    rtnl_link* raw_link = nullptr;
    if (rtnl_link_get_kernel(sk.get(), 0, ifname.c_str(), &raw_link) < 0) {
      return Error{kIoFailure, absl::StrCat("interface \"", ifname, "\" is missing from ", netns), ""};
    }
    NlPtr<rtnl_link> link(raw_link);
    const int ifindex = rtnl_link_get_ifindex(link.get());
    if (!mac.empty()) {
      char buf[64];
      nl_addr* ll = rtnl_link_get_addr(link.get());
      const std::string have = ll ? nl_addr2str(ll, buf, sizeof(buf)) : "";
      if (absl::AsciiStrToLower(have) != absl::AsciiStrToLower(mac)) {
        return Error{kIoFailure,
                     absl::StrCat("interface \"", ifname, "\": mac is ", have, ", expected ", mac), ""};
      }
    }
    nl_cache* raw = nullptr;
    if (rtnl_addr_alloc_cache(sk.get(), &raw) < 0) return Error{kIoFailure, "netlink: list addresses", ""};
    NlPtr<nl_cache> addrs(raw);
    for (const IpConfig& ip : result.ips) {
      if (!Applies(ip, itf_index)) continue;
      NlPtr<nl_addr> want;
      if (auto e = Parse(ip.address, &want)) return e;
      bool found = false;
      for (nl_object* o = nl_cache_get_first(addrs.get()); o; o = nl_cache_get_next(o)) {
        auto* a = reinterpret_cast<rtnl_addr*>(o);
        if (rtnl_addr_get_ifindex(a) == ifindex && rtnl_addr_get_local(a) &&
            nl_addr_cmp(rtnl_addr_get_local(a), want.get()) == 0) {
          found = true;
        }
      }
      if (!found) {
        return Error{kIoFailure,
                     absl::StrCat("interface \"", ifname, "\": address ", ip.address, " is missing"), ""};
      }
    }
    raw = nullptr;
    if (rtnl_route_alloc_cache(sk.get(), AF_UNSPEC, 0, &raw) < 0) {
      return Error{kIoFailure, "netlink: list routes", ""};
    }
    NlPtr<nl_cache> routes(raw);
    for (const Route& rt : result.routes) {
      NlPtr<nl_addr> want;
      if (auto e = Parse(rt.dst, &want)) return e;
      bool found = false;
      for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
        auto* r = reinterpret_cast<rtnl_route*>(o);
        nl_addr* dst = rtnl_route_get_dst(r);
        if (dst == nullptr || nl_addr_get_family(dst) != nl_addr_get_family(want.get()) ||
            nl_addr_get_prefixlen(dst) != nl_addr_get_prefixlen(want.get())) {
          continue;
        }
        if (nl_addr_get_prefixlen(want.get()) == 0 || nl_addr_cmp_prefix(dst, want.get()) == 0) {
          found = true;
        }
      }
      if (!found) {
        return Error{kIoFailure, absl::StrCat("route to ", rt.dst, " is missing in ", netns), ""};
      }
    }
    return std::nullopt;
  });
}

}  // namespace veb::cni

#include "dataplane/linux/vport.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <linux/neighbour.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "dataplane/linux/netlink.h"
#include "dataplane/linux/tap_port.h"

namespace veb {
namespace {

std::string Q(const std::string& s) { return absl::StrCat("\"", s, "\""); }

absl::Status Prefix(const std::string& object, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(object, ": ", s.message()));
}

absl::Status ValidateCommon(std::optional<Mac> mac, std::optional<uint32_t> mtu) {
  if (mac.has_value() && (IsMulticast(*mac) || *mac == 0 || *mac > kBroadcastMac)) {
    return absl::InvalidArgumentError(
        absl::StrCat("mac ", FormatMac(*mac), ": must be a unicast address"));
  }
  if (mtu.has_value() && (*mtu < 68 || *mtu > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat("mtu ", *mtu, ": out of range 68..65535"));
  }
  return absl::OkStatus();
}

// nl_addr for a MAC; the caller owns it.
nl_addr* MacAddr(Mac mac) {
  uint8_t b[6];
  StoreMac(mac, b);
  return nl_addr_build(AF_LLC, b, sizeof(b));
}

absl::StatusOr<int> OpenNetns(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("netns ", Q(path), ": no such file"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("netns ", Q(path), ": open: ", std::strerror(errno)));
  }
  return fd;
}

absl::Status NlStatus(int err, const std::string& what) {
  if (err == -NLE_EXIST) {
    return absl::AlreadyExistsError(absl::StrCat(what, ": interface exists"));
  }
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) {
    return absl::NotFoundError(absl::StrCat(what, ": no such interface"));
  }
  if (err == -NLE_INVAL || err == -NLE_RANGE) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", NlErrorText(err)));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", NlErrorText(err)));
}

absl::Status MustNotExist(nl_sock* sock, const std::string& name) {
  auto link = GetLink(sock, name);
  if (link.ok()) {
    return absl::AlreadyExistsError(absl::StrCat("interface ", Q(name), " exists"));
  }
  if (link.status().code() != absl::StatusCode::kNotFound) return link.status();
  return absl::OkStatus();
}

// Sets MAC/MTU (when given) and brings `name` up, in the socket's namespace.
absl::Status ConfigureLink(nl_sock* sock, const std::string& name,
                           std::optional<Mac> mac, std::optional<uint32_t> mtu) {
  rtnl_link* orig_raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &orig_raw); err < 0) {
    return NlStatus(err, absl::StrCat("interface ", Q(name)));
  }
  RtnlLinkPtr orig(orig_raw);
  RtnlLinkPtr change(rtnl_link_alloc());
  if (mac.has_value()) {
    nl_addr* a = MacAddr(*mac);
    rtnl_link_set_addr(change.get(), a);
    nl_addr_put(a);
  }
  if (mtu.has_value()) rtnl_link_set_mtu(change.get(), *mtu);
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int err = rtnl_link_change(sock, orig.get(), change.get(), 0); err < 0) {
    return NlStatus(err, absl::StrCat("interface ", Q(name), ": configure"));
  }
  return absl::OkStatus();
}

void DeleteLinkQuietly(nl_sock* sock, const std::string& name) {
  RtnlLinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), name.c_str());
  (void)rtnl_link_delete(sock, link.get());
}

}  // namespace

absl::StatusOr<Vport> CreateVethPodVport(const std::string& netns_path,
                                         const std::string& pod_ifname,
                                         const std::string& host_ifname,
                                         std::optional<Mac> mac,
                                         std::optional<uint32_t> mtu) {
  const std::string object = absl::StrCat("vport ", Q(host_ifname), ": create");
  // ---- validate ----
  if (auto s = ValidateIfName(host_ifname); !s.ok()) return Prefix(object, s);
  if (auto s = ValidateIfName(pod_ifname); !s.ok()) return Prefix(object, s);
  if (auto s = ValidateCommon(mac, mtu); !s.ok()) return Prefix(object, s);
  auto ns = OpenNetns(netns_path);
  if (!ns.ok()) return Prefix(object, ns.status());
  const int ns_fd = *ns;
  absl::Cleanup close_ns = [ns_fd] { close(ns_fd); };
  auto sock = ConnectRoute();
  if (!sock.ok()) return Prefix(object, sock.status());
  if (auto s = MustNotExist(sock->get(), host_ifname); !s.ok()) return Prefix(object, s);

  // ---- commit: one request creates both ends, configured and up ----
  RtnlLinkPtr link(rtnl_link_veth_alloc());
  if (!link) return absl::ResourceExhaustedError(absl::StrCat(object, ": out of memory"));
  RtnlLinkPtr peer_ref(rtnl_link_veth_get_peer(link.get()));  // takes a reference
  rtnl_link* peer = peer_ref.get();
  rtnl_link_set_name(link.get(), host_ifname.c_str());
  rtnl_link_set_flags(link.get(), IFF_UP);
  rtnl_link_set_name(peer, pod_ifname.c_str());
  rtnl_link_set_ns_fd(peer, ns_fd);
  // Not IFF_UP here: the kernel configures the peer before the pair is
  // linked, and opening a veth without its peer fails (ENOTCONN).
  if (mtu.has_value()) {
    rtnl_link_set_mtu(link.get(), *mtu);
    rtnl_link_set_mtu(peer, *mtu);
  }
  if (mac.has_value()) {
    nl_addr* a = MacAddr(*mac);
    rtnl_link_set_addr(peer, a);
    nl_addr_put(a);
  }
  if (int err = rtnl_link_add(sock->get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
      err < 0) {
    return NlStatus(err, absl::StrCat(object, ": veth pair (pod end ",
                                      Q(pod_ifname), " in ", Q(netns_path), ")"));
  }
  absl::Cleanup undo = [&] { DeleteLinkQuietly(sock->get(), host_ifname); };

  auto host = GetLink(sock->get(), host_ifname);
  if (!host.ok()) return Prefix(object, host.status());
  Vport v;
  v.kind = VportKind::kPodVeth;
  v.ifname = host_ifname;
  v.ifindex = host->ifindex;
  v.mtu = host->mtu;
  absl::Status s = RunInNetns(ns_fd, [&]() -> absl::Status {
    auto pod_sock = ConnectRoute();
    if (!pod_sock.ok()) return pod_sock.status();
    if (auto st = ConfigureLink(pod_sock->get(), pod_ifname, std::nullopt, std::nullopt);
        !st.ok()) {
      return st;
    }
    auto pod = GetLink(pod_sock->get(), pod_ifname);
    if (!pod.ok()) return pod.status();
    v.mac = pod->mac;
    return absl::OkStatus();
  });
  if (!s.ok()) return Prefix(object, s);
  std::move(undo).Cancel();
  return v;
}

absl::StatusOr<Vport> CreateHostTapVport(const std::string& name,
                                         std::optional<Mac> mac,
                                         std::optional<uint32_t> mtu) {
  const std::string object = absl::StrCat("vport ", Q(name), ": create");
  if (auto s = ValidateIfName(name); !s.ok()) return Prefix(object, s);
  if (auto s = ValidateCommon(mac, mtu); !s.ok()) return Prefix(object, s);
  auto sock = ConnectRoute();
  if (!sock.ok()) return Prefix(object, sock.status());
  if (auto s = MustNotExist(sock->get(), name); !s.ok()) return Prefix(object, s);

  auto fd = OpenTapFd(name, /*persistent=*/true);
  if (!fd.ok()) return Prefix(object, fd.status());
  const int tap_fd = *fd;
  absl::Cleanup undo = [tap_fd] {
    (void)ioctl(tap_fd, TUNSETPERSIST, 0);
    close(tap_fd);  // the last fd of a non-persistent TAP removes it
  };
  if (auto s = ConfigureLink(sock->get(), name, mac, mtu); !s.ok()) return Prefix(object, s);
  auto link = GetLink(sock->get(), name);
  if (!link.ok()) return Prefix(object, link.status());
  std::move(undo).Cancel();
  Vport v;
  v.kind = VportKind::kHostTap;
  v.ifname = name;
  v.ifindex = link->ifindex;
  v.mac = link->mac;
  v.mtu = link->mtu;
  v.tap_fd = tap_fd;
  return v;
}

absl::StatusOr<std::string> HostVethStackName(const std::string& name) {
  if (name.size() > 13) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name ", Q(name), " is longer than 13 bytes: a kernel bridge's host vport is a veth "
        "pair whose stack end is named <name>-h"));
  }
  return absl::StrCat(name, "-h");
}

absl::StatusOr<Vport> CreateHostVethVport(const std::string& name, std::optional<Mac> mac,
                                          std::optional<uint32_t> mtu) {
  const std::string object = absl::StrCat("vport ", Q(name), ": create");
  if (auto s = ValidateIfName(name); !s.ok()) return Prefix(object, s);
  absl::StatusOr<std::string> stack = HostVethStackName(name);
  if (!stack.ok()) return Prefix(object, stack.status());
  if (auto s = ValidateCommon(mac, mtu); !s.ok()) return Prefix(object, s);
  auto sock = ConnectRoute();
  if (!sock.ok()) return Prefix(object, sock.status());
  if (auto s = MustNotExist(sock->get(), name); !s.ok()) return Prefix(object, s);
  if (auto s = MustNotExist(sock->get(), *stack); !s.ok()) return Prefix(object, s);

  RtnlLinkPtr link(rtnl_link_veth_alloc());
  if (!link) return absl::ResourceExhaustedError(absl::StrCat(object, ": out of memory"));
  RtnlLinkPtr peer_ref(rtnl_link_veth_get_peer(link.get()));  // takes a reference
  rtnl_link* peer = peer_ref.get();
  rtnl_link_set_name(link.get(), name.c_str());
  rtnl_link_set_flags(link.get(), IFF_UP);
  rtnl_link_set_name(peer, stack->c_str());
  if (mtu.has_value()) {
    rtnl_link_set_mtu(link.get(), *mtu);
    rtnl_link_set_mtu(peer, *mtu);
  }
  if (mac.has_value()) {
    nl_addr* a = MacAddr(*mac);
    rtnl_link_set_addr(peer, a);
    nl_addr_put(a);
  }
  if (int err = rtnl_link_add(sock->get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return NlStatus(err, absl::StrCat(object, ": veth pair (stack end ", Q(*stack), ")"));
  }
  absl::Cleanup undo = [&] { DeleteLinkQuietly(sock->get(), name); };
  if (auto s = ConfigureLink(sock->get(), *stack, std::nullopt, std::nullopt); !s.ok()) {
    return Prefix(object, s);
  }
  auto sw = GetLink(sock->get(), name);
  if (!sw.ok()) return Prefix(object, sw.status());
  auto st = GetLink(sock->get(), *stack);
  if (!st.ok()) return Prefix(object, st.status());
  std::move(undo).Cancel();
  Vport v;
  v.kind = VportKind::kHostVeth;
  v.ifname = name;
  v.ifindex = sw->ifindex;
  v.mac = st->mac;
  v.mtu = st->mtu;
  return v;
}

absl::StatusOr<Vport> CreateTapPodVport(const std::string& netns_path,
                                        const std::string& pod_ifname,
                                        std::optional<Mac> mac,
                                        std::optional<uint32_t> mtu) {
  const std::string object =
      absl::StrCat("vport ", Q(pod_ifname), " in ", Q(netns_path), ": create");
  if (auto s = ValidateIfName(pod_ifname); !s.ok()) return Prefix(object, s);
  if (auto s = ValidateCommon(mac, mtu); !s.ok()) return Prefix(object, s);
  auto ns = OpenNetns(netns_path);
  if (!ns.ok()) return Prefix(object, ns.status());
  const int ns_fd = *ns;
  absl::Cleanup close_ns = [ns_fd] { close(ns_fd); };
  Vport v;
  v.kind = VportKind::kPodTap;
  v.ifname = pod_ifname;
  absl::Status s = RunInNetns(ns_fd, [&]() -> absl::Status {
    auto sock = ConnectRoute();
    if (!sock.ok()) return sock.status();
    if (auto st = MustNotExist(sock->get(), pod_ifname); !st.ok()) return st;
    // Persistent, so the pod keeps its interface across an agent restart
    // (ReopenTapPodVport); it goes with the namespace or DeleteTapPodVport.
    auto fd = OpenTapFd(pod_ifname, /*persistent=*/true);
    if (!fd.ok()) return fd.status();
    const int tap_fd = *fd;
    absl::Cleanup undo = [tap_fd] {
      (void)ioctl(tap_fd, TUNSETPERSIST, 0);
      close(tap_fd);
    };
    if (auto st = ConfigureLink(sock->get(), pod_ifname, mac, mtu); !st.ok()) return st;
    auto link = GetLink(sock->get(), pod_ifname);
    if (!link.ok()) return link.status();
    std::move(undo).Cancel();
    v.mac = link->mac;
    v.mtu = link->mtu;
    v.tap_fd = tap_fd;
    return absl::OkStatus();
  });
  if (!s.ok()) return Prefix(object, s);
  return v;
}

namespace {

// Runs `fn` with a route socket inside `netns_path` on the existing TAP
// `pod_ifname` there; errors are prefixed `vport "<ifname>" in "<netns>": <op>`.
// NOT_FOUND when the namespace or the TAP is gone, FAILED_PRECONDITION when
// the name is not a TAP.
absl::Status WithPodTap(const std::string& netns_path, const std::string& pod_ifname,
                        absl::string_view op,
                        const std::function<absl::Status(nl_sock*, const LinkFacts&)>& fn) {
  const std::string object =
      absl::StrCat("vport ", Q(pod_ifname), " in ", Q(netns_path), ": ", op);
  if (auto s = ValidateIfName(pod_ifname); !s.ok()) return Prefix(object, s);
  auto ns = OpenNetns(netns_path);
  if (!ns.ok()) return Prefix(object, ns.status());
  const int ns_fd = *ns;
  absl::Cleanup close_ns = [ns_fd] { close(ns_fd); };
  absl::Status s = RunInNetns(ns_fd, [&]() -> absl::Status {
    auto sock = ConnectRoute();
    if (!sock.ok()) return sock.status();
    auto link = GetLink(sock->get(), pod_ifname);
    if (!link.ok()) return link.status();
    if (link->kind != "tun") {
      return absl::FailedPreconditionError(absl::StrCat(
          "interface ", Q(pod_ifname), " is not a TAP (kind \"", link->kind, "\")"));
    }
    return fn(sock->get(), *link);
  });
  return s.ok() ? s : Prefix(object, s);
}

}  // namespace

absl::StatusOr<int> ReopenTapPodVport(const std::string& netns_path,
                                      const std::string& pod_ifname) {
  int tap_fd = -1;
  absl::Status s = WithPodTap(netns_path, pod_ifname, "reopen",
                              [&](nl_sock*, const LinkFacts&) -> absl::Status {
                                auto fd = OpenTapFd(pod_ifname, /*persistent=*/true);
                                if (!fd.ok()) return fd.status();
                                tap_fd = *fd;
                                return absl::OkStatus();
                              });
  if (!s.ok()) return s;
  return tap_fd;
}

absl::Status DeleteTapPodVport(const std::string& netns_path,
                               const std::string& pod_ifname) {
  return WithPodTap(netns_path, pod_ifname, "delete",
                    [&](nl_sock* sock, const LinkFacts& link) -> absl::Status {
                      RtnlLinkPtr del(rtnl_link_alloc());
                      rtnl_link_set_ifindex(del.get(), link.ifindex);
                      if (int err = rtnl_link_delete(sock, del.get()); err < 0) {
                        return NlStatus(err, absl::StrCat("interface ", Q(pod_ifname)));
                      }
                      return absl::OkStatus();
                    });
}

absl::Status AddVportAddresses(const std::string& ifname,
                               const std::vector<std::string>& prefixes) {
  const std::string object = absl::StrCat("vport ", Q(ifname), ": addresses");
  auto sock = ConnectRoute();
  if (!sock.ok()) return Prefix(object, sock.status());
  auto link = GetLink(sock->get(), ifname);
  if (!link.ok()) return Prefix(object, link.status());
  for (const std::string& p : prefixes) {
    nl_addr* raw = nullptr;
    if (nl_addr_parse(p.c_str(), AF_UNSPEC, &raw) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(object, ": ", Q(p), ": not a prefix"));
    }
    std::unique_ptr<nl_addr, decltype(&nl_addr_put)> local(raw, &nl_addr_put);
    std::unique_ptr<rtnl_addr, decltype(&rtnl_addr_put)> addr(rtnl_addr_alloc(),
                                                              &rtnl_addr_put);
    rtnl_addr_set_ifindex(addr.get(), link->ifindex);
    rtnl_addr_set_local(addr.get(), local.get());
    // Restores after a restart find the address already there: fine.
    if (int err = rtnl_addr_add(sock->get(), addr.get(), 0); err < 0 && err != -NLE_EXIST) {
      return NlStatus(err, absl::StrCat(object, ": add ", Q(p)));
    }
  }
  return absl::OkStatus();
}

namespace {

// nl_addr for an IPv4/IPv6 address text; the caller owns it.
absl::StatusOr<nl_addr*> IpAddr(const std::string& text) {
  uint8_t buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return nl_addr_build(AF_INET, buf, 4);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return nl_addr_build(AF_INET6, buf, 16);
  return absl::InvalidArgumentError(absl::StrCat("address ", Q(text), ": not an IP address"));
}

}  // namespace

absl::StatusOr<Vport> CreateVxlanVport(const std::string& name, const VxlanParams& params) {
  const std::string object = absl::StrCat("vport ", Q(name), ": create");
  if (auto s = ValidateIfName(name); !s.ok()) return Prefix(object, s);
  if (auto s = ValidateCommon(params.mac, params.mtu); !s.ok()) return Prefix(object, s);
  if (params.vni < 1 || params.vni > 16777215) {
    return absl::InvalidArgumentError(
        absl::StrCat(object, ": vni ", params.vni, ": out of range 1..16777215"));
  }
  auto sock = ConnectRoute();
  if (!sock.ok()) return Prefix(object, sock.status());
  if (auto s = MustNotExist(sock->get(), name); !s.ok()) return Prefix(object, s);
  RtnlLinkPtr link(rtnl_link_vxlan_alloc());
  if (!link) return absl::ResourceExhaustedError(absl::StrCat(object, ": out of memory"));
  rtnl_link_set_name(link.get(), name.c_str());
  rtnl_link_vxlan_set_id(link.get(), params.vni);
  rtnl_link_vxlan_set_learning(link.get(), 0);
  rtnl_link_vxlan_set_port(link.get(), params.dstport);
  if (params.mtu.has_value()) rtnl_link_set_mtu(link.get(), *params.mtu);
  if (params.mac.has_value()) {
    nl_addr* a = MacAddr(*params.mac);
    rtnl_link_set_addr(link.get(), a);
    nl_addr_put(a);
  }
  if (!params.underlay.empty()) {
    auto under = GetLink(sock->get(), params.underlay);
    if (!under.ok()) {
      return Prefix(absl::StrCat(object, ": underlay ", Q(params.underlay)), under.status());
    }
    rtnl_link_vxlan_set_link(link.get(), under->ifindex);
  }
  if (!params.local.empty()) {
    absl::StatusOr<nl_addr*> local = IpAddr(params.local);
    if (!local.ok()) return Prefix(absl::StrCat(object, ": local"), local.status());
    int err = rtnl_link_vxlan_set_local(link.get(), *local);
    nl_addr_put(*local);
    if (err < 0) return NlStatus(err, absl::StrCat(object, ": local ", Q(params.local)));
  }
  if (int err = rtnl_link_add(sock->get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    if (err == -NLE_EXIST) {
      return absl::AlreadyExistsError(absl::StrCat(
          object, ": a VXLAN device with vni ", params.vni, " and port ", params.dstport,
          " already exists"));
    }
    return NlStatus(err, absl::StrCat(object, ": vxlan device"));
  }
  absl::Cleanup undo = [&] { DeleteLinkQuietly(sock->get(), name); };
  if (auto s = ConfigureLink(sock->get(), name, std::nullopt, std::nullopt); !s.ok()) {
    return Prefix(object, s);
  }
  auto facts = GetLink(sock->get(), name);
  if (!facts.ok()) return Prefix(object, facts.status());
  std::move(undo).Cancel();
  Vport v;
  v.kind = VportKind::kVxlan;
  v.ifname = name;
  v.ifindex = facts->ifindex;
  v.mac = facts->mac;
  v.mtu = facts->mtu;
  return v;
}

absl::Status CheckVxlanVport(const std::string& name, const VxlanParams& params) {
  const std::string object = absl::StrCat("vport ", Q(name), ": reopen");
  auto sock = ConnectRoute();
  if (!sock.ok()) return Prefix(object, sock.status());
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock->get(), 0, name.c_str(), &raw); err < 0) {
    return NlStatus(err, object);
  }
  RtnlLinkPtr link(raw);
  uint32_t vni = 0;
  if (rtnl_link_is_vxlan(link.get()) == 0 || rtnl_link_vxlan_get_id(link.get(), &vni) < 0) {
    return absl::FailedPreconditionError(absl::StrCat(object, ": not a VXLAN device"));
  }
  if (vni != params.vni) {
    return absl::FailedPreconditionError(
        absl::StrCat(object, ": has vni ", vni, ", not ", params.vni));
  }
  return absl::OkStatus();
}

absl::Status SetVxlanPeers(const std::string& name, const std::vector<std::string>& add,
                           const std::vector<std::string>& del) {
  const std::string object = absl::StrCat("vport ", Q(name), ": peers");
  auto sock = ConnectRoute();
  if (!sock.ok()) return Prefix(object, sock.status());
  auto link = GetLink(sock->get(), name);
  if (!link.ok()) return Prefix(object, link.status());
  auto entry = [&](const std::string& peer) -> absl::StatusOr<std::unique_ptr<
                                                 rtnl_neigh, void (*)(rtnl_neigh*)>> {
    std::unique_ptr<rtnl_neigh, void (*)(rtnl_neigh*)> n(rtnl_neigh_alloc(), rtnl_neigh_put);
    if (!n) return absl::ResourceExhaustedError("out of memory");
    absl::StatusOr<nl_addr*> dst = IpAddr(peer);
    if (!dst.ok()) return dst.status();
    rtnl_neigh_set_ifindex(n.get(), link->ifindex);
    // The destination first: libnl takes the entry's family from it and
    // refuses a destination of another family than one already set.
    int err = rtnl_neigh_set_dst(n.get(), *dst);
    nl_addr_put(*dst);
    if (err < 0) return NlStatus(err, absl::StrCat("peer ", Q(peer)));
    rtnl_neigh_set_family(n.get(), AF_BRIDGE);
    nl_addr* zero = MacAddr(0);
    rtnl_neigh_set_lladdr(n.get(), zero);
    nl_addr_put(zero);
    rtnl_neigh_set_flags(n.get(), NTF_SELF);
    rtnl_neigh_set_state(n.get(), NUD_NOARP | NUD_PERMANENT);
    return n;
  };
  for (const std::string& peer : add) {
    auto n = entry(peer);
    if (!n.ok()) return Prefix(object, n.status());
    int err = rtnl_neigh_add(sock->get(), n->get(), NLM_F_CREATE | NLM_F_APPEND);
    if (err < 0 && err != -NLE_EXIST) {
      return NlStatus(err, absl::StrCat(object, ": add ", Q(peer)));
    }
  }
  for (const std::string& peer : del) {
    auto n = entry(peer);
    if (!n.ok()) return Prefix(object, n.status());
    int err = rtnl_neigh_delete(sock->get(), n->get(), 0);
    if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR) {
      return NlStatus(err, absl::StrCat(object, ": remove ", Q(peer)));
    }
  }
  return absl::OkStatus();
}

absl::Status DeleteVport(const std::string& ifname) {
  const std::string object = absl::StrCat("vport ", Q(ifname), ": delete");
  if (auto s = ValidateIfName(ifname); !s.ok()) return Prefix(object, s);
  auto sock = ConnectRoute();
  if (!sock.ok()) return Prefix(object, sock.status());
  auto link = GetLink(sock->get(), ifname);
  if (!link.ok()) return Prefix(object, link.status());
  RtnlLinkPtr del(rtnl_link_alloc());
  rtnl_link_set_ifindex(del.get(), link->ifindex);
  if (int err = rtnl_link_delete(sock->get(), del.get()); err < 0) {
    return NlStatus(err, object);
  }
  return absl::OkStatus();
}

}  // namespace veb

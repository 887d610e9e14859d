#include "cni-plugin/node_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "server/agent_config.pb.h"

namespace veb::cni {
namespace {

using Json = nlohmann::ordered_json;

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

absl::StatusOr<uint32_t> ParseIpv4(absl::string_view text) {
  in_addr a{};
  if (inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) {
    return absl::InvalidArgumentError("not an IPv4 address");
  }
  return ntohl(a.s_addr);
}

// The errno text of a failed call, with what it was about.
absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

bool Ipv4Prefix::Contains(const Ipv4Prefix& inner) const {
  if (inner.length < length) return false;
  const uint32_t mask = length == 0 ? 0 : ~0u << (32 - length);
  return (inner.network & mask) == network;
}

absl::StatusOr<Ipv4Prefix> ParseIpv4Prefix(absl::string_view text, absl::string_view what) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  int len = -1;
  absl::StatusOr<uint32_t> addr = absl::InvalidArgumentError("");
  if (parts.size() == 2) addr = ParseIpv4(parts[0]);
  if (parts.size() != 2 || !addr.ok() || !absl::SimpleAtoi(parts[1], &len) || len < 0 ||
      len > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", Quote(text), ": not an IPv4 prefix (a.b.c.d/len)"));
  }
  const uint32_t mask = len == 0 ? 0 : ~0u << (32 - len);
  if ((*addr & ~mask) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", Quote(text),
                                                   ": host bits set (the network is ",
                                                   FormatIpv4(*addr & mask), "/", len, ")"));
  }
  Ipv4Prefix p{*addr, len};
  return p;
}

std::string FormatIpv4(uint32_t addr) {
  return absl::StrCat(addr >> 24, ".", (addr >> 16) & 0xff, ".", (addr >> 8) & 0xff, ".",
                      addr & 0xff);
}

absl::StatusOr<NodeRange> RangeForNode(absl::string_view node, absl::string_view cluster_cidr,
                                       absl::string_view pod_cidr) {
  const std::string obj = absl::StrCat("node ", Quote(node));
  absl::StatusOr<Ipv4Prefix> cluster = ParseIpv4Prefix(cluster_cidr, "cluster pod subnet");
  if (!cluster.ok()) return cluster.status();
  absl::StatusOr<Ipv4Prefix> pod = ParseIpv4Prefix(pod_cidr, absl::StrCat(obj, ": podCIDR"));
  if (!pod.ok()) return pod.status();
  if (!cluster->Contains(*pod)) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": podCIDR ", pod_cidr, " is not inside the cluster pod subnet ", cluster_cidr,
        " (cni.ipam.subnet must be the controller-manager's --cluster-cidr)"));
  }
  if (pod->length > 30) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": podCIDR ", pod_cidr, " is too small (at most /30: a gateway and a pod)"));
  }
  NodeRange r;
  r.subnet = absl::StrCat(FormatIpv4(cluster->network), "/", cluster->length);
  r.gateway = FormatIpv4(pod->network + 1);
  r.range_start = r.gateway;
  r.range_end = FormatIpv4(pod->Last() - 1);
  return r;
}

absl::StatusOr<std::string> PodCidrOfNode(absl::string_view node_json) {
  Json node = Json::parse(node_json, nullptr, /*allow_exceptions=*/false);
  if (node.is_discarded() || !node.is_object()) {
    return absl::InvalidArgumentError("Node object: not a JSON object");
  }
  std::string name = "?";
  if (auto m = node.find("metadata"); m != node.end() && m->is_object()) {
    if (auto n = m->find("name"); n != m->end() && n->is_string()) name = n->get<std::string>();
  }
  if (auto kind = node.find("kind"); kind != node.end() && *kind != "Node") {
    return absl::InvalidArgumentError(
        absl::StrCat("Node object ", Quote(name), ": kind is ", kind->dump(), ", not \"Node\""));
  }
  std::vector<std::string> cidrs;
  if (auto spec = node.find("spec"); spec != node.end() && spec->is_object()) {
    if (auto p = spec->find("podCIDR"); p != spec->end() && p->is_string()) {
      cidrs.push_back(p->get<std::string>());
    }
    if (auto ps = spec->find("podCIDRs"); ps != spec->end() && ps->is_array()) {
      for (const auto& p : *ps) {
        if (p.is_string()) cidrs.push_back(p.get<std::string>());
      }
    }
  }
  for (const std::string& c : cidrs) {
    if (c.find(':') == std::string::npos && !c.empty()) return c;
  }
  if (!cidrs.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", Quote(name), ": no IPv4 podCIDR (has ", cidrs.front(), "; veb's node ranges are IPv4)"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "node ", Quote(name),
      ": spec.podCIDR is empty: the controller-manager must allocate node CIDRs "
      "(--allocate-node-cidrs=true --cluster-cidr=<cni.ipam.subnet>), or set cni.ipam.nodeRange=static"));
}

absl::StatusOr<Underlay> FindUnderlay(absl::string_view ip) {
  in_addr v4{};
  in6_addr v6{};
  const std::string ip_s(ip);
  const bool is_v4 = inet_pton(AF_INET, ip_s.c_str(), &v4) == 1;
  if (!is_v4 && inet_pton(AF_INET6, ip_s.c_str(), &v6) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("node IP ", Quote(ip), ": not an IPv4 or IPv6 address"));
  }
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return Errno("getifaddrs");
  std::string name;
  for (ifaddrs* a = list; a != nullptr && name.empty(); a = a->ifa_next) {
    if (a->ifa_addr == nullptr) continue;
    if (is_v4 && a->ifa_addr->sa_family == AF_INET &&
        reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr == v4.s_addr) {
      name = a->ifa_name;
    } else if (!is_v4 && a->ifa_addr->sa_family == AF_INET6 &&
               std::memcmp(&reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr, &v6,
                           sizeof(v6)) == 0) {
      name = a->ifa_name;
    }
  }
  freeifaddrs(list);
  if (name.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "node IP ", ip, ": on no interface of this network namespace (the pod must use the "
        "host network)"));
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  ifreq req{};
  std::snprintf(req.ifr_name, sizeof(req.ifr_name), "%s", name.c_str());
  const int rc = ioctl(fd, SIOCGIFMTU, &req);
  const int saved = errno;
  close(fd);
  if (rc != 0) {
    errno = saved;
    return Errno(absl::StrCat("interface ", Quote(name), ": MTU"));
  }
  return Underlay{name, req.ifr_mtu};
}

absl::StatusOr<std::string> RenderAgentConfig(absl::string_view agent_config_json,
                                              const NodeFacts& node, bool* tunnel) {
  server::AgentConfig config;
  google::protobuf::util::JsonParseOptions in;
  in.ignore_unknown_fields = false;
  if (auto s = google::protobuf::util::JsonStringToMessage(std::string(agent_config_json), &config,
                                                           in);
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("vebd startup file template: ", std::string(s.message())));
  }
  *tunnel = false;
  for (v1::CreateVportRequest& v : *config.mutable_vports()) {
    if (v.kind() != v1::VPORT_KIND_TUNNEL) continue;
    *tunnel = true;
    const int mtu = node.underlay.mtu - kVxlanOverhead;
    if (!v.has_mtu() && mtu < kMinMtu) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tunnel vport ", Quote(v.name()), ": underlay ", Quote(node.underlay.name), " MTU ",
          node.underlay.mtu, " leaves ", mtu, " after the VXLAN overhead (", kVxlanOverhead,
          "): below ", kMinMtu));
    }
    v1::TunnelVport* t = v.mutable_tunnel();
    if (t->local().empty()) t->set_local(node.node_ip);
    if (t->underlay().empty()) t->set_underlay(node.underlay.name);
    if (!v.has_mtu()) v.set_mtu(static_cast<uint32_t>(std::min(mtu, kMaxMtu)));
  }
  std::string out;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  if (auto s = google::protobuf::util::MessageToJsonString(config, &out, print); !s.ok()) {
    return absl::InternalError(std::string(s.message()));
  }
  return out;
}

absl::StatusOr<std::string> RenderConflist(absl::string_view conflist_json, const NodeFacts& node,
                                           bool tunnel) {
  Json conf = Json::parse(conflist_json, nullptr, /*allow_exceptions=*/false);
  if (conf.is_discarded() || !conf.is_object() || !conf.contains("plugins") ||
      !conf["plugins"].is_array()) {
    return absl::InvalidArgumentError("conflist template: not a JSON object with \"plugins\"");
  }
  Json* veb = nullptr;
  for (Json& p : conf["plugins"]) {
    if (p.is_object() && p.value("type", "") == "veb") {
      veb = &p;
      break;
    }
  }
  if (veb == nullptr) return absl::InvalidArgumentError("conflist template: no \"veb\" plugin");
  if (node.pod_cidr.has_value()) {
    // The template holds one range whose subnet is the cluster pod subnet.
    const Json* subnet = nullptr;
    if (veb->contains("ipam") && (*veb)["ipam"].is_object()) {
      const Json& ipam = (*veb)["ipam"];
      const Json& ranges = ipam.contains("ranges") ? ipam["ranges"] : ipam;
      if (ranges.is_array() && ranges.size() == 1 && ranges[0].is_array() &&
          ranges[0].size() == 1 && ranges[0][0].is_object() && ranges[0][0].contains("subnet") &&
          ranges[0][0]["subnet"].is_string()) {
        subnet = &ranges[0][0]["subnet"];
      }
    }
    if (subnet == nullptr) {
      return absl::InvalidArgumentError(
          "conflist template: the veb plugin's ipam needs exactly one range with a subnet (the "
          "cluster pod subnet) to take the node's podCIDR");
    }
    absl::StatusOr<NodeRange> r =
        RangeForNode(node.node_name, subnet->get<std::string>(), *node.pod_cidr);
    if (!r.ok()) return r.status();
    (*veb)["ipam"]["ranges"] = Json::array({Json::array({Json{{"subnet", r->subnet},
                                                              {"rangeStart", r->range_start},
                                                              {"rangeEnd", r->range_end},
                                                              {"gateway", r->gateway}}})});
  }
  if (veb->contains("mtu") && (*veb)["mtu"] == "auto") {
    const int overhead = tunnel ? kVxlanOverhead : 0;
    const int mtu = node.underlay.mtu - overhead;
    if (mtu < kMinMtu) {
      return absl::FailedPreconditionError(absl::StrCat(
          "pod MTU (auto): underlay ", Quote(node.underlay.name), " MTU ", node.underlay.mtu,
          tunnel ? absl::StrCat(" minus the VXLAN overhead (", kVxlanOverhead, ")") : "", " is ",
          mtu, ": below ", kMinMtu));
    }
    // Loopback's 65536 is above what veth and tap take.
    (*veb)["mtu"] = std::min(mtu, kMaxMtu);
  }
  return conf.dump(2) + "\n";
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, int mode) {
  const std::string tmp = absl::StrCat(path, ".veb-tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Errno(absl::StrCat("create ", tmp));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status s = Errno(absl::StrCat("write ", tmp));
      close(fd);
      unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0 || fsync(fd) != 0) {
    absl::Status s = Errno(absl::StrCat("write ", tmp));
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = Errno(absl::StrCat("rename ", tmp, " to ", path));
    unlink(tmp.c_str());
    return s;
  }
  return absl::OkStatus();
}

}  // namespace veb::cni

#include "server/validate.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace veb::server {

namespace {

uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

std::string BridgeObj(absl::string_view name, absl::string_view op) {
  return absl::StrCat("bridge ", Quote(name), ": ", op);
}
std::string PortObj(absl::string_view name, absl::string_view op) {
  return absl::StrCat("port ", Quote(name), ": ", op);
}
std::string SpanObj(absl::string_view name, absl::string_view op) {
  return absl::StrCat("span port ", Quote(name), ": ", op);
}
std::string AddrObj(Mac mac, std::optional<uint16_t> vid, absl::string_view op) {
  if (vid) return absl::StrCat("address ", FormatMac(mac), " vid ", *vid, ": ", op);
  return absl::StrCat("address ", FormatMac(mac), ": ", op);
}
std::string VportObj(absl::string_view name, absl::string_view op) {
  if (name.empty()) return absl::StrCat("vport: ", op);
  return absl::StrCat("vport ", Quote(name), ": ", op);
}

absl::Status NotFound(absl::string_view obj, absl::string_view reason) {
  return absl::NotFoundError(absl::StrCat(obj, ": ", reason));
}

absl::Status ValidateBridgeAndPort(const std::string& bridge, absl::string_view bridge_op,
                                   const std::string& port, absl::string_view obj) {
  if (absl::Status s = ValidateName(BridgeObj(bridge, bridge_op), bridge); !s.ok()) return s;
  return ValidateName(obj, port);
}

std::string AttachmentText(const v1::CniAttachment& a) {
  return absl::StrCat("attachment (", Quote(a.container_id()), ", ", Quote(a.ifname()), ")");
}

absl::Status ValidateContainerId(absl::string_view obj, absl::string_view id) {
  bool ok = !id.empty() && id.size() <= 255 && absl::ascii_isalnum(id[0]);
  for (char c : id) ok = ok && (absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-');
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": container_id ", Quote(id.substr(0, 64)),
        ": must be 1..255 characters of [A-Za-z0-9_.-] starting with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAttachment(absl::string_view obj, const v1::CniAttachment& a) {
  if (absl::Status s = ValidateContainerId(obj, a.container_id()); !s.ok()) return s;
  return ValidateName(absl::StrCat(obj, ": ifname"), a.ifname());
}

absl::Status ValidatePrefix(absl::string_view obj, const std::string& prefix) {
  const size_t slash = prefix.find('/');
  bool ok = slash != std::string::npos;
  int family = AF_INET;
  uint32_t len = 0;
  if (ok) {
    const std::string ip = prefix.substr(0, slash);
    unsigned char buf[16];
    family = ip.find(':') == std::string::npos ? AF_INET : AF_INET6;
    ok = inet_pton(family, ip.c_str(), buf) == 1 &&
         absl::SimpleAtoi(prefix.substr(slash + 1), &len) &&
         prefix.find_first_not_of("0123456789", slash + 1) == std::string::npos &&
         len <= (family == AF_INET ? 32u : 128u);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": ip prefix ", Quote(prefix), ": not an IPv4 or IPv6 address with /length"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CanonicalIp(absl::string_view obj, absl::string_view what,
                                        const std::string& text) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  const int family = text.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (text.size() > 64 || inet_pton(family, text.c_str(), buf) != 1 ||
      inet_ntop(family, buf, out, sizeof(out)) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": ", what, " ",
                                                   Quote(text.substr(0, 64)),
                                                   ": not an IPv4 or IPv6 address"));
  }
  const bool zero = std::all_of(buf, buf + (family == AF_INET ? 4 : 16),
                                [](unsigned char b) { return b == 0; });
  const bool multicast = family == AF_INET ? (buf[0] & 0xf0) == 0xe0 : buf[0] == 0xff;
  if (zero || multicast) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": ", what, " ", Quote(text),
                                                   ": must be a unicast address"));
  }
  return std::string(out);
}

absl::StatusOr<std::vector<std::string>> ParsePeers(
    absl::string_view obj, const google::protobuf::RepeatedPtrField<std::string>& peers) {
  if (peers.size() > kMaxTunnelPeers) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": peers: ", peers.size(),
                                                   " given, at most ", kMaxTunnelPeers));
  }
  std::vector<std::string> out;
  for (const std::string& p : peers) {
    absl::StatusOr<std::string> ip = CanonicalIp(obj, "peer", p);
    if (!ip.ok()) return ip.status();
    out.push_back(*std::move(ip));
  }
  std::sort(out.begin(), out.end());
  if (auto dup = std::adjacent_find(out.begin(), out.end()); dup != out.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(obj, ": peer ", Quote(*dup), ": given twice"));
  }
  return out;
}

absl::StatusOr<VportSpec> VportSpecFromRequest(const v1::CreateVportRequest& req,
                                               const std::string& obj) {
  VportSpec spec;
  spec.name = req.name();
  if (!req.name().empty()) {
    if (absl::Status s = ValidateName(obj, req.name()); !s.ok()) return s;
  }
  if (!req.mac().empty()) {
    absl::StatusOr<Mac> mac = ParseMacField(obj, "mac", req.mac());
    if (!mac.ok()) return mac.status();
    if (*mac == 0 || IsMulticast(*mac)) {
      return absl::InvalidArgumentError(
          absl::StrCat(obj, ": mac ", Quote(req.mac()), ": must be a unicast, non-zero address"));
    }
    spec.mac = *mac;
  }
  if (req.has_mtu()) {
    if (req.mtu() < 68 || req.mtu() > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(obj, ": mtu ", req.mtu(), ": out of range 68..65535"));
    }
    spec.mtu = req.mtu();
  }
  absl::StatusOr<Backend> backend = BackendFromProto(obj, req.backend());
  if (!backend.ok()) return backend.status();
  if (req.has_tunnel() && req.kind() != v1::VPORT_KIND_TUNNEL) {
    return absl::InvalidArgumentError(
        absl::StrCat(obj, ": tunnel: only for TUNNEL vports"));
  }
  switch (req.kind()) {
    case v1::VPORT_KIND_HOST:
      if (req.has_pod()) {
        return absl::InvalidArgumentError(absl::StrCat(obj, ": pod: must be unset for a HOST vport"));
      }
      if (req.ip_prefixes_size() > 16) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": ip_prefixes: ", req.ip_prefixes_size(), " given, at most 16"));
      }
      for (const std::string& p : req.ip_prefixes()) {
        if (absl::Status s = ValidatePrefix(obj, p); !s.ok()) return s;
        spec.ip_prefixes.push_back(p);
      }
      spec.type = VportType::kHost;
      break;
    case v1::VPORT_KIND_POD: {
      if (!req.has_pod()) {
        return absl::InvalidArgumentError(absl::StrCat(obj, ": pod: required for a POD vport"));
      }
      if (req.ip_prefixes_size() > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": ip_prefixes: only for HOST vports"));
      }
      const v1::PodVport& pod = req.pod();
      if (pod.netns().empty() || pod.netns()[0] != '/' || pod.netns().size() > 4095) {
        return absl::InvalidArgumentError(absl::StrCat(
            obj, ": pod.netns ", Quote(pod.netns().substr(0, 64)),
            ": must be an absolute path of 1..4095 bytes"));
      }
      if (absl::Status s = ValidateAttachment(absl::StrCat(obj, ": pod.attachment"),
                                              pod.attachment());
          !s.ok()) {
        return s;
      }
      if (!v1::VportType_IsValid(pod.type())) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": pod.type ", pod.type(), ": unknown"));
      }
      spec.type = pod.type() == v1::VPORT_TYPE_TAP ? VportType::kPodTap : VportType::kPodVeth;
      spec.netns = pod.netns();
      spec.pod_ifname = pod.attachment().ifname();
      break;
    }
    case v1::VPORT_KIND_TUNNEL: {
      if (!req.has_tunnel()) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": tunnel: required for a TUNNEL vport"));
      }
      if (req.name().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": name: required for a TUNNEL vport"));
      }
      if (req.has_pod() || req.ip_prefixes_size() > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": pod and ip_prefixes: must be unset for a TUNNEL vport"));
      }
      const v1::TunnelVport& t = req.tunnel();
      if (t.vni() < 1 || t.vni() > 16777215) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": vni ", t.vni(), ": out of range 1..16777215"));
      }
      if (t.dstport() > 65535) {
        return absl::InvalidArgumentError(
            absl::StrCat(obj, ": dstport ", t.dstport(), ": out of range 1..65535"));
      }
      if (!t.local().empty()) {
        absl::StatusOr<std::string> local = CanonicalIp(obj, "local", t.local());
        if (!local.ok()) return local.status();
        spec.tunnel.local = *local;
      }
      if (!t.underlay().empty()) {
        if (absl::Status s = ValidateName(absl::StrCat(obj, ": underlay"), t.underlay());
            !s.ok()) {
          return s;
        }
        spec.tunnel.underlay = t.underlay();
      }
      absl::StatusOr<std::vector<std::string>> peers = ParsePeers(obj, t.peers());
      if (!peers.ok()) return peers.status();
      spec.tunnel.peers = *std::move(peers);
      absl::StatusOr<std::vector<std::string>> source =
          ParsePeers(absl::StrCat(obj, ": source_peers"), t.source_peers());
      if (!source.ok()) return source.status();
      for (const std::string& p : *source) {
        if (!std::binary_search(spec.tunnel.peers.begin(), spec.tunnel.peers.end(), p)) {
          return absl::InvalidArgumentError(
              absl::StrCat(obj, ": source_peers: ", p, " is not one of the peers"));
        }
      }
      spec.tunnel.source_peers = *std::move(source);
      spec.tunnel.vni = t.vni();
      spec.tunnel.dstport = t.dstport() == 0 ? 4789 : static_cast<uint16_t>(t.dstport());
      spec.type = VportType::kTunnel;
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(obj, ": kind ", v1::VportKind_Name(req.kind()).empty()
                                           ? absl::StrCat(req.kind())
                                           : v1::VportKind_Name(req.kind()),
                       ": must be VPORT_KIND_HOST, VPORT_KIND_POD or VPORT_KIND_TUNNEL"));
  }
  const bool tap = spec.type == VportType::kHost || spec.type == VportType::kPodTap;
  if (tap && *backend != Backend::kDefault && *backend != Backend::kTap) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": backend ", v1::Backend_Name(req.backend()), ": a TAP vport has only BACKEND_TAP"));
  }
  if (!tap && *backend == Backend::kTap) {
    return absl::InvalidArgumentError(
        absl::StrCat(obj, ": backend BACKEND_TAP: a veth or tunnel vport uses AF_PACKET or AF_XDP"));
  }
  return spec;
}

std::string PodVportName(const v1::CniAttachment& a) {
  const uint64_t h = Fnv1a(absl::StrCat(a.container_id(), "/", a.ifname()));
  return absl::StrFormat("vp%08x", static_cast<uint32_t>(h ^ (h >> 32)));
}

absl::StatusOr<AddressListing> ParseAddressListing(const v1::ListAddressesRequest& req) {
  AddressListing q;
  const std::string obj = BridgeObj(req.bridge(), "list addresses");
  if (absl::Status s = ValidateName(obj, req.bridge()); !s.ok()) return s;
  if (!req.port().empty()) {
    if (absl::Status s = ValidateName(absl::StrCat(obj, ": port filter"), req.port()); !s.ok()) {
      return s;
    }
  }
  if (req.has_vid()) {
    if (absl::Status s = ValidateVid(obj, "vid", req.vid()); !s.ok()) return s;
  }
  std::optional<Mac> mac;
  if (!req.mac().empty()) {
    absl::StatusOr<Mac> m = ParseMacField(obj, "mac", req.mac());
    if (!m.ok()) return m.status();
    mac = *m;
  }
  if (!v1::AddressType_IsValid(req.type())) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": type ", req.type(), " unknown"));
  }
  if (req.page_size() > kMaxAddressPage) {
    return absl::InvalidArgumentError(absl::StrCat(
        obj, ": page_size ", req.page_size(), " out of range 0..10000"));
  }
  const size_t page_size = req.page_size() == 0 ? 1000 : req.page_size();
  // Tokens: <filter fingerprint>.<vid>.<mac>, all hex; the position is the
  // last entry returned.
  const uint64_t fingerprint = Fnv1a(absl::StrCat(
      req.port(), "|", req.has_vid() ? static_cast<int>(req.vid()) : -1, "|",
      mac ? static_cast<int64_t>(*mac) : -1, "|", req.type()));
  std::optional<std::pair<uint16_t, Mac>> after;
  if (!req.page_token().empty()) {
    std::vector<std::string> parts = absl::StrSplit(req.page_token(), '.');
    uint64_t fp = 0, vid = 0, m = 0;
    if (parts.size() != 3 || !absl::SimpleHexAtoi(parts[0], &fp) ||
        !absl::SimpleHexAtoi(parts[1], &vid) || !absl::SimpleHexAtoi(parts[2], &m) ||
        vid > 4095 || m > 0xffffffffffffULL) {
      return absl::InvalidArgumentError(absl::StrCat(obj, ": invalid page_token"));
    }
    if (fp != fingerprint) {
      return absl::InvalidArgumentError(
          absl::StrCat(obj, ": page_token was issued for different filters"));
    }
    after = std::make_pair(static_cast<uint16_t>(vid), static_cast<Mac>(m));
  }
  q.obj = obj;
  q.port = req.port();
  if (req.has_vid()) q.vid = static_cast<uint16_t>(req.vid());
  q.mac = mac;
  q.type = req.type();
  q.page_size = page_size;
  q.after = after;
  q.fingerprint = fingerprint;
  return q;
}

std::string NextPageToken(const AddressListing& q, uint16_t vid, Mac mac) {
  return absl::StrFormat("%x.%x.%x", q.fingerprint, vid, mac);
}

absl::StatusOr<std::set<v1::EventType>> ParseWatchTypes(const v1::WatchEventsRequest& req) {
  if (!req.bridge().empty()) {
    if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "watch"), req.bridge());
        !s.ok()) {
      return s;
    }
  }
  std::set<v1::EventType> types;
  for (int t : req.types()) {
    if (t == v1::EVENT_TYPE_UNSPECIFIED || !v1::EventType_IsValid(t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("watch: types: ", t == 0 ? "EVENT_TYPE_UNSPECIFIED" : absl::StrCat(t),
                       " is not a valid filter"));
    }
    types.insert(static_cast<v1::EventType>(t));
  }
  return types;
}

}  // namespace veb::server

#include "server/peer_source.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/convert.h"
#include "server/validate.h"

namespace veb::server {
namespace {

constexpr char kFlag[] = "--tunnel_peers";
constexpr size_t kMaxPeerFileBytes = 1 << 20;

absl::Status Invalid(absl::string_view entry, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(kFlag, ": ", Quote(entry), ": ", reason));
}

// A DNS name as getaddrinfo will be given it: 1..253 bytes of letters,
// digits, '-', '_' and '.', no empty label.
bool ValidDnsName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(absl::StripSuffix(name, "."), '.')) {
    if (label.empty() || label.size() > 63) return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return false;
      }
    }
  }
  return true;
}

std::string SockaddrText(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN];
  const void* addr = nullptr;
  if (sa->sa_family == AF_INET) {
    addr = &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr;
  } else if (sa->sa_family == AF_INET6) {
    addr = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
  } else {
    return "";
  }
  if (inet_ntop(sa->sa_family, addr, buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

std::vector<std::string> SortedDistinct(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

absl::StatusOr<std::vector<std::string>> ResolveDns(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;      // A and AAAA
  hints.ai_socktype = SOCK_DGRAM;   // one result per address
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res);
  if (rc == EAI_NONAME || rc == EAI_NODATA) return std::vector<std::string>{};
  if (rc != 0) {
    const std::string why = rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc);
    return absl::UnavailableError(absl::StrCat("dns:", name, ": ", why));
  }
  std::vector<std::string> out;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const std::string text = SockaddrText(ai->ai_addr);
    if (text.empty()) continue;
    // Same rule as SetVportPeers: unicast only.
    if (absl::StatusOr<std::string> ip = CanonicalIp("dns", "address", text); ip.ok()) {
      out.push_back(*std::move(ip));
    }
  }
  freeaddrinfo(res);
  return SortedDistinct(std::move(out));
}

absl::StatusOr<std::vector<std::string>> ResolveFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::UnavailableError(absl::StrCat("file:", path, ": ", std::strerror(errno)));
  }
  std::string contents;
  contents.resize(kMaxPeerFileBytes + 1);
  in.read(contents.data(), static_cast<std::streamsize>(contents.size()));
  contents.resize(static_cast<size_t>(in.gcount()));
  if (contents.size() > kMaxPeerFileBytes) {
    return absl::UnavailableError(
        absl::StrCat("file:", path, ": larger than ", kMaxPeerFileBytes, " bytes"));
  }
  absl::StatusOr<std::vector<std::string>> peers = ParsePeerFile(path, contents);
  if (!peers.ok()) return absl::UnavailableError(peers.status().message());
  return peers;
}

}  // namespace

std::string PeerSourceSpec::Describe() const {
  switch (kind) {
    case PeerSourceKind::kDns:
      return absl::StrCat("dns:", target);
    case PeerSourceKind::kFile:
      return absl::StrCat("file:", target);
    case PeerSourceKind::kStatic:
      break;
  }
  return absl::StrCat("static:", absl::StrJoin(addresses, ","));
}

absl::StatusOr<std::vector<PeerSourceSpec>> ParsePeerSources(absl::string_view flag) {
  std::vector<PeerSourceSpec> out;
  for (absl::string_view raw : absl::StrSplit(flag, ';')) {
    const absl::string_view entry = absl::StripAsciiWhitespace(raw);
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) {
      return Invalid(entry, "expected VPORT=dns:NAME, VPORT=file:/PATH or VPORT=static:IP,...");
    }
    PeerSourceSpec spec;
    spec.vport = std::string(entry.substr(0, eq));
    if (absl::Status s = ValidateName(absl::StrCat(kFlag, ": vport ", Quote(spec.vport)),
                                      spec.vport);
        !s.ok()) {
      return s;
    }
    for (const PeerSourceSpec& other : out) {
      if (other.vport == spec.vport) {
        return Invalid(entry, absl::StrCat("vport ", Quote(spec.vport), " has a source already"));
      }
    }
    const absl::string_view source = entry.substr(eq + 1);
    const size_t colon = source.find(':');
    const absl::string_view kind =
        colon == absl::string_view::npos ? source : source.substr(0, colon);
    const absl::string_view arg =
        colon == absl::string_view::npos ? absl::string_view() : source.substr(colon + 1);
    if (kind == "dns") {
      if (!ValidDnsName(arg)) {
        return Invalid(entry, absl::StrCat("dns name ", Quote(arg),
                                           ": not a DNS name (1..253 bytes of letters, digits, "
                                           "'-', '_', dot-separated labels)"));
      }
      spec.kind = PeerSourceKind::kDns;
      spec.target = std::string(arg);
    } else if (kind == "file") {
      if (arg.empty() || arg[0] != '/') {
        return Invalid(entry, absl::StrCat("file ", Quote(arg), ": must be an absolute path"));
      }
      spec.kind = PeerSourceKind::kFile;
      spec.target = std::string(arg);
    } else if (kind == "static") {
      spec.kind = PeerSourceKind::kStatic;
      spec.target = std::string(arg);
      for (absl::string_view ip : absl::StrSplit(arg, ',')) {
        absl::StatusOr<std::string> canonical =
            CanonicalIp(absl::StrCat(kFlag, ": ", Quote(entry)), "peer", std::string(ip));
        if (!canonical.ok()) return canonical.status();
        spec.addresses.push_back(*std::move(canonical));
      }
      std::sort(spec.addresses.begin(), spec.addresses.end());
      if (auto dup = std::adjacent_find(spec.addresses.begin(), spec.addresses.end());
          dup != spec.addresses.end()) {
        return Invalid(entry, absl::StrCat("peer ", Quote(*dup), ": given twice"));
      }
      if (spec.addresses.size() > static_cast<size_t>(kMaxTunnelPeers)) {
        return Invalid(entry, absl::StrCat(spec.addresses.size(), " peers, at most ",
                                           kMaxTunnelPeers));
      }
    } else {
      return Invalid(entry, absl::StrCat("source kind ", Quote(kind),
                                         ": must be dns:, file: or static:"));
    }
    out.push_back(std::move(spec));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ParsePeerFile(absl::string_view path,
                                                       absl::string_view contents) {
  std::vector<std::string> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_no;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    absl::StatusOr<std::string> ip =
        CanonicalIp(absl::StrCat(path, ":", line_no), "peer", std::string(line));
    if (!ip.ok()) return ip.status();
    out.push_back(*std::move(ip));
  }
  return SortedDistinct(std::move(out));
}

absl::StatusOr<std::vector<std::string>> ResolvePeerSource(const PeerSourceSpec& spec) {
  switch (spec.kind) {
    case PeerSourceKind::kDns:
      return ResolveDns(spec.target);
    case PeerSourceKind::kFile:
      return ResolveFile(spec.target);
    case PeerSourceKind::kStatic:
      break;
  }
  return spec.addresses;
}

absl::StatusOr<std::set<std::string>> LocalAddresses() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return absl::UnavailableError(absl::StrCat("getifaddrs: ", std::strerror(errno)));
  }
  std::set<std::string> out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    std::string text = SockaddrText(i->ifa_addr);
    if (!text.empty()) out.insert(std::move(text));
  }
  freeifaddrs(list);
  return out;
}

}  // namespace veb::server

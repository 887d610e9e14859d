// Tunnel peers from a source (docs/design.md §14): the --tunnel_peers flag's
// parser, resolving one source once (a DNS name through getaddrinfo, a file
// of addresses, a static list) and the node's own addresses. No agent and no
// gRPC here: PeerRefresher (server/peer_refresher.h) runs these periodically
// and hands the result to the agent (Agent::SyncSourcePeers), which applies
// the difference.
//
// Thread-safety: the functions may be called from any thread (resolving
// blocks in getaddrinfo or file I/O).
#ifndef VEB_SERVER_PEER_SOURCE_H_
#define VEB_SERVER_PEER_SOURCE_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace veb::server {

enum class PeerSourceKind { kDns, kFile, kStatic };

// One `VPORT=KIND:ARG` entry of --tunnel_peers.
struct PeerSourceSpec {
  std::string vport;
  PeerSourceKind kind = PeerSourceKind::kStatic;
  // kDns: the name; kFile: the absolute path; kStatic: the flag's text.
  std::string target;
  // kStatic: the addresses, canonical (inet_ntop) and sorted.
  std::vector<std::string> addresses;

  // "dns:NAME", "file:PATH", "static:IP,IP".
  std::string Describe() const;
};

// Parses --tunnel_peers: entries `VPORT=dns:NAME`, `VPORT=file:/PATH`,
// `VPORT=static:IP[,IP...]`, separated by ';' (empty: none). A vport has at
// most one source. INVALID_ARGUMENT `--tunnel_peers: "<entry>": <reason>`.
absl::StatusOr<std::vector<PeerSourceSpec>> ParsePeerSources(absl::string_view flag);

// A peer file's contents: one address per line; '#' starts a comment; blank
// lines are skipped. Returns canonical, sorted, duplicates merged; else
// INVALID_ARGUMENT `<path>:<line>: "<text>": not an IPv4 or IPv6 address`.
absl::StatusOr<std::vector<std::string>> ParsePeerFile(absl::string_view path,
                                                       absl::string_view contents);

// Resolves `spec` once: canonical, sorted, distinct addresses. A DNS name
// (getaddrinfo, A and AAAA, the system resolver) that does not exist
// (EAI_NONAME) or has no addresses (EAI_NODATA) gives the empty set; every
// other failure (timeout, SERVFAIL, an unreadable or malformed file) is
// UNAVAILABLE, and the caller keeps the last set.
absl::StatusOr<std::vector<std::string>> ResolvePeerSource(const PeerSourceSpec& spec);

// Every IPv4/IPv6 address on an interface of the calling thread's network
// namespace (getifaddrs), canonical.
absl::StatusOr<std::set<std::string>> LocalAddresses();

}  // namespace veb::server

#endif  // VEB_SERVER_PEER_SOURCE_H_

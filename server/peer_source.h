// Tunnel peers from a source (docs/design.md §14): the --tunnel_peers flag's
// parser, resolving one source once (a DNS name through getaddrinfo, a file
// of addresses, a static list), and PeerTracker, which turns what a source
// produced into the difference to apply to the tunnel's peer set, leaving
// peers added by hand and the node's own addresses alone. No agent and no
// gRPC here: PeerRefresher (server/peer_refresher.h) runs these periodically
// and applies the result through the agent.
//
// Thread-safety: the free functions may be called from any thread (Resolve
// blocks in getaddrinfo or file I/O); a PeerTracker is not synchronised (one
// owner).
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

// What one source contributed to one tunnel's peer set, and the next change.
class PeerTracker {
 public:
  struct Plan {
    std::vector<std::string> add;  // sorted
    std::vector<std::string> del;  // sorted
    bool empty() const { return add.empty() && del.empty(); }
  };

  // The change that makes `current` (the tunnel's peers now, sorted) follow
  // `resolved` (the source's addresses) minus `self` (the node's own):
  // add what the source gives and the tunnel lacks; delete what this
  // tracker added earlier (its own peers) that the source no longer gives or
  // that became one of `self`. Peers it did not add are never deleted. The
  // first call adopts the peers in both `current` and the source's set as
  // its own (they were added by the source before a restart).
  Plan Next(const std::vector<std::string>& current, const std::vector<std::string>& resolved,
            const std::set<std::string>& self);
  // Records that `plan` (from the last Next with that `current`) was applied.
  void Applied(const Plan& plan);

  // Peers this tracker added (and that were still there at the last Next).
  const std::set<std::string>& owned() const { return owned_; }

 private:
  bool adopted_ = false;
  std::set<std::string> owned_;
};

}  // namespace veb::server

#endif  // VEB_SERVER_PEER_SOURCE_H_

// Keeps tunnel vports' peer sets in step with their sources (--tunnel_peers,
// docs/design.md §14). One background thread resolves every source each
// period with no agent lock held (getaddrinfo may take the resolver's
// timeout), then hands each tunnel the result without the node's own
// addresses (Agent::SyncSourcePeers: the difference against the peers the
// source added before, TunnelVport.source_peers, computed and applied under
// the agent's lock, saved in the state file with them, so hand-added peers
// are never taken and a restart forgets nothing). A tunnel that
// does not exist yet or is pending is retried the next period; a failed
// resolution keeps the peers as they are. Changes (peers added or removed)
// are logged each time; a source's state (ok, waiting, failing and why) only
// when it changes.
//
// Thread-safety: Start/Stop from one thread (vebd's main); Stats() from any
// thread (the metrics exposer) — it takes mu_, a leaf lock.
#ifndef VEB_SERVER_PEER_REFRESHER_H_
#define VEB_SERVER_PEER_REFRESHER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/agent.h"
#include "server/peer_source.h"

namespace veb::server {

class PeerRefresher {
 public:
  struct SourceStats {
    std::string vport;
    uint64_t peers = 0;             // the tunnel's peers after the last refresh
    uint64_t refresh_failures = 0;  // refreshes that did not resolve or apply
  };

  // `agent` must outlive the refresher; `log` gets one line per message.
  PeerRefresher(Agent* agent, std::vector<PeerSourceSpec> sources, absl::Duration period,
                std::function<void(const std::string&)> log);
  ~PeerRefresher();  // Stop()
  PeerRefresher(const PeerRefresher&) = delete;
  PeerRefresher& operator=(const PeerRefresher&) = delete;

  // Refreshes once at once, then every period, on a thread.
  void Start();
  // Ends the thread (a resolution under way is waited for).
  void Stop();
  // One refresh of every source (the thread's body; tests call it directly).
  void RefreshOnce();

  // Per source, in flag order.
  std::vector<SourceStats> Stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Source {
    PeerSourceSpec spec;
    std::string state;  // last logged state
  };
  // Refreshes one source: resolve (no lock), read the tunnel, apply.
  void Refresh(size_t i, const std::set<std::string>& local);
  void SetState(Source& s, const std::string& state);

  Agent* const agent_;
  const absl::Duration period_;
  const std::function<void(const std::string&)> log_;
  std::vector<Source> sources_;  // only the refresh thread touches these
  absl::Notification stop_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<SourceStats> stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace veb::server

#endif  // VEB_SERVER_PEER_REFRESHER_H_

// Prometheus metrics of the agent (docs/design.md §8), gathered at scrape time: the
// collector reads the dataplane's per-worker counters through Agent::Views()
// (summed when read); nothing is counted per packet here.
//
// Families (all labels bounded: bridge, port, reason, direction):
//   veb_addresses{bridge}                       gauge   MAC table entries
//   veb_addresses_max{bridge}                   gauge   max_addresses
//   veb_address_learned_total{bridge}           counter
//   veb_address_moved_total{bridge}             counter
//   veb_address_expired_total{bridge}           counter
//   veb_address_learn_refused_total{bridge,reason}  counter; reason
//       table_full | static_entry (LearnRefusedReason names, lowercase)
//   veb_port_receive_packets_total{bridge,port} counter (members and span ports)
//   veb_port_receive_bytes_total{bridge,port}   counter
//   veb_port_transmit_packets_total{bridge,port} counter
//   veb_port_transmit_bytes_total{bridge,port}  counter
//   veb_port_drops_total{bridge,port,direction,reason} counter; direction
//       "in" (received frames dropped on input) or "out" (copies this port
//       would have sent); reason = S11 names (link_down, ...). All 18 reasons
//       are exported for both directions, zeros included, so series exist
//       (and rate() works) from the first scrape.
//   veb_flooded_packets_total{bridge}           counter
//   veb_ports{bridge}                           gauge   member ports (span
//       ports not included; they have their own series in the port families)
//   veb_build_info{version}                     gauge   always 1
// PeerSourceCollector (only with --tunnel_peers; label vport, one per source):
//   veb_tunnel_peers{vport}                     gauge   the tunnel's peers after
//       the last refresh (hand-added ones included)
//   veb_tunnel_peer_refresh_failures_total{vport} counter refreshes that did not
//       resolve the source or could not apply the change
//
// Thread-safety: Collect() may run concurrently from the exposer's threads;
// it only takes the agent's reader lock.
#ifndef VEB_SERVER_METRICS_H_
#define VEB_SERVER_METRICS_H_

#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/agent.h"
#include "server/peer_refresher.h"

namespace veb::server {

inline constexpr char kVebVersion[] = "0.1.0";

class AgentCollector final : public prometheus::Collectable {
 public:
  // `agent` must outlive the collector.
  explicit AgentCollector(const Agent* agent) : agent_(agent) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Agent* const agent_;
};

class PeerSourceCollector final : public prometheus::Collectable {
 public:
  // `refresher` must outlive the collector.
  explicit PeerSourceCollector(const PeerRefresher* refresher) : refresher_(refresher) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const PeerRefresher* const refresher_;
};

// The text exposition of `collectable`, as /metrics serves it.
std::string MetricsText(const prometheus::Collectable& collectable);

}  // namespace veb::server

#endif  // VEB_SERVER_METRICS_H_

#include "server/metrics.h"

#include <sstream>

#include "dataplane/drop_reason.h"
#include "prometheus/text_serializer.h"

namespace veb::server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void Add(MetricFamily* f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f->type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f->metric.push_back(std::move(m));
}

}  // namespace

std::vector<MetricFamily> AgentCollector::Collect() const {
  const std::vector<BridgeView> views = agent_->Views();
  auto addresses = Family("veb_addresses", "MAC table entries.", MetricType::Gauge);
  auto addresses_max = Family("veb_addresses_max", "Maximum MAC table entries (max_addresses).",
                              MetricType::Gauge);
  auto learned = Family("veb_address_learned_total", "Dynamic MAC entries created by learning.",
                        MetricType::Counter);
  auto moved = Family("veb_address_moved_total", "Dynamic MAC entries moved to another port.",
                      MetricType::Counter);
  auto expired = Family("veb_address_expired_total", "Dynamic MAC entries expired.",
                        MetricType::Counter);
  auto refused = Family("veb_address_learn_refused_total",
                        "Frames whose source MAC was not learned, by reason.",
                        MetricType::Counter);
  auto rx_packets = Family("veb_port_receive_packets_total", "Frames received on the port.",
                           MetricType::Counter);
  auto rx_bytes = Family("veb_port_receive_bytes_total",
                         "Bytes received on the port (Ethernet frames without FCS).",
                         MetricType::Counter);
  auto tx_packets = Family("veb_port_transmit_packets_total", "Frames sent on the port.",
                           MetricType::Counter);
  auto tx_bytes = Family("veb_port_transmit_bytes_total",
                         "Bytes sent on the port (Ethernet frames without FCS).",
                         MetricType::Counter);
  auto drops = Family("veb_port_drops_total",
                      "Frames dropped on input (direction=in) or copies not sent on "
                      "output (direction=out), by reason.",
                      MetricType::Counter);
  auto backend_drops = Family("veb_port_backend_drops_total",
                              "Frames the port's backend lost before the bridge saw them "
                              "(not in veb_port_receive_packets_total), by reason.",
                              MetricType::Counter);
  auto flooded = Family("veb_flooded_packets_total", "Received frames flooded.",
                        MetricType::Counter);
  auto ports = Family("veb_ports", "Member ports of the bridge.", MetricType::Gauge);
  auto build = Family("veb_build_info", "Build information; always 1.", MetricType::Gauge);

  for (const BridgeView& v : views) {
    const ClientMetric::Label b{"bridge", v.name};
    Add(&addresses, {b}, static_cast<double>(v.addresses));
    Add(&addresses_max, {b}, v.config.max_addresses);
    Add(&learned, {b}, static_cast<double>(v.counters.learned));
    Add(&moved, {b}, static_cast<double>(v.counters.moved));
    Add(&expired, {b}, static_cast<double>(v.counters.expired));
    for (size_t i = 0; i < kNumLearnRefusals; ++i) {
      Add(&refused, {b, {"reason", LearnRefusalName(static_cast<LearnRefusal>(i))}},
          static_cast<double>(v.counters.refused[i]));
    }
    Add(&flooded, {b}, static_cast<double>(v.counters.flooded));
    Add(&ports, {b}, static_cast<double>(v.member_ports));
    for (const BridgeView::PortView& p : v.ports) {
      const ClientMetric::Label pl{"port", p.name};
      Add(&rx_packets, {b, pl}, static_cast<double>(p.counters.rx_packets));
      Add(&rx_bytes, {b, pl}, static_cast<double>(p.counters.rx_bytes));
      Add(&tx_packets, {b, pl}, static_cast<double>(p.counters.tx_packets));
      Add(&tx_bytes, {b, pl}, static_cast<double>(p.counters.tx_bytes));
      for (size_t i = 0; i < kNumDropReasons; ++i) {
        const char* reason = DropReasonName(static_cast<DropReason>(i));
        Add(&drops, {b, {"direction", "in"}, pl, {"reason", reason}},
            static_cast<double>(p.counters.in_drops[i]));
        Add(&drops, {b, {"direction", "out"}, pl, {"reason", reason}},
            static_cast<double>(p.counters.out_drops[i]));
      }
      const std::pair<const char*, uint64_t> losses[] = {
          {"overflow", p.backend.rx_kernel_drops},
          {"truncated", p.backend.rx_truncated},
          {"bad_vnet_hdr", p.backend.rx_bad_vnet},
          {"errors", p.backend.rx_errors}};
      for (const auto& [reason, n] : losses) {
        Add(&backend_drops, {b, pl, {"reason", reason}}, static_cast<double>(n));
      }
    }
  }
  Add(&build, {{"version", kVebVersion}}, 1);
  auto save_failures = Family("veb_state_save_failures_total",
                              "Configuration changes refused because the state file could "
                              "not be written.",
                              MetricType::Counter);
  Add(&save_failures, {}, static_cast<double>(agent_->save_failures()));

  std::vector<MetricFamily> out;
  for (MetricFamily* f : {&addresses, &addresses_max, &learned, &moved, &expired, &refused,
                          &rx_packets, &rx_bytes, &tx_packets, &tx_bytes, &drops,
                          &backend_drops, &flooded,
                          &ports, &build, &save_failures}) {
    out.push_back(std::move(*f));
  }
  return out;
}

std::vector<MetricFamily> PeerSourceCollector::Collect() const {
  auto peers = Family("veb_tunnel_peers",
                      "Peers of the tunnel vport after the last refresh of its source.",
                      MetricType::Gauge);
  auto failures = Family("veb_tunnel_peer_refresh_failures_total",
                         "Refreshes of the tunnel vport's peer source that failed (not "
                         "resolved, tunnel missing or pending, change refused).",
                         MetricType::Counter);
  for (const PeerRefresher::SourceStats& s : refresher_->Stats()) {
    Add(&peers, {{"vport", s.vport}}, static_cast<double>(s.peers));
    Add(&failures, {{"vport", s.vport}}, static_cast<double>(s.refresh_failures));
  }
  std::vector<MetricFamily> out;
  out.push_back(std::move(peers));
  out.push_back(std::move(failures));
  return out;
}

std::string MetricsText(const prometheus::Collectable& collectable) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collectable.Collect());
  return out.str();
}

}  // namespace veb::server

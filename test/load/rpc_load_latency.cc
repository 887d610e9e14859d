// rpc_load --mode=latency (see rpc_load.cc).
#include "test/load/rpc_load.h"

namespace rpc_load {

// ---- latency mode ------------------------------------------------------------------

int RunLatency() {
  std::vector<std::string> ports;
  int n = 0;
  if (absl::SimpleAtoi(absl::GetFlag(FLAGS_ports), &n)) {
    if (n < 1 || n > 4096) {
      std::cerr << "rpc_load: --ports=N: 1..4096\n";
      return 2;
    }
    for (int i = 0; i < n; ++i) ports.push_back(absl::StrCat(absl::GetFlag(FLAGS_port_prefix), i));
  } else {
    ports = absl::StrSplit(absl::GetFlag(FLAGS_ports), ',', absl::SkipEmpty());
  }
  if (ports.empty()) {
    std::cerr << "rpc_load: --ports: a count or a list of interfaces\n";
    return 2;
  }
  const std::string bridge = absl::GetFlag(FLAGS_bridge);
  const int naddr = absl::GetFlag(FLAGS_addresses);
  Latencies lat;
  Errors errors;
  Conn conn(absl::GetFlag(FLAGS_socket), 0, &lat, &errors);
  if (!conn.WaitConnected(10)) {
    std::cerr << "rpc_load: cannot connect to unix://" << absl::GetFlag(FLAGS_socket) << "\n";
    return 1;
  }
  {
    v1::CreateBridgeRequest req;
    req.set_name(bridge);
    req.mutable_settings()->set_max_addresses(
        std::max<uint32_t>(100, static_cast<uint32_t>(naddr) + 100));
    v1::CreateBridgeResponse resp;
    if (!conn.Call("CreateBridge", &Stub::CreateBridge, req, &resp)) {
      return 1;
    }
  }
  const TimePoint t_ports = Clock::now();
  for (const std::string& p : ports) {
    v1::AddPortRequest req;
    req.set_bridge(bridge);
    req.set_name(p);
    v1::AddPortResponse resp;
    conn.Call("AddPort", &Stub::AddPort, req, &resp);
  }
  const double ports_s = std::chrono::duration<double>(Clock::now() - t_ports).count();
  const TimePoint t_addr = Clock::now();
  for (int i = 0; i < naddr; ++i) {
    v1::AddStaticAddressRequest req;
    req.set_bridge(bridge);
    req.set_mac(Mac(0x02, 0x4c, 0xff, i >> 16, i >> 8, i));
    req.set_port(ports[static_cast<size_t>(i) % ports.size()]);
    req.set_vid(1);
    v1::AddStaticAddressResponse resp;
    conn.Call("AddStaticAddress", &Stub::AddStaticAddress, req, &resp);
  }
  const double addr_s = std::chrono::duration<double>(Clock::now() - t_addr).count();
  int bad = 0;
  for (int i = 0; i < absl::GetFlag(FLAGS_iterations); ++i) {
    v1::ListAddressesRequest req;
    req.set_bridge(bridge);
    req.set_page_size(static_cast<uint32_t>(absl::GetFlag(FLAGS_page_size)));
    v1::ListAddressesResponse resp;
    if (conn.Call("ListAddresses", &Stub::ListAddresses, req, &resp) &&
        resp.total_count() != static_cast<uint32_t>(naddr)) {
      if (++bad <= 3) {
        std::printf("mismatch: ListAddresses total_count %u, expected %d\n", resp.total_count(),
                    naddr);
      }
    }
  }
  for (int i = 0; i < absl::GetFlag(FLAGS_iterations); ++i) {
    v1::ListPortsRequest req;
    req.set_bridge(bridge);
    v1::ListPortsResponse resp;
    if (conn.Call("ListPorts", &Stub::ListPorts, req, &resp) &&
        resp.ports_size() != static_cast<int>(ports.size())) {
      if (++bad <= 6) {
        std::printf("mismatch: ListPorts %d ports, expected %zu\n", resp.ports_size(),
                    ports.size());
      }
    }
  }
  if (!absl::GetFlag(FLAGS_keep_bridge)) {
    v1::DeleteBridgeRequest req;
    req.set_name(bridge);
    req.set_force(true);
    v1::DeleteBridgeResponse resp;
    conn.Call("DeleteBridge", &Stub::DeleteBridge, req, &resp);
  }
  PrintLatencies("latency", lat, false);
  std::printf("latency: %zu AddPort in %.2f s, %d AddStaticAddress in %.2f s\n", ports.size(),
              ports_s, naddr, addr_s);
  std::printf("latency: %d errors, %d mismatches\n", errors.total, bad);
  return errors.total == 0 && bad == 0 ? 0 : 1;
}

}  // namespace rpc_load

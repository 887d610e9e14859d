// rpc_load: latency records, MAC strings, paging through addresses.
#include "test/load/rpc_load.h"

namespace rpc_load {

// Nearest-rank percentile of a sorted vector (q in (0, 1]).
double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::max<size_t>(1, std::min(rank, sorted.size()));
  return sorted[rank - 1];
}

void PrintLatencies(const std::string& label, const Latencies& lat, bool with_all) {
  std::vector<double> all;
  for (const auto& [name, v] : lat.ms) {
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    std::printf("%s %-18s n=%-6zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", label.c_str(),
                name.c_str(), s.size(), Percentile(s, 0.5), Percentile(s, 0.99), s.back());
    all.insert(all.end(), s.begin(), s.end());
  }
  if (with_all && !all.empty()) {
    std::sort(all.begin(), all.end());
    std::printf("%s %-18s n=%-6zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", label.c_str(), "all",
                all.size(), Percentile(all, 0.5), Percentile(all, 0.99), all.back());
  }
}

std::string Mac(int a, int b, int c, int d, int e, int f) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", a & 0xff, b & 0xff, c & 0xff,
                         d & 0xff, e & 0xff, f & 0xff);
}

// All entries of `bridge` matching `req`'s filters, every page.
bool ListAllAddresses(Conn& conn, v1::ListAddressesRequest req,
                      std::vector<v1::Address>* out) {
  for (int pages = 0; pages < 10000; ++pages) {
    v1::ListAddressesResponse resp;
    if (!conn.Call("ListAddresses", &Stub::ListAddresses, req, &resp)) {
      return false;
    }
    out->insert(out->end(), resp.addresses().begin(), resp.addresses().end());
    if (resp.next_page_token().empty()) return true;
    req.set_page_token(resp.next_page_token());
  }
  return false;
}

}  // namespace rpc_load

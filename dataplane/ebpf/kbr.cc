// kbr: a kernel-engine bridge without the agent, for experiments and
// benchmarks until vebd drives the engine. Each command adopts the bridge's
// pins (or loads the program) and exits; forwarding goes on without it.
//
//   kbr create <bridge> <interface>...   make or adopt; exactly these ports
//   kbr show <bridge> <interface>...     counters of these ports, addresses
//   kbr destroy <bridge>                 detach everything, remove the pins
//
// Thread-safety: a single-threaded program.
#include <cstdio>
#include <string>
#include <vector>

#include "dataplane/ebpf/kernel_bridge.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: kbr create <bridge> <interface>...\n"
               "       kbr show <bridge> <interface>...\n"
               "       kbr destroy <bridge>\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using veb::ebpf::KernelBridge;
  if (argc < 3) return Usage();
  const std::string cmd = argv[1];
  auto b = KernelBridge::Create(argv[2], {});
  if (!b.ok()) {
    std::fprintf(stderr, "kbr: %s\n", b.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "kbr: %s\n", (*b)->load_note().c_str());
  if (cmd == "create" || cmd == "show") {
    // Re-adding a pinned port updates it in place (no gap).
    for (int i = 3; i < argc; ++i) {
      auto p = veb::ebpf::NetdevPort::Open(argv[i]);
      if (!p.ok()) {
        std::fprintf(stderr, "kbr: %s\n", p.status().ToString().c_str());
        return 1;
      }
      auto r = (*b)->AddPort(*p, {});
      if (!r.ok()) {
        std::fprintf(stderr, "kbr: %s\n", r.status().ToString().c_str());
        return 1;
      }
    }
  }
  if (cmd == "create") {
    for (const std::string& gone : (*b)->FinishRestore()) {
      std::fprintf(stderr, "kbr: removed port %s\n", gone.c_str());
    }
    return 0;
  }
  if (cmd == "show") {
    for (const veb::PortInfo& p : (*b)->ListPorts()) {
      auto c = (*b)->GetPortCounters(p.name);
      std::printf("%s rx %lu unicast %lu flooded %lu drops %lu tx %lu\n", p.name.c_str(),
                  static_cast<unsigned long>(c->rx_packets), static_cast<unsigned long>(c->unicast),
                  static_cast<unsigned long>(c->flooded),
                  static_cast<unsigned long>(c->total_in_drops()),
                  static_cast<unsigned long>(c->tx_packets));
    }
    std::printf("addresses %zu\n", (*b)->address_count());
    return 0;
  }
  if (cmd == "destroy") {
    absl::Status s = (*b)->Destroy();
    if (!s.ok()) {
      std::fprintf(stderr, "kbr: %s\n", s.ToString().c_str());
      return 1;
    }
    return 0;
  }
  return Usage();
}

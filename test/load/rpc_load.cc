// rpc_load: a load and latency client for a running vebd (veb.v1.Switch over
// its unix socket). Not a test by itself: test/load/load_test.sh and
// test/bench/rpc_bench.sh run it against a vebd they start.
//
// --mode=load: --clients threads, each with its own channel (own connection),
// issue --rpcs mixed RPCs each against --bridge and its member ports --ports:
// reads (GetBridge, ListBridges, ListPorts, GetPort, ListAddresses, ListRules,
// GetPortCounters, ListCounters) and writes (UpdatePort toggling learning or
// discover, or adding/removing one of the client's own tagged VIDs;
// AddStaticAddress/DeleteAddress of client-unique MACs; AddRule/FlushRules;
// CreateBridge/DeleteBridge of client scratch bridges "<scratch_prefix><c>-<n>").
// Every RPC must succeed. Afterwards the configuration is checked against
// what the clients wrote (nothing dropped):
//   * each client's scratch bridges exist, with the max_addresses they were
//     created with, and no other bridge carries its prefix;
//   * each client's static addresses (02:4c:<client>:..) are exactly the ones
//     it added and did not delete, on the ports it gave;
//   * each client's tagged VIDs on each port are exactly its own (also checked
//     in every UpdatePort response: read-your-writes);
//   * rules (src 02:4d:<client>:..): every AddRule that began after every
//     FlushRules on its port had ended is listed, no rule whose AddRule ended
//     before a FlushRules on its port began is listed, none is listed twice,
//     and definitely-ordered AddRules keep their order;
//   * learning/discover of each port (registers written by several clients):
//     the final value is one written by a possibly-last UpdatePort (one that
//     ended after the latest start of any write of that flag).
// Then, with --restore_flags, learning and discover are set back to true on
// the ports, and with --cleanup everything the clients made is removed.
// Prints p50/p99/max per RPC type and "load: N rpcs, E errors, D config
// mismatches"; exits 1 when E or D > 0.
//
// --mode=latency: creates --bridge (max_addresses >= --addresses), adds
// --ports ports (a count N: interfaces <port_prefix>0..N-1, as vebd
// --fake_interfaces offers them; or a list) timing each AddPort, adds
// --addresses static addresses round-robin over the ports, then times
// --iterations ListAddresses (first page, --page_size) and ListPorts calls.
// Deletes the bridge with force at the end unless --keep_bridge. Prints
// "latency <RPC> n=.. p50_ms=.. p99_ms=.. max_ms=.." lines.
//
// Latencies: std::chrono::steady_clock around each blocking stub call.
// Threads: one per client; each owns its stub and records; the main thread
// merges after join (no shared mutable state while the load runs, except an
// atomic start flag and the immutable flag values).
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "test/load/rpc_load.h"

ABSL_FLAG(std::string, socket, "/run/veb/vebd.sock", "vebd's unix socket path");
ABSL_FLAG(std::string, mode, "load", "load | latency");
ABSL_FLAG(int, clients, 8, "load: concurrent clients (threads, one channel each), 1..64");
ABSL_FLAG(int, rpcs, 1000, "load: RPCs per client");
ABSL_FLAG(std::string, bridge, "veb0",
          "load: existing bridge holding --ports; latency: bridge to create");
ABSL_FLAG(std::string, ports, "",
          "load: IF1,IF2,... (existing member ports of --bridge); latency: a "
          "count N (interfaces <port_prefix>0..N-1) or a list of interfaces");
ABSL_FLAG(std::string, port_prefix, "fk", "latency: interface name prefix for --ports=N");
ABSL_FLAG(int, iterations, 200, "latency: ListAddresses/ListPorts calls timed");
ABSL_FLAG(int, addresses, 1000, "latency: static addresses added before listing");
ABSL_FLAG(int, page_size, 0, "latency: ListAddresses page_size (0 = server default)");
ABSL_FLAG(bool, keep_bridge, false, "latency: do not delete the bridge at the end");
ABSL_FLAG(std::string, scratch_prefix, "ld",
          "load: scratch bridges are <prefix><client>-<n> (prefix at most 6 bytes)");
ABSL_FLAG(int, max_scratch_bridges, 3, "load: scratch bridges per client at most");
ABSL_FLAG(int, max_static_per_client, 16, "load: static addresses per client at most");
ABSL_FLAG(int, vid, 1, "load: VID of the static addresses, 1..4094");
ABSL_FLAG(int, vid_base, 2000,
          "load: client c toggles tagged VIDs vid_base+16c .. vid_base+16c+15");
ABSL_FLAG(int, deadline_ms, 10000, "per-RPC deadline");
ABSL_FLAG(uint32_t, seed, 1, "load: RNG seed (client c uses seed + c)");
ABSL_FLAG(bool, restore_flags, true,
          "load: after the checks, set learning and discover back to true on --ports");
ABSL_FLAG(bool, cleanup, false,
          "load: after the checks, delete the scratch bridges, static addresses, "
          "rules and tagged VIDs the clients left");
ABSL_FLAG(int, max_error_lines, 20, "errors printed per RPC type (all are counted)");

using rpc_load::RunLatency;
using rpc_load::RunLoad;

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "rpc_load: load/latency client for a running vebd\n"
      "  rpc_load --socket=PATH --mode=load --clients=8 --rpcs=1000 --bridge=veb0 --ports=IF1,IF2\n"
      "  rpc_load --socket=PATH --mode=latency --bridge=lat0 --ports=1000 [--port_prefix=fk]");
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "load") return RunLoad();
  if (mode == "latency") return RunLatency();
  std::cerr << "rpc_load: --mode must be load or latency\n";
  return 2;
}

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
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "grpcpp/grpcpp.h"
#include "proto/veb/v1/switch.grpc.pb.h"

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

namespace {

namespace v1 = veb::v1;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Stub = v1::Switch::Stub;

// ---- latency records ---------------------------------------------------------

struct Latencies {
  std::map<std::string, std::vector<double>> ms;  // per RPC name
  void Add(const std::string& rpc, double v) { ms[rpc].push_back(v); }
  void Merge(const Latencies& o) {
    for (const auto& [k, v] : o.ms) ms[k].insert(ms[k].end(), v.begin(), v.end());
  }
};

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

// ---- one connection, timed calls ------------------------------------------------

struct Errors {
  std::map<std::string, int> count;  // per RPC name
  int total = 0;
};

class Conn {
 public:
  // `id` makes the channel's arguments unique, so each client gets its own
  // subchannel (connection) instead of sharing one.
  Conn(const std::string& socket, int id, Latencies* lat, Errors* errors)
      : lat_(lat), errors_(errors) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("veb.rpc_load.client", id);
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel("unix://" + socket, grpc::InsecureChannelCredentials(),
                                         args);
    stub_ = v1::Switch::NewStub(channel_);
  }

  bool WaitConnected(int seconds) {
    return channel_->WaitForConnected(std::chrono::system_clock::now() +
                                      std::chrono::seconds(seconds));
  }

  // Runs `call` with a fresh context and deadline, records its latency under
  // `rpc` and, on error, counts and prints it. `start`/`end` (optional)
  // receive the call's time interval.
  bool Call(const std::string& rpc, const std::function<grpc::Status(grpc::ClientContext*)>& call,
            TimePoint* start = nullptr, TimePoint* end = nullptr,
            grpc::StatusCode* code = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(absl::GetFlag(FLAGS_deadline_ms)));
    const TimePoint t0 = Clock::now();
    grpc::Status s = call(&ctx);
    const TimePoint t1 = Clock::now();
    if (start) *start = t0;
    if (end) *end = t1;
    if (code) *code = s.error_code();
    if (lat_) lat_->Add(rpc, std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (!s.ok()) {
      ++errors_->total;
      if (++errors_->count[rpc] <= absl::GetFlag(FLAGS_max_error_lines)) {
        std::cout << absl::StrFormat("error: %s: %s (code %d)\n", rpc, s.error_message(),
                                     static_cast<int>(s.error_code()))
                  << std::flush;
      }
    }
    return s.ok();
  }

  // Call(rpc, &Stub::Method, req, &resp, ...): Call above for one stub method.
  template <typename Req, typename Resp>
  bool Call(const std::string& rpc,
            grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
            const Req& req, Resp* resp, TimePoint* start = nullptr, TimePoint* end = nullptr,
            grpc::StatusCode* code = nullptr) {
    return Call(
        rpc, [&](grpc::ClientContext* c) { return (stub_.get()->*method)(c, req, resp); },
        start, end, code);
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Switch::Stub> stub_;
  Latencies* lat_;
  Errors* errors_;
};

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

// ---- load mode -------------------------------------------------------------------

struct FlagWrite {  // one UpdatePort of learning or discover
  TimePoint start, end;
  bool value;
  int client;
};

struct RuleAdd {  // one AddRule
  std::string port, src;
  TimePoint start, end;
  bool ok;  // false: failed, its effect is unknown
};

struct Flush {  // one FlushRules
  std::string port;
  TimePoint start, end;
  bool ok;
};

struct StaticAddr {
  std::string port;
};

struct Client {
  int id = 0;
  Latencies lat;
  Errors errors;
  int rpcs = 0;
  int mismatches = 0;  // read-your-writes failures seen during the load
  // Expected state written by this client.
  std::map<std::string, uint32_t> scratch;       // bridge -> max_addresses
  std::map<std::string, StaticAddr> statics;     // mac -> port
  std::map<std::string, std::set<uint32_t>> vids;  // port -> own tagged VIDs
  int next_bridge = 0, next_mac = 0, next_rule = 0;
  // Histories checked across clients.
  std::map<std::pair<std::string, std::string>, std::vector<FlagWrite>> flag_writes;
  std::vector<RuleAdd> rule_adds;
  std::vector<Flush> flushes;
};

std::string ScratchPrefix(int client) {
  return absl::StrCat(absl::GetFlag(FLAGS_scratch_prefix), client, "-");
}
std::string StaticPrefix(int client) { return absl::StrFormat("02:4c:%02x:", client); }
uint32_t VidLo(int client) { return absl::GetFlag(FLAGS_vid_base) + 16 * client; }

void Mismatch(Client* cl, const std::string& what) {
  ++cl->mismatches;
  std::cout << "mismatch: client " << cl->id << ": " << what << "\n" << std::flush;
}

void RunClient(Client* cl, const std::vector<std::string>& ports,
               const std::atomic<bool>* go) {
  const std::string bridge = absl::GetFlag(FLAGS_bridge);
  Conn conn(absl::GetFlag(FLAGS_socket), cl->id, &cl->lat, &cl->errors);
  conn.WaitConnected(10);
  std::mt19937 rng(absl::GetFlag(FLAGS_seed) + static_cast<uint32_t>(cl->id));
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  auto any_port = [&]() -> const std::string& {
    return ports[pick(static_cast<int>(ports.size()))];
  };
  const int max_scratch = absl::GetFlag(FLAGS_max_scratch_bridges);
  const int max_static = absl::GetFlag(FLAGS_max_static_per_client);
  const uint32_t vid = static_cast<uint32_t>(absl::GetFlag(FLAGS_vid));

  // Initial tagged VIDs of this client's range (left by an earlier run).
  for (const std::string& p : ports) {
    v1::GetPortRequest req;
    req.set_bridge(bridge);
    req.set_name(p);
    v1::GetPortResponse resp;
    if (conn.Call("GetPort", &Stub::GetPort, req, &resp)) {
      for (uint32_t v : resp.port().tagged_vids()) {
        if (v >= VidLo(cl->id) && v < VidLo(cl->id) + 16) cl->vids[p].insert(v);
      }
    }
  }
  cl->lat.ms.clear();  // the set-up reads are not timed (their errors count)

  while (!go->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  // Weighted mix (weights sum to 100).
  enum Op {
    kGetBridge, kListBridges, kListPorts, kGetPort, kUpdatePortFlag, kUpdatePortVid,
    kListAddresses, kAddStatic, kDeleteAddress, kAddRule, kFlushRules, kListRules,
    kGetPortCounters, kListCounters, kCreateBridge, kDeleteBridge,
  };
  static const std::vector<std::pair<Op, int>> kMix = {
      {kGetBridge, 8},      {kListBridges, 3},     {kListPorts, 6},      {kGetPort, 8},
      {kUpdatePortFlag, 7}, {kUpdatePortVid, 7},   {kListAddresses, 8},  {kAddStatic, 10},
      {kDeleteAddress, 7},  {kAddRule, 8},         {kFlushRules, 3},     {kListRules, 3},
      {kGetPortCounters, 8}, {kListCounters, 6},   {kCreateBridge, 5},   {kDeleteBridge, 3},
  };
  int total_weight = 0;
  for (const auto& [op, w] : kMix) total_weight += w;

  for (int i = 0; i < absl::GetFlag(FLAGS_rpcs); ++i) {
    int r = pick(total_weight);
    Op op = kGetBridge;
    for (const auto& [o, w] : kMix) {
      if (r < w) { op = o; break; }
      r -= w;
    }
    // Keep the per-client state bounded.
    const int nscratch = static_cast<int>(cl->scratch.size());
    const int nstatic = static_cast<int>(cl->statics.size());
    if (op == kCreateBridge && nscratch >= max_scratch) op = kDeleteBridge;
    if (op == kDeleteBridge && cl->scratch.empty()) op = kCreateBridge;
    if (op == kAddStatic && nstatic >= max_static) op = kDeleteAddress;
    if (op == kDeleteAddress && cl->statics.empty()) op = kAddStatic;
    ++cl->rpcs;

    switch (op) {
      case kGetBridge: {
        // Own scratch bridge half the time: it must be there.
        v1::GetBridgeRequest req;
        req.set_name(bridge);
        if (!cl->scratch.empty() && pick(2) == 0) {
          auto it = cl->scratch.begin();
          std::advance(it, pick(static_cast<int>(cl->scratch.size())));
          req.set_name(it->first);
        }
        v1::GetBridgeResponse resp;
        if (conn.Call("GetBridge", &Stub::GetBridge, req, &resp)) {
          auto it = cl->scratch.find(req.name());
          if (it != cl->scratch.end() && resp.bridge().max_addresses() != it->second) {
            Mismatch(cl, absl::StrCat("GetBridge ", req.name(), ": max_addresses ",
                                      resp.bridge().max_addresses(), ", created with ",
                                      it->second));
          }
        }
        break;
      }
      case kListBridges: {
        v1::ListBridgesRequest req;
        v1::ListBridgesResponse resp;
        conn.Call("ListBridges", &Stub::ListBridges, req, &resp);
        break;
      }
      case kListPorts: {
        v1::ListPortsRequest req;
        req.set_bridge(bridge);
        v1::ListPortsResponse resp;
        conn.Call("ListPorts", &Stub::ListPorts, req, &resp);
        break;
      }
      case kGetPort: {
        v1::GetPortRequest req;
        req.set_bridge(bridge);
        req.set_name(any_port());
        v1::GetPortResponse resp;
        conn.Call("GetPort", &Stub::GetPort, req, &resp);
        break;
      }
      case kUpdatePortFlag: {
        v1::UpdatePortRequest req;
        req.set_bridge(bridge);
        req.set_name(any_port());
        const bool learning = pick(2) == 0;
        const bool value = pick(2) == 0;
        if (learning) {
          req.mutable_settings()->set_learning(value);
        } else {
          req.mutable_settings()->set_discover(value);
        }
        v1::UpdatePortResponse resp;
        FlagWrite w;
        w.value = value;
        w.client = cl->id;
        if (conn.Call("UpdatePort", &Stub::UpdatePort, req, &resp,
                      &w.start, &w.end)) {
          cl->flag_writes[{req.name(), learning ? "learning" : "discover"}].push_back(w);
        }
        break;
      }
      case kUpdatePortVid: {
        const std::string& port = any_port();
        std::set<uint32_t>& mine = cl->vids[port];
        const uint32_t v = VidLo(cl->id) + static_cast<uint32_t>(pick(16));
        v1::UpdatePortRequest req;
        req.set_bridge(bridge);
        req.set_name(port);
        const bool add = mine.count(v) == 0;
        if (add) {
          req.add_add_tagged_vids(v);
        } else {
          req.add_remove_tagged_vids(v);
        }
        v1::UpdatePortResponse resp;
        if (conn.Call("UpdatePort", &Stub::UpdatePort, req, &resp)) {
          if (add) {
            mine.insert(v);
          } else {
            mine.erase(v);
          }
          std::set<uint32_t> got;
          for (uint32_t t : resp.port().tagged_vids()) {
            if (t >= VidLo(cl->id) && t < VidLo(cl->id) + 16) got.insert(t);
          }
          if (got != mine) {
            Mismatch(cl, absl::StrCat("UpdatePort ", port, " response: own tagged VIDs {",
                                      absl::StrJoin(got, ","), "}, expected {",
                                      absl::StrJoin(mine, ","), "}"));
          }
        }
        break;
      }
      case kListAddresses: {
        v1::ListAddressesRequest req;
        req.set_bridge(bridge);
        std::string want;
        if (!cl->statics.empty() && pick(2) == 0) {
          auto it = cl->statics.begin();
          std::advance(it, pick(static_cast<int>(cl->statics.size())));
          want = it->first;
          req.set_mac(want);
        }
        v1::ListAddressesResponse resp;
        if (conn.Call("ListAddresses", &Stub::ListAddresses, req, &resp) &&
            !want.empty()) {
          bool found = false;
          for (const v1::Address& a : resp.addresses()) {
            found |= a.mac() == want && a.type() == v1::ADDRESS_TYPE_STATIC &&
                     a.port() == cl->statics[want].port;
          }
          if (!found) {
            Mismatch(cl, absl::StrCat("ListAddresses mac ", want, ": own static entry missing"));
          }
        }
        break;
      }
      case kAddStatic: {
        const int n = cl->next_mac++;
        v1::AddStaticAddressRequest req;
        req.set_bridge(bridge);
        req.set_mac(Mac(0x02, 0x4c, cl->id, n >> 16, n >> 8, n));
        req.set_port(any_port());
        req.set_vid(vid);
        v1::AddStaticAddressResponse resp;
        if (conn.Call("AddStaticAddress", &Stub::AddStaticAddress, req, &resp)) {
          cl->statics[req.mac()] = StaticAddr{req.port()};
        }
        break;
      }
      case kDeleteAddress: {
        auto it = cl->statics.begin();
        std::advance(it, pick(static_cast<int>(cl->statics.size())));
        v1::DeleteAddressRequest req;
        req.set_bridge(bridge);
        req.set_mac(it->first);
        req.set_vid(vid);
        v1::DeleteAddressResponse resp;
        grpc::StatusCode code;
        if (conn.Call("DeleteAddress", &Stub::DeleteAddress, req, &resp,
                      nullptr, nullptr, &code) ||
            code == grpc::StatusCode::NOT_FOUND) {
          cl->statics.erase(it);  // NOT_FOUND (an error, counted): it is gone anyway
        }
        break;
      }
      case kAddRule: {
        const int n = cl->next_rule++;
        RuleAdd ra;
        ra.port = any_port();
        ra.src = Mac(0x02, 0x4d, cl->id, n >> 8, n, 0);
        v1::AddRuleRequest req;
        req.set_bridge(bridge);
        req.set_port(ra.port);
        req.mutable_rule()->set_action(v1::RULE_ACTION_BLOCK);
        req.mutable_rule()->set_direction(v1::RULE_DIRECTION_IN);
        req.mutable_rule()->set_src(ra.src);
        v1::AddRuleResponse resp;
        ra.ok = conn.Call("AddRule", &Stub::AddRule, req, &resp,
                          &ra.start, &ra.end);
        cl->rule_adds.push_back(ra);
        break;
      }
      case kFlushRules: {
        Flush f;
        f.port = any_port();
        v1::FlushRulesRequest req;
        req.set_bridge(bridge);
        req.set_port(f.port);
        v1::FlushRulesResponse resp;
        f.ok = conn.Call("FlushRules", &Stub::FlushRules, req, &resp,
                         &f.start, &f.end);
        cl->flushes.push_back(f);
        break;
      }
      case kListRules: {
        v1::ListRulesRequest req;
        req.set_bridge(bridge);
        if (pick(2) == 0) req.set_port(any_port());
        v1::ListRulesResponse resp;
        conn.Call("ListRules", &Stub::ListRules, req, &resp);
        break;
      }
      case kGetPortCounters: {
        v1::GetPortCountersRequest req;
        req.set_bridge(bridge);
        req.set_port(any_port());
        v1::GetPortCountersResponse resp;
        conn.Call("GetPortCounters", &Stub::GetPortCounters, req, &resp);
        break;
      }
      case kListCounters: {
        v1::ListCountersRequest req;
        if (pick(2) == 0) req.set_bridge(bridge);
        v1::ListCountersResponse resp;
        conn.Call("ListCounters", &Stub::ListCounters, req, &resp);
        break;
      }
      case kCreateBridge: {
        v1::CreateBridgeRequest req;
        req.set_name(absl::StrCat(ScratchPrefix(cl->id), cl->next_bridge++));
        const uint32_t maxaddr = 100 + static_cast<uint32_t>(pick(4900));
        req.mutable_settings()->set_max_addresses(maxaddr);
        v1::CreateBridgeResponse resp;
        if (conn.Call("CreateBridge", &Stub::CreateBridge, req, &resp)) {
          cl->scratch[req.name()] = maxaddr;
        }
        break;
      }
      case kDeleteBridge: {
        auto it = cl->scratch.begin();
        std::advance(it, pick(static_cast<int>(cl->scratch.size())));
        v1::DeleteBridgeRequest req;
        req.set_name(it->first);
        v1::DeleteBridgeResponse resp;
        grpc::StatusCode code;
        if (conn.Call("DeleteBridge", &Stub::DeleteBridge, req, &resp,
                      nullptr, nullptr, &code) ||
            code == grpc::StatusCode::NOT_FOUND) {
          cl->scratch.erase(it);
        }
        break;
      }
    }
  }
}

// The checks after the load, from one connection. Returns the mismatches.
int VerifyLoad(std::vector<Client>& clients, const std::vector<std::string>& ports,
               Conn& conn) {
  const std::string bridge = absl::GetFlag(FLAGS_bridge);
  int bad = 0;
  auto mismatch = [&](const std::string& what) {
    ++bad;
    std::cout << "mismatch: " << what << "\n";
  };

  // Scratch bridges.
  v1::ListBridgesResponse bridges;
  if (!conn.Call("ListBridges", &Stub::ListBridges, v1::ListBridgesRequest(), &bridges)) {
    mismatch("ListBridges failed; cannot check scratch bridges");
  } else {
    for (Client& cl : clients) {
      std::map<std::string, uint32_t> got;
      for (const v1::Bridge& b : bridges.bridges()) {
        if (absl::StartsWith(b.name(), ScratchPrefix(cl.id))) got[b.name()] = b.max_addresses();
      }
      if (got != cl.scratch) {
        std::vector<std::string> g, w;
        for (const auto& [n, m] : got) g.push_back(absl::StrCat(n, "/", m));
        for (const auto& [n, m] : cl.scratch) w.push_back(absl::StrCat(n, "/", m));
        mismatch(absl::StrCat("client ", cl.id, ": scratch bridges {", absl::StrJoin(g, " "),
                              "}, expected {", absl::StrJoin(w, " "), "}"));
      }
    }
  }

  // Static addresses.
  v1::ListAddressesRequest lreq;
  lreq.set_bridge(bridge);
  lreq.set_type(v1::ADDRESS_TYPE_STATIC);
  std::vector<v1::Address> statics;
  if (!ListAllAddresses(conn, lreq, &statics)) {
    mismatch("ListAddresses failed; cannot check static addresses");
  } else {
    for (Client& cl : clients) {
      std::map<std::string, std::string> got, want;
      for (const v1::Address& a : statics) {
        if (absl::StartsWith(a.mac(), StaticPrefix(cl.id))) {
          if (got.count(a.mac())) {
            mismatch(absl::StrCat("client ", cl.id, ": ", a.mac(), " listed twice"));
          }
          got[a.mac()] = absl::StrCat(a.port(), "/vid", a.vid());
        }
      }
      for (const auto& [mac, s] : cl.statics) {
        want[mac] = absl::StrCat(s.port, "/vid", absl::GetFlag(FLAGS_vid));
      }
      if (got != want) {
        std::vector<std::string> missing, extra;
        for (const auto& [m, p] : want) {
          auto it = got.find(m);
          if (it == got.end() || it->second != p) missing.push_back(absl::StrCat(m, "@", p));
        }
        for (const auto& [m, p] : got) {
          auto it = want.find(m);
          if (it == want.end() || it->second != p) extra.push_back(absl::StrCat(m, "@", p));
        }
        mismatch(absl::StrCat("client ", cl.id, ": static addresses: missing {",
                              absl::StrJoin(missing, " "), "}, unexpected {",
                              absl::StrJoin(extra, " "), "}"));
      }
    }
  }

  // Ports: tagged VIDs (per client) and learning/discover (shared registers).
  std::map<std::pair<std::string, std::string>, std::vector<FlagWrite>> writes;
  for (Client& cl : clients) {
    for (const auto& [k, v] : cl.flag_writes) writes[k].insert(writes[k].end(), v.begin(), v.end());
  }
  for (const std::string& p : ports) {
    v1::GetPortRequest req;
    req.set_bridge(bridge);
    req.set_name(p);
    v1::GetPortResponse resp;
    if (!conn.Call("GetPort", &Stub::GetPort, req, &resp)) {
      mismatch(absl::StrCat("GetPort ", p, " failed; cannot check it"));
      continue;
    }
    for (Client& cl : clients) {
      std::set<uint32_t> got;
      for (uint32_t t : resp.port().tagged_vids()) {
        if (t >= VidLo(cl.id) && t < VidLo(cl.id) + 16) got.insert(t);
      }
      if (got != cl.vids[p]) {
        mismatch(absl::StrCat("client ", cl.id, ": port ", p, ": own tagged VIDs {",
                              absl::StrJoin(got, ","), "}, expected {",
                              absl::StrJoin(cl.vids[p], ","), "}"));
      }
    }
    for (const char* flag : {"learning", "discover"}) {
      const std::vector<FlagWrite>& w = writes[{p, flag}];
      if (w.empty()) continue;
      const bool got = std::string(flag) == "learning" ? resp.port().learning()
                                                       : resp.port().discover();
      TimePoint latest_start = w[0].start;
      for (const FlagWrite& x : w) latest_start = std::max(latest_start, x.start);
      bool allowed = false;
      int candidates = 0;
      for (const FlagWrite& x : w) {
        if (x.end >= latest_start) {
          ++candidates;
          allowed |= x.value == got;
        }
      }
      if (!allowed) {
        mismatch(absl::StrCat("port ", p, ": ", flag, " is ", got ? "true" : "false",
                              ", but none of the ", candidates,
                              " possibly-last UpdatePort calls wrote that"));
      }
    }
  }

  // Rules.
  std::vector<RuleAdd> adds;
  std::vector<Flush> flushes;
  for (Client& cl : clients) {
    adds.insert(adds.end(), cl.rule_adds.begin(), cl.rule_adds.end());
    flushes.insert(flushes.end(), cl.flushes.begin(), cl.flushes.end());
  }
  for (const std::string& p : ports) {
    v1::ListRulesRequest req;
    req.set_bridge(bridge);
    req.set_port(p);
    v1::ListRulesResponse resp;
    if (!conn.Call("ListRules", &Stub::ListRules, req, &resp)) {
      mismatch(absl::StrCat("ListRules ", p, " failed; cannot check rules"));
      continue;
    }
    std::map<std::string, uint32_t> listed;  // src -> index
    for (const v1::Rule& r : resp.rules()) {
      if (!absl::StartsWith(r.src(), "02:4d:")) continue;
      if (listed.count(r.src())) {
        mismatch(absl::StrCat("port ", p, ": rule src ", r.src(), " listed twice"));
      }
      listed[r.src()] = r.index();
    }
    std::map<std::string, const RuleAdd*> mine;
    for (const RuleAdd& a : adds) {
      if (a.port == p) mine[a.src] = &a;
    }
    for (const auto& [src, idx] : listed) {
      if (!mine.count(src)) {
        mismatch(absl::StrCat("port ", p, ": rule src ", src, " was never added here"));
      }
    }
    int lost = 0, resurrected = 0;
    for (const auto& [src, a] : mine) {
      if (!a->ok) continue;
      bool after_all = true, flushed_after = false;
      for (const Flush& f : flushes) {
        if (f.port != p) continue;
        if (!(a->start > f.end)) after_all = false;
        if (f.ok && f.start > a->end) flushed_after = true;
      }
      const bool present = listed.count(src) > 0;
      if (after_all && !present) {
        if (++lost <= 5) {
          mismatch(absl::StrCat("port ", p, ": rule src ", src,
                                " added after every flush but missing"));
        }
      }
      if (flushed_after && present) {
        if (++resurrected <= 5) {
          mismatch(absl::StrCat("port ", p, ": rule src ", src,
                                " listed though a later FlushRules ran"));
        }
      }
    }
    if (lost > 5) mismatch(absl::StrCat("port ", p, ": ", lost - 5, " more rules missing"));
    if (resurrected > 5) {
      mismatch(absl::StrCat("port ", p, ": ", resurrected - 5, " more rules survived a flush"));
    }
    // Order: definitely-ordered adds keep their order.
    std::vector<std::pair<const RuleAdd*, uint32_t>> present;
    for (const auto& [src, idx] : listed) {
      if (mine.count(src)) present.emplace_back(mine[src], idx);
    }
    int disorder = 0;
    for (const auto& x : present) {
      for (const auto& y : present) {
        if (x.first->end < y.first->start && x.second > y.second) ++disorder;
      }
    }
    if (disorder > 0) {
      mismatch(absl::StrCat("port ", p, ": ", disorder, " rule pairs out of order"));
    }
  }
  return bad;
}

void Cleanup(std::vector<Client>& clients, const std::vector<std::string>& ports, Conn& conn) {
  const std::string bridge = absl::GetFlag(FLAGS_bridge);
  for (Client& cl : clients) {
    for (const auto& [name, m] : cl.scratch) {
      v1::DeleteBridgeRequest req;
      req.set_name(name);
      req.set_force(true);
      v1::DeleteBridgeResponse resp;
      conn.Call("DeleteBridge", &Stub::DeleteBridge, req, &resp);
    }
    for (const auto& [mac, s] : cl.statics) {
      v1::DeleteAddressRequest req;
      req.set_bridge(bridge);
      req.set_mac(mac);
      v1::DeleteAddressResponse resp;
      conn.Call("DeleteAddress", &Stub::DeleteAddress, req, &resp);
    }
  }
  for (const std::string& p : ports) {
    v1::FlushRulesRequest fr;
    fr.set_bridge(bridge);
    fr.set_port(p);
    v1::FlushRulesResponse frr;
    conn.Call("FlushRules", &Stub::FlushRules, fr, &frr);
    v1::UpdatePortRequest req;
    req.set_bridge(bridge);
    req.set_name(p);
    for (Client& cl : clients) {
      for (uint32_t v : cl.vids[p]) req.add_remove_tagged_vids(v);
    }
    if (req.remove_tagged_vids_size() == 0) continue;
    v1::UpdatePortResponse resp;
    conn.Call("UpdatePort", &Stub::UpdatePort, req, &resp);
  }
}

int RunLoad() {
  const std::vector<std::string> ports =
      absl::StrSplit(absl::GetFlag(FLAGS_ports), ',', absl::SkipEmpty());
  const int nclients = absl::GetFlag(FLAGS_clients);
  if (ports.empty()) {
    std::cerr << "rpc_load: --ports: give the member ports to use (IF1,IF2,...)\n";
    return 2;
  }
  if (nclients < 1 || nclients > 64 || absl::GetFlag(FLAGS_scratch_prefix).size() > 6) {
    std::cerr << "rpc_load: --clients 1..64, --scratch_prefix at most 6 bytes\n";
    return 2;
  }
  const std::string bridge = absl::GetFlag(FLAGS_bridge);

  // Leftovers of an earlier run would make the expected state wrong.
  Errors setup_errors;
  Conn conn(absl::GetFlag(FLAGS_socket), -1, nullptr, &setup_errors);
  if (!conn.WaitConnected(10)) {
    std::cerr << "rpc_load: cannot connect to unix://" << absl::GetFlag(FLAGS_socket) << "\n";
    return 1;
  }
  {
    v1::ListBridgesResponse resp;
    if (!conn.Call("ListBridges", &Stub::ListBridges, v1::ListBridgesRequest(), &resp)) {
      return 1;
    }
    for (const v1::Bridge& b : resp.bridges()) {
      for (int c = 0; c < nclients; ++c) {
        if (absl::StartsWith(b.name(), ScratchPrefix(c))) {
          std::cerr << "rpc_load: bridge " << b.name()
                    << " left by an earlier run (use another --scratch_prefix)\n";
          return 1;
        }
      }
    }
    v1::ListAddressesRequest req;
    req.set_bridge(bridge);
    req.set_type(v1::ADDRESS_TYPE_STATIC);
    std::vector<v1::Address> addrs;
    if (!ListAllAddresses(conn, req, &addrs)) return 1;
    for (const v1::Address& a : addrs) {
      if (absl::StartsWith(a.mac(), "02:4c:")) {
        std::cerr << "rpc_load: static address " << a.mac() << " left by an earlier run\n";
        return 1;
      }
    }
    v1::ListRulesRequest rreq;
    rreq.set_bridge(bridge);
    v1::ListRulesResponse rresp;
    if (!conn.Call("ListRules", &Stub::ListRules, rreq, &rresp)) {
      return 1;
    }
    for (const v1::Rule& r : rresp.rules()) {
      if (absl::StartsWith(r.src(), "02:4d:")) {
        std::cerr << "rpc_load: rule src " << r.src() << " on " << r.port()
                  << " left by an earlier run\n";
        return 1;
      }
    }
  }

  std::vector<Client> clients(static_cast<size_t>(nclients));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < nclients; ++c) {
    clients[c].id = c;
    threads.emplace_back(RunClient, &clients[c], std::cref(ports), &go);
  }
  // Let every client connect and read its initial state first.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const TimePoint t0 = Clock::now();
  go = true;
  for (std::thread& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  Latencies lat;
  Errors errors;
  int rpcs = 0, mismatches = 0;
  for (Client& cl : clients) {
    lat.Merge(cl.lat);
    rpcs += cl.rpcs;
    mismatches += cl.mismatches;
    errors.total += cl.errors.total;
    for (const auto& [k, v] : cl.errors.count) errors.count[k] += v;
  }
  PrintLatencies("load", lat, true);
  std::printf("load: %d clients x %d rpcs in %.2f s (%.0f rpc/s)\n", nclients,
              absl::GetFlag(FLAGS_rpcs), secs, rpcs / secs);
  for (const auto& [k, v] : errors.count) {
    if (v > 0) std::printf("errors: %s %d\n", k.c_str(), v);
  }

  Errors verify_errors;
  Conn vconn(absl::GetFlag(FLAGS_socket), -2, nullptr, &verify_errors);
  mismatches += VerifyLoad(clients, ports, vconn);
  if (verify_errors.total > 0) std::printf("errors: during the checks %d\n", verify_errors.total);

  Errors after_errors;
  Conn aconn(absl::GetFlag(FLAGS_socket), -3, nullptr, &after_errors);
  if (absl::GetFlag(FLAGS_restore_flags)) {
    for (const std::string& p : ports) {
      v1::UpdatePortRequest req;
      req.set_bridge(bridge);
      req.set_name(p);
      req.mutable_settings()->set_learning(true);
      req.mutable_settings()->set_discover(true);
      v1::UpdatePortResponse resp;
      aconn.Call("UpdatePort", &Stub::UpdatePort, req, &resp);
    }
  }
  if (absl::GetFlag(FLAGS_cleanup)) Cleanup(clients, ports, aconn);
  if (after_errors.total > 0) {
    std::printf("errors: restoring flags / cleaning up %d\n", after_errors.total);
  }

  const int e = errors.total + verify_errors.total + after_errors.total;
  std::printf("load: %d rpcs, %d errors, %d config mismatches\n", rpcs, e, mismatches);
  return e == 0 && mismatches == 0 ? 0 : 1;
}

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

}  // namespace

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

// rpc_load's shared parts (see rpc_load.cc for what the tool does): its
// flags, the latency records, one timed connection to vebd, the load mode's
// per-client records, and the entry points of the two modes.
//
// Thread-safety: a Conn, Latencies and Errors belong to one client thread;
// the Client records are merged by the main thread after the clients joined.
#ifndef VEB_TEST_LOAD_RPC_LOAD_H_
#define VEB_TEST_LOAD_RPC_LOAD_H_

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
#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, socket);
ABSL_DECLARE_FLAG(std::string, mode);
ABSL_DECLARE_FLAG(int, clients);
ABSL_DECLARE_FLAG(int, rpcs);
ABSL_DECLARE_FLAG(std::string, bridge);
ABSL_DECLARE_FLAG(std::string, ports);
ABSL_DECLARE_FLAG(std::string, port_prefix);
ABSL_DECLARE_FLAG(int, iterations);
ABSL_DECLARE_FLAG(int, addresses);
ABSL_DECLARE_FLAG(int, page_size);
ABSL_DECLARE_FLAG(bool, keep_bridge);
ABSL_DECLARE_FLAG(std::string, scratch_prefix);
ABSL_DECLARE_FLAG(int, max_scratch_bridges);
ABSL_DECLARE_FLAG(int, max_static_per_client);
ABSL_DECLARE_FLAG(int, vid);
ABSL_DECLARE_FLAG(int, vid_base);
ABSL_DECLARE_FLAG(int, deadline_ms);
ABSL_DECLARE_FLAG(uint32_t, seed);
ABSL_DECLARE_FLAG(bool, restore_flags);
ABSL_DECLARE_FLAG(bool, cleanup);
ABSL_DECLARE_FLAG(int, max_error_lines);

namespace rpc_load {

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
double Percentile(const std::vector<double>& sorted, double q);
void PrintLatencies(const std::string& label, const Latencies& lat, bool with_all);

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

std::string Mac(int a, int b, int c, int d, int e, int f);
// All entries of `bridge` matching `req`'s filters, every page.
bool ListAllAddresses(Conn& conn, v1::ListAddressesRequest req,
                      std::vector<v1::Address>* out);

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

std::string ScratchPrefix(int client);
std::string StaticPrefix(int client);
uint32_t VidLo(int client);
void Mismatch(Client* cl, const std::string& what);

// The load mode, its checks afterwards and the cleanup (rpc_load_load.cc,
// rpc_load_verify.cc); the latency mode (rpc_load_latency.cc).
int RunLoad();
int VerifyLoad(std::vector<Client>& clients, const std::vector<std::string>& ports,
               Conn& conn);
void Cleanup(std::vector<Client>& clients, const std::vector<std::string>& ports, Conn& conn);
int RunLatency();

}  // namespace rpc_load

#endif  // VEB_TEST_LOAD_RPC_LOAD_H_

// Microbenchmarks of the dataplane hot path (issue targets, per core):
// MAC lookup >= 30 M/s, known-unicast pipeline >= 10 M frames/s, learning
// >= 3 M new addresses/s. Run: bazel run -c opt //dataplane:dataplane_benchmark
#include <random>

#include "benchmark/benchmark.h"
#include "dataplane/bridge.h"
#include "dataplane/fake_port.h"
#include "dataplane/mac_table.h"
#include "dataplane/test_frames.h"

namespace veb {
namespace {

constexpr PortRef kP1{1, 1};
constexpr int64_t kNow = 1000000000;

std::vector<Mac> RandomMacs(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Mac> out(n);
  for (auto& m : out) m = (rng() & 0xfeffffffffffULL) | 0x020000000000ULL;
  return out;
}

void BM_MacLookupHit(benchmark::State& state) {
  Qsbr qsbr;
  MacTable table(&qsbr, kMaxAddressesLimit, 240);
  const auto macs = RandomMacs(state.range(0), 1);
  for (Mac m : macs) table.Learn(1, m, kP1, kNow);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.Lookup(1, macs[i], kNow));
    if (++i == macs.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MacLookupHit)->Arg(100)->Arg(10000)->Arg(1000000);

void BM_MacLookupMiss(benchmark::State& state) {
  Qsbr qsbr;
  MacTable table(&qsbr, kMaxAddressesLimit, 240);
  for (Mac m : RandomMacs(state.range(0), 1)) table.Learn(1, m, kP1, kNow);
  const auto misses = RandomMacs(4096, 2);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.Lookup(1, misses[i], kNow));
    i = (i + 1) & 4095;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MacLookupMiss)->Arg(100)->Arg(10000)->Arg(1000000);

void BM_LearnNewAddresses(benchmark::State& state) {
  Qsbr qsbr;
  MacTable table(&qsbr, kMaxAddressesLimit, 240);
  const auto macs = RandomMacs(kMaxAddressesLimit, 3);
  size_t i = 0;
  for (auto _ : state) {
    if (i == macs.size()) {
      state.PauseTiming();
      table.Flush(true);
      i = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(table.Learn(1, macs[i++], kP1, kNow));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LearnNewAddresses);

// Pipeline: batches of 32 frames of 64 bytes on the wire (60 + FCS) through
// Bridge::Input on FakePorts that only count.
struct Pipeline {
  explicit Pipeline(int ports, PortConfig rx_cfg = {}, PortConfig tx_cfg = {}) {
    BridgeConfig bc;
    bc.max_addresses = 10000;
    bridge = Bridge::Create("bench", bc, MonotonicClock::Get(), &qsbr, 1).value();
    for (int i = 0; i < ports; ++i) {
      auto p = std::make_shared<FakePort>("p" + std::to_string(i), /*record=*/false);
      refs.push_back(bridge->AddPort(p, i == 0 ? rx_cfg : tx_cfg).value());
      fakes.push_back(p);
    }
  }
  void Run(benchmark::State& state, const std::vector<uint8_t>& frame) {
    std::vector<RxFrame> batch(32, RxFrame{frame.data(), static_cast<uint32_t>(frame.size()), {}});
    for (auto _ : state) bridge->Input(ctx, refs[0], absl::MakeConstSpan(batch));
    state.SetItemsProcessed(state.iterations() * batch.size());
  }
  Qsbr qsbr;
  std::unique_ptr<Bridge> bridge;
  WorkerContext ctx{&qsbr, 0};
  std::vector<PortRef> refs;
  std::vector<std::shared_ptr<FakePort>> fakes;
};

constexpr Mac kSrc = 0x020000000001ULL;
constexpr Mac kDst = 0x020000000002ULL;

void Prime(Pipeline& p, int port, Mac mac, std::optional<uint16_t> tag = std::nullopt) {
  FrameSpec s{kBroadcastMac, mac};
  s.ctag = tag;
  const auto f = MakeFrame(s);
  RxFrame rx{f.data(), static_cast<uint32_t>(f.size()), {}};
  p.bridge->Input(p.ctx, p.refs[port], absl::MakeConstSpan(&rx, 1));
}

void BM_PipelineKnownUnicast(benchmark::State& state) {
  Pipeline p(2);
  Prime(p, 1, kDst);
  p.Run(state, MakeFrame({kDst, kSrc}));
}
BENCHMARK(BM_PipelineKnownUnicast);

void BM_PipelineFlood8(benchmark::State& state) {
  Pipeline p(9);
  p.Run(state, MakeFrame({kBroadcastMac, kSrc}));
}
BENCHMARK(BM_PipelineFlood8);

void BM_PipelineKnownUnicast10Rules(benchmark::State& state) {
  Pipeline p(2);
  Prime(p, 1, kDst);
  // 10 non-matching rules per direction on both ports: every frame walks 20.
  for (int i = 0; i < 10; ++i) {
    Rule r;
    r.directions = kRuleInOut;
    r.src = 0x020000aa0000ULL + i;
    r.dst = 0x020000bb0000ULL + i;
    for (int port = 0; port < 2; ++port) {
      (void)p.bridge->AddRule("p" + std::to_string(port), r);
    }
  }
  p.Run(state, MakeFrame({kDst, kSrc}));
}
BENCHMARK(BM_PipelineKnownUnicast10Rules);

void BM_PipelineVlanTaggedToAccess(benchmark::State& state) {
  PortConfig trunk;
  trunk.pvid = kPvidNone;
  trunk.tagged = {10, 20};
  PortConfig access;
  access.pvid = 10;
  Pipeline p(2, trunk, access);
  Prime(p, 1, kDst);
  FrameSpec s{kDst, kSrc};
  s.ctag = 10;
  s.payload = 42;  // 64 bytes on the wire with the tag
  p.Run(state, MakeFrame(s));
}
BENCHMARK(BM_PipelineVlanTaggedToAccess);

}  // namespace
}  // namespace veb

BENCHMARK_MAIN();

// Microbenchmarks of the dataplane hot path (issue targets, per core):
// MAC lookup >= 30 M/s, known-unicast pipeline >= 10 M frames/s, learning
// >= 3 M new addresses/s; and of the control plane against a full table: a
// configuration change at 1,000,000 addresses within 2x its time on an empty
// table, one address page O(page), memory returned after a flush.
// Run: bazel run -c opt //dataplane:dataplane_benchmark
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
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

// Learning new addresses into a table already holding state.range(0) entries
// (the ordered index's insert is O(log n)): each iteration learns one new
// address and the batch is deleted (paused) every 256 to keep n about fixed.
// The new keys fall at random places among the existing ones (same VID), as
// new MACs do.
void BM_LearnNewAddressesAtSize(benchmark::State& state) {
  Qsbr qsbr;
  MacTable table(&qsbr, static_cast<uint32_t>(state.range(0) + 256), 240);
  for (Mac m : RandomMacs(state.range(0), 4)) table.Learn(1, m, kP1, kNow);
  const auto fresh = RandomMacs(256, 5);
  size_t i = 0;
  for (auto _ : state) {
    if (i == fresh.size()) {
      state.PauseTiming();
      for (Mac m : fresh) table.Delete(1, m);
      i = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(table.Learn(1, fresh[i++], kP1, kNow));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LearnNewAddressesAtSize)->Arg(10000)->Arg(1000000);

// RSS (resident set) of the process, in MiB.
double RssMiB() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * sysconf(_SC_PAGESIZE) / (1 << 20);
}

// Memory returns after the table empties: RSS with 1,000,000 entries, after
// Flush (slot array shrunk, its old array reclaimed, index nodes freed), and
// after malloc_trim (what the allocator keeps in its free lists).
void BM_MemoryAfterFlush(benchmark::State& state) {
  for (auto _ : state) {
    Qsbr qsbr;
    const double before = RssMiB();
    auto table = std::make_unique<MacTable>(&qsbr, kMaxAddressesLimit, 240);
    for (Mac m : RandomMacs(kMaxAddressesLimit, 6)) table->Learn(1, m, kP1, kNow);
    qsbr.Reclaim();
    const double full = RssMiB();
    table->Flush(true);
    qsbr.Reclaim();
    const double flushed = RssMiB();
    malloc_trim(0);
    const double trimmed = RssMiB();
    state.counters["rss_empty_MiB"] = before;
    state.counters["rss_1M_MiB"] = full;
    state.counters["rss_flushed_MiB"] = flushed;
    state.counters["rss_flushed_trimmed_MiB"] = trimmed;
    state.counters["capacity_after"] = static_cast<double>(table->capacity());
  }
}
BENCHMARK(BM_MemoryAfterFlush)->Iterations(1)->Unit(benchmark::kMillisecond);

// A bridge with two member ports and state.range(0) dynamic addresses learned
// on p0 (through Input, as in production).
struct FilledBridge {
  explicit FilledBridge(size_t addresses) {
    BridgeConfig bc;
    bc.max_addresses = kMaxAddressesLimit;
    bridge = Bridge::Create("bench", bc, MonotonicClock::Get(), &qsbr, 1).value();
    for (int i = 0; i < 2; ++i) {
      auto p = std::make_shared<FakePort>("p" + std::to_string(i), /*record=*/false);
      refs.push_back(bridge->AddPort(p, {}).value());
      fakes.push_back(p);
    }
    std::vector<uint8_t> frame = MakeFrame({kBroadcastMac, 0x020000000000ULL});
    RxFrame rx{frame.data(), static_cast<uint32_t>(frame.size()), {}};
    for (size_t i = 0; i < addresses; ++i) {
      const Mac src = 0x020000000000ULL + 1 + i;
      for (int b = 0; b < 6; ++b) frame[6 + b] = static_cast<uint8_t>(src >> (40 - 8 * b));
      bridge->Input(ctx, refs[0], absl::MakeConstSpan(&rx, 1));
    }
  }
  Qsbr qsbr;
  std::unique_ptr<Bridge> bridge;
  WorkerContext ctx{&qsbr, 0};
  std::vector<PortRef> refs;
  std::vector<std::shared_ptr<FakePort>> fakes;
};

// A configuration change (address timeout) on an empty and on a full bridge.
void BM_BridgeUpdateTimeout(benchmark::State& state) {
  FilledBridge fb(state.range(0));
  if (fb.bridge->address_count() != static_cast<size_t>(state.range(0))) {
    state.SkipWithError("table not filled");
  }
  BridgeConfig c = fb.bridge->config();
  bool flip = false;
  for (auto _ : state) {
    c.timeout_seconds = (flip = !flip) ? 300 : 240;
    benchmark::DoNotOptimize(fb.bridge->Update(c));
  }
}
BENCHMARK(BM_BridgeUpdateTimeout)->Arg(0)->Arg(1000000);

// Adding a port (its removal, outside the timing, follows each add).
void BM_BridgeAddPort(benchmark::State& state) {
  FilledBridge fb(state.range(0));
  auto port = std::make_shared<FakePort>("new0", /*record=*/false);
  for (auto _ : state) {
    benchmark::DoNotOptimize(fb.bridge->AddPort(port, {}));
    state.PauseTiming();
    (void)fb.bridge->RemovePort("new0");
    state.ResumeTiming();
  }
}
BENCHMARK(BM_BridgeAddPort)->Arg(0)->Arg(1000000);

// Removing a port that has no addresses (its add, outside the timing, precedes
// each removal): with the per-port count this does not walk the table.
void BM_BridgeRemovePortWithoutAddresses(benchmark::State& state) {
  FilledBridge fb(state.range(0));
  auto port = std::make_shared<FakePort>("new0", /*record=*/false);
  for (auto _ : state) {
    state.PauseTiming();
    (void)fb.bridge->AddPort(port, {});
    state.ResumeTiming();
    benchmark::DoNotOptimize(fb.bridge->RemovePort("new0"));
  }
}
BENCHMARK(BM_BridgeRemovePortWithoutAddresses)->Arg(0)->Arg(1000000);

// One page of 100 addresses (with the count of all) at 1,000 and 1,000,000.
void BM_BridgeListAddressPage(benchmark::State& state) {
  FilledBridge fb(state.range(0));
  std::optional<AddressKey> after;
  for (auto _ : state) {
    auto page = fb.bridge->ListAddressPage({}, after, 100);
    after = page->next_after;  // walk the table, restarting at its end
    benchmark::DoNotOptimize(page);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_BridgeListAddressPage)->Arg(1000)->Arg(1000000);

// Counting one port's addresses (what the agent did by copying the table).
void BM_BridgePortAddressCount(benchmark::State& state) {
  FilledBridge fb(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(fb.bridge->PortAddressCount("p0"));
}
BENCHMARK(BM_BridgePortAddressCount)->Arg(1000)->Arg(1000000);

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

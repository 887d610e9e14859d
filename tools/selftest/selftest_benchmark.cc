// Self-test: Google Benchmark links (@system//:benchmark_main supplies main).
#include <string>

#include "benchmark/benchmark.h"

namespace {

void BM_StringCopy(benchmark::State& state) {
  const std::string source(64, 'x');
  for (auto _ : state) {
    std::string copy(source);
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_StringCopy);

}  // namespace

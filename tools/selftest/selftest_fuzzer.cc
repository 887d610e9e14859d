// Self-test: a trivial libFuzzer harness. Build and run with
//   bazel build --config=fuzz //tools/selftest:selftest_fuzzer
//   bazel-bin/tools/selftest/selftest_fuzzer -max_total_time=5
// It uses a virtual call and the C++ library so that UBSan's C++ checks (vptr)
// and libstdc++ are exercised at link time, as real harnesses will.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace {

class Parser {
 public:
  virtual ~Parser() = default;
  virtual int Parse(const std::string& input) const = 0;
};

class PrefixParser final : public Parser {
 public:
  int Parse(const std::string& input) const override {
    std::map<char, int> counts;
    for (char c : input) ++counts[c];
    if (input.size() >= 3 && input.compare(0, 3, "veb") == 0) return 1;
    return static_cast<int>(counts.size() > 0);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<Parser> parser = std::make_unique<PrefixParser>();
  parser->Parse(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}

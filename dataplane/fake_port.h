// In-memory Port for tests, benchmarks and the fuzzer: transmitted frames are
// materialised exactly as a real backend would write them (tag operations
// applied) and kept, or only counted when `record` is false. Link state, MTU
// and transmit failures are set by the test.
//
// Thread-safety: one transmitting worker at a time (like any Port); the setters
// and readers are for the test thread while no worker is transmitting, except
// set_running, which is atomic.
#ifndef VEB_DATAPLANE_FAKE_PORT_H_
#define VEB_DATAPLANE_FAKE_PORT_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/port.h"

namespace veb {

class FakePort final : public Port {
 public:
  explicit FakePort(std::string name, bool record = true)
      : name_(std::move(name)), record_(record) {}

  const std::string& name() const override { return name_; }
  bool running() const override { return running_.load(std::memory_order_relaxed); }
  uint32_t mtu() const override { return mtu_.load(std::memory_order_relaxed); }
  TxResult Transmit(absl::Span<const TxFrame> frames) override;

  void set_running(bool up) { running_.store(up, std::memory_order_relaxed); }
  void set_mtu(uint32_t mtu) { mtu_.store(mtu, std::memory_order_relaxed); }
  // Accept `budget` more frames, then fail the rest with `reason`; -1 = never fail.
  void FailAfter(int64_t budget, DropReason reason) {
    fail_budget_ = budget;
    fail_reason_ = reason;
  }

  const std::vector<std::vector<uint8_t>>& sent() const { return sent_; }
  uint64_t sent_count() const { return sent_count_; }
  void Clear() { sent_.clear(); sent_count_ = 0; }

 private:
  const std::string name_;
  const bool record_;
  std::atomic<bool> running_{true};
  std::atomic<uint32_t> mtu_{1500};
  int64_t fail_budget_ = -1;
  DropReason fail_reason_ = DropReason::kTxError;
  uint64_t sent_count_ = 0;
  std::vector<std::vector<uint8_t>> sent_;
};

}  // namespace veb

#endif  // VEB_DATAPLANE_FAKE_PORT_H_

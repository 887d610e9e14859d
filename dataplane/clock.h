// Time source for learning and expiry (S7). Injected so tests drive expiry with a
// fake clock instead of sleeping. Thread-safety: NowNs() may be called from any
// thread; FakeClock::Set/Advance are atomic.
#ifndef VEB_DATAPLANE_CLOCK_H_
#define VEB_DATAPLANE_CLOCK_H_

#include <atomic>
#include <cstdint>
#include <ctime>

namespace veb {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds; only differences are meaningful.
  virtual int64_t NowNs() const = 0;
};

class MonotonicClock final : public Clock {
 public:
  int64_t NowNs() const override {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }
  static MonotonicClock* Get() {
    static MonotonicClock clock;
    return &clock;
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ns = 1000000000) : now_(start_ns) {}
  int64_t NowNs() const override { return now_.load(std::memory_order_relaxed); }
  void Set(int64_t ns) { now_.store(ns, std::memory_order_relaxed); }
  void Advance(int64_t ns) { now_.fetch_add(ns, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace veb

#endif  // VEB_DATAPLANE_CLOCK_H_

// Quiescent-state-based reclamation. The control plane publishes a new immutable
// object (configuration snapshot, grown MAC table) with one atomic store and hands
// the old one to Retire(); it is freed once every online reader has passed a
// quiescent point. A worker is Online() only while it processes a batch and
// Offline() otherwise (a read-side section per batch), so an idle or sleeping
// worker never holds memory back; a long-running reader may call Quiescent().
//
// Thread-safety: Register/Unregister/Retire/Reclaim are safe from any thread.
// A Reader is used by exactly one thread. Two locks: readers_mu_ (the reader
// list, held by Synchronize while it waits) and pending_mu_ (the retired
// list). An online reader may Retire (a worker growing the MAC table) while
// another thread waits in Synchronize: Retire never waits for readers_mu_,
// it only reclaims when that lock is free.
#ifndef VEB_DATAPLANE_QSBR_H_
#define VEB_DATAPLANE_QSBR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace veb {

class Qsbr {
 public:
  class Reader {
   public:
    // Declares that the thread holds no pointer obtained before this call.
    void Quiescent() { seen_.store(owner_->epoch_.load()); }
    // The thread holds no pointers until Online(); reclamation ignores it.
    void Offline() { seen_.store(0); }
    void Online() { Quiescent(); }

   private:
    friend class Qsbr;
    explicit Reader(Qsbr* owner) : owner_(owner) {}
    Qsbr* owner_;
    std::atomic<uint64_t> seen_{0};
  };

  Qsbr() = default;
  Qsbr(const Qsbr&) = delete;
  Qsbr& operator=(const Qsbr&) = delete;
  // Runs everything still pending: callers guarantee no reader remains.
  ~Qsbr();

  // The reader starts online.
  Reader* Register();
  void Unregister(Reader* reader);

  // Queues `free_fn` to run after every online reader passes a quiescent point.
  // The object must already be unreachable for new readers.
  void Retire(std::function<void()> free_fn);
  template <typename T>
  void RetireObject(const T* object) {
    Retire([object] { delete object; });
  }

  // Runs the retired functions whose grace period has ended; returns how many
  // are still pending.
  size_t Reclaim() { return ReclaimImpl(/*try_only=*/false); }

  // Blocks until every reader online now has gone offline or passed a
  // quiescent point. Must not be called by an online reader.
  void Synchronize();

 private:
  struct Pending {
    uint64_t epoch;
    std::function<void()> free_fn;
  };

  // try_only: give up (returning the pending count) if readers_mu_ is held.
  size_t ReclaimImpl(bool try_only);

  std::atomic<uint64_t> epoch_{1};
  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<Reader>> readers_ ABSL_GUARDED_BY(readers_mu_);
  absl::Mutex pending_mu_;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(pending_mu_);
};

}  // namespace veb

#endif  // VEB_DATAPLANE_QSBR_H_

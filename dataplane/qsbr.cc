#include "dataplane/qsbr.h"

#include <algorithm>
#include <limits>
#include <thread>

namespace veb {

Qsbr::~Qsbr() {
  for (auto& p : pending_) p.free_fn();
}

Qsbr::Reader* Qsbr::Register() {
  auto reader = std::unique_ptr<Reader>(new Reader(this));
  reader->Online();
  absl::MutexLock lock(&readers_mu_);
  readers_.push_back(std::move(reader));
  return readers_.back().get();
}

void Qsbr::Unregister(Reader* reader) {
  reader->Offline();
  {
    absl::MutexLock lock(&readers_mu_);
    auto it = std::find_if(readers_.begin(), readers_.end(),
                           [reader](const auto& r) { return r.get() == reader; });
    if (it != readers_.end()) readers_.erase(it);
  }
  Reclaim();
}

void Qsbr::Retire(std::function<void()> free_fn) {
  // Sequentially consistent: a reader that comes online after this increment
  // can only see the already-published replacement.
  const uint64_t epoch = epoch_.fetch_add(1);
  {
    absl::MutexLock lock(&pending_mu_);
    pending_.push_back(Pending{epoch, std::move(free_fn)});
  }
  ReclaimImpl(/*try_only=*/true);
}

void Qsbr::Synchronize() {
  const uint64_t target = epoch_.fetch_add(1) + 1;
  {
    // Holding readers_mu_ keeps every Reader alive; Unregister marks its
    // reader offline before it takes the lock, and Retire does not wait for
    // it, so no reader can hold this loop up.
    absl::MutexLock lock(&readers_mu_);
    for (const auto& r : readers_) {
      for (;;) {
        const uint64_t seen = r->seen_.load();
        if (seen == 0 || seen >= target) break;
        std::this_thread::yield();
      }
    }
  }
  Reclaim();
}

size_t Qsbr::ReclaimImpl(bool try_only) {
  // Only what was retired before this point may go: a reader that registers
  // or comes online after it sees the replacements already.
  uint64_t oldest = epoch_.load();
  if (try_only) {
    if (!readers_mu_.TryLock()) {
      absl::MutexLock lock(&pending_mu_);
      return pending_.size();
    }
  } else {
    readers_mu_.Lock();
  }
  for (const auto& r : readers_) {
    const uint64_t seen = r->seen_.load();
    if (seen != 0) oldest = std::min(oldest, seen);
  }
  readers_mu_.Unlock();
  std::vector<std::function<void()>> ready;
  size_t left;
  {
    absl::MutexLock lock(&pending_mu_);
    auto keep = std::stable_partition(
        pending_.begin(), pending_.end(),
        [oldest](const Pending& p) { return p.epoch >= oldest; });
    for (auto it = keep; it != pending_.end(); ++it) {
      ready.push_back(std::move(it->free_fn));
    }
    pending_.erase(keep, pending_.end());
    left = pending_.size();
  }
  for (auto& fn : ready) fn();
  return left;
}

}  // namespace veb

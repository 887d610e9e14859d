// Fan-out of agent events to WatchEvents streams (switch.proto).
//
// Publishers (RPC handlers, and dataplane workers through the MAC table's
// event sink) call Publish(); each event gets the next agent-wide sequence
// number whether or not anyone listens. The event message is built only if
// some subscription's filter matches, once, and shared (immutable) between
// the matching subscriptions' queues. Each subscription's queue is bounded
// (default 4096): an event that does not fit is counted as lost, and once
// there is room again an EVENT_TYPE_EVENTS_LOST event carrying the count is
// queued ahead of the next event. A slow client therefore never slows down
// a publisher (publishing is O(subscriptions) under one short lock).
//
// Sequence numbers of the per-stream events: WATCH_STARTED carries the last
// sequence number generated before the subscription (everything after it is
// delivered or counted as lost); EVENTS_LOST carries the sequence number of
// the last event it accounts for.
//
// Thread-safety: every method may be called from any thread. mu_ is a leaf
// lock: nothing is called while it is held except the caller's event builder,
// which must not call back into the hub (it may run with the MAC table's lock
// held in a worker).
#ifndef VEB_SERVER_EVENT_HUB_H_
#define VEB_SERVER_EVENT_HUB_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/veb/v1/types.pb.h"

namespace veb::server {

class EventHub {
 public:
  static constexpr size_t kDefaultQueueSize = 4096;
  static constexpr int kDefaultMaxStreams = 64;

  class Subscription;

  explicit EventHub(size_t queue_size = kDefaultQueueSize,
                    int max_streams = kDefaultMaxStreams);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Registers a subscription; its queue starts with WATCH_STARTED.
  // `bridge` empty = all bridges; `types` empty = all types.
  // RESOURCE_EXHAUSTED when max_streams subscriptions exist; UNAVAILABLE
  // after Shutdown().
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      std::string bridge, std::set<v1::EventType> types);

  // `fill` sets the payload (and anything else but sequence, time, type and
  // bridge) and is only called if some subscription wants the event.
  void Publish(v1::EventType type, const std::string& bridge,
               const std::function<void(v1::Event*)>& fill);

  // Ends every subscription (Next returns kClosed) and refuses new ones.
  void Shutdown();

  int subscription_count() const;

  enum class NextResult { kEvent, kTimeout, kClosed };

  class Subscription {
   public:
    ~Subscription();  // unregisters
    // Waits up to `timeout` for the next event.
    NextResult Next(absl::Duration timeout,
                    std::shared_ptr<const v1::Event>* event);

   private:
    friend class EventHub;
    Subscription(EventHub* hub, std::string bridge,
                 std::set<v1::EventType> types)
        : hub_(hub), bridge_(std::move(bridge)), types_(std::move(types)) {}
    bool Wants(v1::EventType type, const std::string& bridge) const;

    EventHub* const hub_;
    const std::string bridge_;
    const std::set<v1::EventType> types_;
    // Guarded by hub_->mu_.
    std::deque<std::shared_ptr<const v1::Event>> queue_;
    uint64_t lost_ = 0;
    uint64_t lost_last_sequence_ = 0;
  };

 private:
  void Enqueue(Subscription* s, std::shared_ptr<const v1::Event> event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t queue_size_;
  const int max_streams_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // signalled on every enqueue and on shutdown
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::set<Subscription*> subs_ ABSL_GUARDED_BY(mu_);
};

// Nanoseconds since the Unix epoch, for Event.time_unix_nano.
int64_t NowUnixNanos();

}  // namespace veb::server

#endif  // VEB_SERVER_EVENT_HUB_H_

#include "server/event_hub.h"

#include "absl/strings/str_cat.h"

namespace veb::server {

int64_t NowUnixNanos() { return absl::ToUnixNanos(absl::Now()); }

EventHub::EventHub(size_t queue_size, int max_streams)
    : queue_size_(queue_size < 2 ? 2 : queue_size), max_streams_(max_streams) {}

EventHub::~EventHub() { Shutdown(); }

absl::StatusOr<std::unique_ptr<EventHub::Subscription>> EventHub::Subscribe(
    std::string bridge, std::set<v1::EventType> types) {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::UnavailableError("watch: agent is shutting down");
  if (static_cast<int>(subs_.size()) >= max_streams_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "watch: limit of ", max_streams_, " concurrent streams reached"));
  }
  std::unique_ptr<Subscription> sub(
      new Subscription(this, std::move(bridge), std::move(types)));
  auto started = std::make_shared<v1::Event>();
  started->set_sequence(sequence_);
  started->set_time_unix_nano(NowUnixNanos());
  started->set_type(v1::EVENT_TYPE_WATCH_STARTED);
  sub->queue_.push_back(std::move(started));
  subs_.insert(sub.get());
  cv_.SignalAll();
  return sub;
}

bool EventHub::Subscription::Wants(v1::EventType type,
                                   const std::string& bridge) const {
  if (!bridge_.empty() && bridge_ != bridge) return false;
  return types_.empty() || types_.count(type) > 0;
}

void EventHub::Enqueue(Subscription* s, std::shared_ptr<const v1::Event> event) {
  if (s->lost_ > 0) {
    if (s->queue_.size() + 2 <= queue_size_) {
      auto lost = std::make_shared<v1::Event>();
      lost->set_sequence(s->lost_last_sequence_);
      lost->set_time_unix_nano(NowUnixNanos());
      lost->set_type(v1::EVENT_TYPE_EVENTS_LOST);
      lost->set_lost(s->lost_);
      s->queue_.push_back(std::move(lost));
      s->lost_ = 0;
      s->queue_.push_back(std::move(event));
    } else {
      ++s->lost_;
      s->lost_last_sequence_ = event->sequence();
    }
    return;
  }
  if (s->queue_.size() < queue_size_) {
    s->queue_.push_back(std::move(event));
  } else {
    s->lost_ = 1;
    s->lost_last_sequence_ = event->sequence();
  }
}

void EventHub::Publish(v1::EventType type, const std::string& bridge,
                       const std::function<void(v1::Event*)>& fill) {
  absl::MutexLock lock(&mu_);
  const uint64_t seq = ++sequence_;
  std::shared_ptr<v1::Event> event;
  for (Subscription* s : subs_) {
    if (!s->Wants(type, bridge)) continue;
    if (event == nullptr) {
      event = std::make_shared<v1::Event>();
      event->set_sequence(seq);
      event->set_time_unix_nano(NowUnixNanos());
      event->set_type(type);
      event->set_bridge(bridge);
      if (fill) fill(event.get());
    }
    Enqueue(s, event);
  }
  if (event != nullptr) cv_.SignalAll();
}

void EventHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  cv_.SignalAll();
}

int EventHub::subscription_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(subs_.size());
}

EventHub::Subscription::~Subscription() {
  absl::MutexLock lock(&hub_->mu_);
  hub_->subs_.erase(this);
}

EventHub::NextResult EventHub::Subscription::Next(
    absl::Duration timeout, std::shared_ptr<const v1::Event>* event) {
  absl::MutexLock lock(&hub_->mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (queue_.empty() && !hub_->closed_) {
    if (hub_->cv_.WaitWithDeadline(&hub_->mu_, deadline)) break;
  }
  if (hub_->closed_) return NextResult::kClosed;
  if (queue_.empty()) return NextResult::kTimeout;
  *event = std::move(queue_.front());
  queue_.pop_front();
  return NextResult::kEvent;
}

}  // namespace veb::server

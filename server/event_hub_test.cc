// EventHub: WATCH_STARTED first, filtering, bounded queues with
// EVENTS_LOST, the stream limit, shutdown.
#include "server/event_hub.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb::server {
namespace {

std::shared_ptr<const v1::Event> Next(EventHub::Subscription& s) {
  std::shared_ptr<const v1::Event> e;
  EXPECT_EQ(s.Next(absl::ZeroDuration(), &e), EventHub::NextResult::kEvent);
  return e;
}

TEST(EventHubTest, StartedFirstThenFilteredEvents) {
  EventHub hub;
  hub.Publish(v1::EVENT_TYPE_BRIDGE_CREATED, "veb0", nullptr);  // before: not seen
  auto sub = hub.Subscribe("veb0", {v1::EVENT_TYPE_PORT_ADDED}).value();
  auto e = Next(*sub);
  EXPECT_EQ(e->type(), v1::EVENT_TYPE_WATCH_STARTED);
  EXPECT_EQ(e->sequence(), 1u);
  hub.Publish(v1::EVENT_TYPE_PORT_ADDED, "veb1", nullptr);  // other bridge
  hub.Publish(v1::EVENT_TYPE_PORT_REMOVED, "veb0", nullptr);  // other type
  hub.Publish(v1::EVENT_TYPE_PORT_ADDED, "veb0",
              [](v1::Event* ev) { ev->mutable_port()->set_name("eth1"); });
  e = Next(*sub);
  EXPECT_EQ(e->type(), v1::EVENT_TYPE_PORT_ADDED);
  EXPECT_EQ(e->sequence(), 4u);  // agent-wide numbering: a gap = filtered
  EXPECT_EQ(e->port().name(), "eth1");
  std::shared_ptr<const v1::Event> none;
  EXPECT_EQ(sub->Next(absl::Milliseconds(1), &none), EventHub::NextResult::kTimeout);
}

TEST(EventHubTest, OverflowQueuesEventsLostBeforeTheNextEvent) {
  EventHub hub(/*queue_size=*/4, /*max_streams=*/64);
  auto sub = hub.Subscribe("", {}).value();  // queue: STARTED
  for (int i = 0; i < 10; ++i) {
    hub.Publish(v1::EVENT_TYPE_ADDRESS_LEARNED, "veb0", nullptr);  // seq 1..10
  }
  // STARTED + 3 fit; 7 lost.
  EXPECT_EQ(Next(*sub)->type(), v1::EVENT_TYPE_WATCH_STARTED);
  for (uint64_t seq = 1; seq <= 3; ++seq) EXPECT_EQ(Next(*sub)->sequence(), seq);
  hub.Publish(v1::EVENT_TYPE_ADDRESS_MOVED, "veb0", nullptr);  // seq 11
  auto lost = Next(*sub);
  EXPECT_EQ(lost->type(), v1::EVENT_TYPE_EVENTS_LOST);
  EXPECT_EQ(lost->lost(), 7u);
  EXPECT_EQ(lost->sequence(), 10u);
  auto moved = Next(*sub);
  EXPECT_EQ(moved->type(), v1::EVENT_TYPE_ADDRESS_MOVED);
  EXPECT_EQ(moved->sequence(), 11u);
}

TEST(EventHubTest, StreamLimitAndShutdown) {
  EventHub hub(16, 2);
  auto a = hub.Subscribe("", {}).value();
  auto b = hub.Subscribe("", {}).value();
  absl::StatusOr<std::unique_ptr<EventHub::Subscription>> c = hub.Subscribe("", {});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.status().message(), "watch: limit of 2 concurrent streams reached");
  b.reset();
  EXPECT_TRUE(hub.Subscribe("", {}).ok());
  hub.Shutdown();
  std::shared_ptr<const v1::Event> e;
  EXPECT_EQ(a->Next(absl::Seconds(1), &e), EventHub::NextResult::kClosed);
  EXPECT_EQ(hub.Subscribe("", {}).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace veb::server

// LinkStateTracker: what the link monitor reports as changed, without a
// netlink socket or a network namespace.
#include "dataplane/linux/link_monitor.h"

#include "gtest/gtest.h"

namespace veb {
namespace {

LinkEvent Link(int ifindex, bool running, uint32_t mtu) {
  LinkEvent ev;
  ev.ifindex = ifindex;
  ev.name = "eth" + std::to_string(ifindex);
  ev.running = running;
  ev.mtu = mtu;
  return ev;
}

TEST(LinkStateTrackerTest, NewLinkReportsEverythingChanged) {
  LinkStateTracker t;
  LinkEvent ev = Link(3, true, 1500);
  t.Observe(ev);
  EXPECT_TRUE(ev.running_changed);
  EXPECT_TRUE(ev.mtu_changed);
  EXPECT_TRUE(t.known(3));
}

TEST(LinkStateTrackerTest, MtuChangeIsReportedWithItsValue) {
  LinkStateTracker t;
  t.Seed(Link(3, true, 1500));
  LinkEvent ev = Link(3, true, 9000);  // ip link set eth3 mtu 9000
  t.Observe(ev);
  EXPECT_TRUE(ev.mtu_changed);
  EXPECT_FALSE(ev.running_changed);
  EXPECT_EQ(ev.mtu, 9000u);
  // The same state again (another attribute changed): nothing to apply.
  LinkEvent again = Link(3, true, 9000);
  t.Observe(again);
  EXPECT_FALSE(again.mtu_changed);
  EXPECT_FALSE(again.running_changed);
}

TEST(LinkStateTrackerTest, CarrierChangeKeepsMtu) {
  LinkStateTracker t;
  t.Seed(Link(3, true, 1500));
  LinkEvent down = Link(3, false, 1500);
  t.Observe(down);
  EXPECT_TRUE(down.running_changed);
  EXPECT_FALSE(down.mtu_changed);
}

TEST(LinkStateTrackerTest, DeletionForgetsTheLink) {
  LinkStateTracker t;
  t.Seed(Link(3, true, 1500));
  LinkEvent del;
  del.ifindex = 3;
  del.deleted = true;
  t.Observe(del);
  EXPECT_FALSE(t.known(3));
  LinkEvent back = Link(3, true, 1500);  // a new interface reusing the index
  t.Observe(back);
  EXPECT_TRUE(back.mtu_changed);
}

TEST(LinkStateTrackerTest, ResyncReportsGoneLinksAndChanges) {
  LinkStateTracker t;
  t.Seed(Link(1, true, 1500));
  t.Seed(Link(2, true, 1500));
  t.Seed(Link(3, true, 1500));
  // Notifications lost: 2 was deleted, 3's MTU changed, 4 appeared.
  const std::vector<LinkEvent> out =
      t.Resync({Link(1, true, 1500), Link(3, true, 4000), Link(4, false, 1500)});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].ifindex, 2);
  EXPECT_TRUE(out[0].deleted);
  EXPECT_EQ(out[1].ifindex, 1);
  EXPECT_FALSE(out[1].mtu_changed || out[1].running_changed);
  EXPECT_EQ(out[2].ifindex, 3);
  EXPECT_TRUE(out[2].mtu_changed);
  EXPECT_EQ(out[2].mtu, 4000u);
  EXPECT_FALSE(out[2].running_changed);
  EXPECT_EQ(out[3].ifindex, 4);
  EXPECT_TRUE(out[3].running_changed && out[3].mtu_changed);
  EXPECT_FALSE(t.known(2));
}

}  // namespace
}  // namespace veb

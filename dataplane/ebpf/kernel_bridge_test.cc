// KernelBridge in test-hook mode (BPF_PROG_TEST_RUN): the program loads (the
// verifier accepts it on this kernel), forwards, learns and counts; control
// operations and their errors. Needs root (CAP_BPF).
#include "dataplane/ebpf/kernel_bridge.h"

#include "dataplane/clock.h"
#include "dataplane/fake_port.h"
#include "dataplane/test_frames.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb::ebpf {
namespace {

constexpr Mac kA = 0x02000000000aULL;
constexpr Mac kB = 0x02000000000bULL;

class KernelBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KernelBridgeOptions o;
    o.test_hook = true;
    o.clock = &clock_;
    o.refresh_ns = 0;
    auto b = KernelBridge::Create("kbt0", {}, o);
    ASSERT_TRUE(b.ok()) << b.status();
    bridge_ = std::move(*b);
  }
  std::shared_ptr<NetdevPort> Add(const std::string& name, PortConfig c = {}) {
    auto p = std::make_shared<NetdevPort>(name, 100 + next_++, true, 1500, true);
    auto r = bridge_->AddPort(p, c);
    EXPECT_TRUE(r.ok()) << r.status();
    return p;
  }
  TestResult Send(const std::string& port, Mac src, Mac dst) {
    auto f = MakeFrame({dst, src});
    auto r = bridge_->TestRun(port, f);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : TestResult{};
  }

  FakeClock clock_;
  std::unique_ptr<KernelBridge> bridge_;
  int next_ = 0;
};

TEST_F(KernelBridgeTest, FloodsLearnsThenUnicasts) {
  Add("p1");
  Add("p2");
  Add("p3");
  TestResult r = Send("p1", kA, kBroadcastMac);
  EXPECT_EQ(r.verdict, TestResult::Verdict::kFlood);
  ASSERT_EQ(r.copies.size(), 2u);
  EXPECT_EQ(r.copies[0].len, 60u);
  r = Send("p2", kB, kA);
  EXPECT_EQ(r.verdict, TestResult::Verdict::kUnicast);
  ASSERT_EQ(r.copies.size(), 1u);
  EXPECT_EQ(r.copies[0].slot, bridge_->GetPort("p1")->ref.slot);
  r = Send("p1", kA, kA);
  EXPECT_EQ(r.verdict, TestResult::Verdict::kDrop);
  EXPECT_EQ(r.reason, DropReason::kHairpin);
  EXPECT_EQ(bridge_->address_count(), 2u);
  auto c = bridge_->GetPortCounters("p1");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->rx_packets, 2u);
  EXPECT_EQ(c->flooded, 1u);
  EXPECT_EQ(c->in(DropReason::kHairpin), 1u);
  EXPECT_EQ(c->tx_packets, 1u);
  EXPECT_EQ(bridge_->GetCounters().learned, 2u);
}

TEST_F(KernelBridgeTest, RefusesPortsThatAreNotNetdevs) {
  auto r = bridge_->AddPort(std::make_shared<FakePort>("tap0"), {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("tap0"));
}

}  // namespace
}  // namespace veb::ebpf

namespace veb::ebpf {
namespace {

TEST_F(KernelBridgeTest, MacFloodLeavesTheTableAtItsCap) {
  BridgeConfig c;
  c.max_addresses = 50;
  ASSERT_TRUE(bridge_->Update(c).ok());
  Add("p1");
  Add("p2");
  for (Mac m = 0; m < 1000; ++m) Send("p1", 0x020000100000ULL + m, kBroadcastMac);
  EXPECT_EQ(bridge_->address_count(), 50u);
  EXPECT_EQ(*bridge_->PortAddressCount("p1"), 50u);
  const BridgeCounters bc = bridge_->GetCounters();
  EXPECT_EQ(bc.learned, 50u);
  EXPECT_EQ(bc.refused[static_cast<size_t>(LearnRefusal::kTableFull)], 950u);
  // Still flooding every refused source's frame (S7).
  EXPECT_EQ(bridge_->GetPortCounters("p1")->flooded, 1000u);
  // Static entries count toward the cap: a new one is refused.
  EXPECT_EQ(bridge_->AddStaticAddress(1, kB, "p2").code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(KernelBridgeTest, RaisingMaxAddressesGrowsTheMapAndKeepsEntries) {
  BridgeConfig c;
  c.max_addresses = 2;
  auto small = KernelBridge::Create("kbt1", c, [&] {
    KernelBridgeOptions o;
    o.test_hook = true;
    o.clock = &clock_;
    return o;
  }());
  ASSERT_TRUE(small.ok()) << small.status();
  bridge_ = std::move(*small);
  Add("p1");
  Add("p2");
  Send("p1", kA, kBroadcastMac);
  Send("p2", kB, kBroadcastMac);
  Send("p2", 0x02000000000c, kBroadcastMac);  // refused: full
  EXPECT_EQ(bridge_->fdb_capacity(), 2u);
  c.max_addresses = 1000;
  ASSERT_TRUE(bridge_->Update(c).ok());
  EXPECT_EQ(bridge_->fdb_capacity(), 1000u);
  EXPECT_EQ(bridge_->GetAddress(1, kA)->port, "p1");
  EXPECT_EQ(bridge_->GetAddress(1, kB)->port, "p2");
  for (Mac m = 0; m < 300; ++m) Send("p1", 0x020000200000ULL + m, kBroadcastMac);
  EXPECT_EQ(bridge_->address_count(), 302u);
  // Known unicast still works through the new program and map.
  EXPECT_EQ(Send("p1", kA, kB).verdict, TestResult::Verdict::kUnicast);
  // Lowering keeps the map and evicts nothing; learning stops (S7).
  c.max_addresses = 10;
  ASSERT_TRUE(bridge_->Update(c).ok());
  EXPECT_EQ(bridge_->fdb_capacity(), 1000u);
  Send("p2", 0x02000000000d, kBroadcastMac);
  EXPECT_EQ(bridge_->address_count(), 302u);
  EXPECT_FALSE(bridge_->GetAddress(1, 0x02000000000d).has_value());
}

TEST_F(KernelBridgeTest, ExpiryIsAMissBeforeTheSweepAndTheSweepEmitsEvents) {
  std::vector<AddressEvent> events;
  bridge_->SetAddressEventSink([&](const AddressEvent& e) { events.push_back(e); });
  Add("p1");
  Add("p2");
  Send("p1", kA, kBroadcastMac);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, AddressEventKind::kLearned);
  EXPECT_EQ(Send("p2", kB, kA).verdict, TestResult::Verdict::kUnicast);
  clock_.Advance(241LL * 1000000000);
  EXPECT_EQ(Send("p2", kB, kA).verdict, TestResult::Verdict::kFlood);  // S7: a miss
  EXPECT_FALSE(bridge_->GetAddress(1, kA).has_value());
  events.clear();
  EXPECT_EQ(bridge_->ExpireAddresses(), 1u);  // kA (kB, expired too, relearned at 241 s)
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, AddressEventKind::kExpired);
  EXPECT_EQ(events[0].mac, kA);
  EXPECT_EQ(events[0].age_seconds, 241u);
  EXPECT_EQ(bridge_->GetCounters().expired, 2u);  // kB when relearned, kA by the sweep
}

}  // namespace
}  // namespace veb::ebpf

namespace veb::ebpf {
namespace {

// S9: a flood reaches every port of a full (4,096-port) bridge.
TEST_F(KernelBridgeTest, FloodReachesEveryPortOfAFullBridge) {
  for (uint32_t i = 0; i < kMaxPortsPerBridge; ++i) Add("p" + std::to_string(i));
  const TestResult r = Send("p0", kA, kBroadcastMac);
  EXPECT_EQ(r.verdict, TestResult::Verdict::kFlood);
  EXPECT_EQ(r.copies.size(), kMaxPortsPerBridge - 1);
  EXPECT_EQ(bridge_->GetPortCounters("p4095")->tx_packets, 1u);
  EXPECT_EQ(bridge_->GetPortCounters("p0")->tx_packets, 0u);
}

}  // namespace
}  // namespace veb::ebpf

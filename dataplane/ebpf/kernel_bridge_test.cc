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

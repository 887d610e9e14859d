// Linux dataplane integration tests (fixture: linux_integration_test_util.h):
// the MAC table on the wire for both engines -- moves, static entries that
// never move, aging (an expired entry is a miss before the sweep removes it),
// the table cap (full: no learning, frames to the unlearned keep flooding) --
// and the kernel engine's host vport (a veth pair).
#include "test/integration/linux_integration_test_util.h"

namespace veb::integration_test {
namespace {

constexpr Mac kRoaming = 0x0200009900a1;
constexpr Mac kPinned = 0x0200009900a2;

// S7: a dynamic entry follows its MAC to another port; a static one never
// moves, and frames to it still go to its own port only.
TEST_P(LinuxSwitchTest, AddressesMoveButStaticEntriesStay) {
  PodSocket s1(Ns(1)), s2(Ns(2)), s3(Ns(3));
  s1.Send(kBroadcastMac, kRoaming, 1);
  ASSERT_TRUE(s2.Sees(1));
  EXPECT_TRUE(WaitFor([&] { return Owner(kRoaming) == HostIf(1); }));
  const uint64_t moved_before = bridge_->GetCounters().moved;
  s3.Send(kBroadcastMac, kRoaming, 2);
  ASSERT_TRUE(s2.Sees(2));
  EXPECT_TRUE(WaitFor([&] { return Owner(kRoaming) == HostIf(3); }));
  EXPECT_TRUE(WaitFor([&] { return bridge_->GetCounters().moved == moved_before + 1; }));
  s2.Send(kRoaming, kPodMac[2], 3);  // known unicast now goes to pod 3 only
  EXPECT_TRUE(s3.Sees(3));
  EXPECT_FALSE(s1.Sees(3, 300));

  ASSERT_TRUE(bridge_->AddStaticAddress(1, kPinned, HostIf(1)).ok());
  const uint64_t refused_before =
      bridge_->GetCounters().refused[static_cast<size_t>(LearnRefusal::kStatic)];
  s3.Send(kBroadcastMac, kPinned, 4);
  ASSERT_TRUE(s2.Sees(4));
  EXPECT_TRUE(WaitFor([&] {
    return bridge_->GetCounters().refused[static_cast<size_t>(LearnRefusal::kStatic)] ==
           refused_before + 1;
  }));
  EXPECT_EQ(Owner(kPinned), HostIf(1));
  s2.Send(kPinned, kPodMac[2], 5);
  EXPECT_TRUE(s1.Sees(5));
  EXPECT_FALSE(s3.Sees(5, 300));
}

// S7 aging: after address_timeout a dynamic entry is a miss (frames to it
// flood again) before the sweep removes it; the sweep then removes it and
// counts it as expired.
TEST_P(LinuxSwitchTest, AddressesExpireAfterTheTimeout) {
  BridgeConfig config = bridge_->config();
  config.timeout_seconds = kMinTimeoutSeconds;
  ASSERT_TRUE(bridge_->Update(config).ok());
  PodSocket s1(Ns(1)), s2(Ns(2)), s3(Ns(3));
  s1.Send(kBroadcastMac, kRoaming, 1);
  ASSERT_TRUE(s3.Sees(1));
  ASSERT_TRUE(WaitFor([&] { return bridge_->GetAddress(1, kRoaming).has_value(); }));
  s2.Send(kRoaming, kPodMac[2], 2);
  EXPECT_TRUE(s1.Sees(2));
  EXPECT_FALSE(s3.Sees(2, 200)) << "known unicast must not flood";
  const uint64_t expired_before = bridge_->GetCounters().expired;
  std::this_thread::sleep_for(std::chrono::seconds(kMinTimeoutSeconds + 1));
  EXPECT_FALSE(bridge_->GetAddress(1, kRoaming).has_value());
  s2.Send(kRoaming, kPodMac[2], 3);
  EXPECT_TRUE(s3.Sees(3)) << "an expired entry is a miss: the frame floods";
  EXPECT_TRUE(s1.Sees(3));
  EXPECT_GE(bridge_->ExpireAddresses(), 1u);
  EXPECT_EQ(Owner(kRoaming), std::nullopt);
  EXPECT_GE(bridge_->GetCounters().expired, expired_before + 1);
}

// S7 cap: a full table learns nothing more (no eviction) and frames to the
// addresses it refused keep flooding.
TEST_P(LinuxSwitchTest, FullTableStopsLearningAndKeepsFlooding) {
  BridgeConfig config = bridge_->config();
  config.max_addresses = 4;
  ASSERT_TRUE(bridge_->Update(config).ok());
  bridge_->FlushAddresses(/*include_static=*/true);
  const uint64_t full_before =
      bridge_->GetCounters().refused[static_cast<size_t>(LearnRefusal::kTableFull)];
  PodSocket s1(Ns(1)), s2(Ns(2)), s3(Ns(3));
  for (uint8_t i = 0; i < 12; ++i) s1.Send(kBroadcastMac, 0x020000995000 + i, 10 + i);
  ASSERT_TRUE(s2.Sees(21));
  EXPECT_TRUE(WaitFor([&] { return bridge_->address_count() == 4; }));
  EXPECT_LE(Addresses().size(), 4u);
  EXPECT_TRUE(WaitFor([&] {
    return bridge_->GetCounters().refused[static_cast<size_t>(LearnRefusal::kTableFull)] >=
           full_before + 8;
  }));
  // A source that was refused is unknown: frames to it flood to every port.
  Mac refused = 0;
  for (uint8_t i = 0; i < 12 && refused == 0; ++i) {
    if (!bridge_->GetAddress(1, 0x020000995000 + i)) refused = 0x020000995000 + i;
  }
  ASSERT_NE(refused, 0u);
  s2.Send(refused, kPodMac[2], 40);
  EXPECT_TRUE(s1.Sees(40));
  EXPECT_TRUE(s3.Sees(40));
}

// The kernel engine's host vport: a veth pair in the host namespace whose
// switch end is the port and whose stack end carries the host's side; the
// pods reach it (ARP through the program by plain redirect: a peer
// redirect cannot stay in one namespace), and deleting it removes the port.
TEST_F(KernelSwitchTest, HostVethVportLifecycle) {
  const std::string name = prefix_ + "g0";
  auto v = CreateHostVethVport(name, Mac{0x020000990010}, 1400);
  ASSERT_TRUE(v.ok()) << v.status();
  host_ifs_.push_back(name);
  const std::string stack = name + "-h";
  Cmd show = Sh("ip -o link show " + stack);
  EXPECT_NE(show.out.find("mtu 1400"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("02:00:00:99:00:10"), std::string::npos) << show.out;
  AddInterface(name);
  if (HasFatalFailure()) return;
  EXPECT_EQ(bridge_->GetPort(name)->mtu, 1400u);
  // Frames from the pods reach the stack end: a broadcast, and a unicast to
  // its MAC once learned.
  auto rx = [&] {
    return std::stoull(Sh("cat /sys/class/net/" + stack + "/statistics/rx_packets").out);
  };
  ASSERT_EQ(Sh("ip link set " + stack + " arp off").rc, 0);  // no chatter of its own
  PodSocket s1(Ns(1));
  const uint64_t before = rx();
  s1.Send(kBroadcastMac, kPodMac[1], 1);
  EXPECT_TRUE(WaitFor([&] { return rx() >= before + 1; }));
  ASSERT_TRUE(bridge_->AddStaticAddress(1, Mac{0x020000990010}, name).ok());
  const uint64_t before_unicast = rx();
  s1.Send(Mac{0x020000990010}, kPodMac[1], 2);
  EXPECT_TRUE(WaitFor([&] { return rx() >= before_unicast + 1; }));
  EXPECT_EQ(bridge_->GetPortCounters(name)->tx_packets >= 2, true);
  EXPECT_EQ(CreateHostVethVport(name).status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(DeleteVport(name).ok());
  EXPECT_TRUE(WaitFor([&] { return !bridge_->GetPort(name).ok(); }));
  EXPECT_NE(Sh("ip link show " + stack).rc, 0);
  EXPECT_EQ(CreateHostVethVport(prefix_ + "toolongname0").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace veb::integration_test

// Linux dataplane integration tests (fixture: linux_integration_test_util.h):
// forwarding and learning on real veth and TAP pods, link state, interface
// removal, TCP with GSO byte for byte, refusals.
#include "test/integration/linux_integration_test_util.h"

namespace veb::integration_test {
namespace {

TEST_P(LinuxSwitchTest, PingAcrossAndLearnAddresses) {
  std::string rtt;
  EXPECT_TRUE(Ping(1, 2, 5, &rtt));
  std::printf("ping pod1 -> pod2 through veb (%s engine): rtt min/avg/max/mdev %s ms\n",
              EngineName(engine_), rtt.c_str());
  EXPECT_TRUE(Ping(1, 3));
  EXPECT_TRUE(Ping(3, 2));
  // S7: ARP (and ICMP) taught the bridge where each pod is.
  EXPECT_EQ(Owner(kPodMac[1]), HostIf(1));
  EXPECT_EQ(Owner(kPodMac[2]), HostIf(2));
  EXPECT_EQ(Owner(kPodMac[3]), HostIf(3));
}

TEST_P(LinuxSwitchTest, UnknownUnicastRespectsDiscoverAndNoHairpin) {
  PortConfig no_discover;
  no_discover.discover = false;
  ASSERT_TRUE(bridge_->UpdatePort(HostIf(3), no_discover).ok());
  PodSocket s1(Ns(1)), s2(Ns(2)), s3(Ns(3));
  // S9: unknown unicast floods only to ports with discover.
  s1.Send(0x0200009900ee, kPodMac[1], 1);
  EXPECT_TRUE(s2.Sees(1));
  EXPECT_FALSE(s3.Sees(1, 300));
  // Broadcast floods regardless of discover.
  s1.Send(kBroadcastMac, kPodMac[1], 2);
  EXPECT_TRUE(s2.Sees(2));
  EXPECT_TRUE(s3.Sees(2));
  // S8: a frame to a MAC learned on the receiving port is never sent back
  // (nor anywhere else).
  ASSERT_TRUE(WaitFor([&] { return Owner(kPodMac[1]) == HostIf(1); }));
  const uint64_t hairpin_before = bridge_->GetPortCounters(HostIf(1))->in(DropReason::kHairpin);
  s1.Send(kPodMac[1], kPodMac[1], 3);
  EXPECT_FALSE(s2.Sees(3, 300));
  EXPECT_FALSE(s3.Sees(3, 100));
  EXPECT_TRUE(WaitFor([&] {
    return bridge_->GetPortCounters(HostIf(1))->in(DropReason::kHairpin) == hairpin_before + 1;
  }));
}

TEST_P(LinuxSwitchTest, LinkDownStopsForwardingUntilUp) {
  ASSERT_TRUE(Ping(1, 2, 1));
  ASSERT_EQ(Sh(absl::StrCat("ip -n ", Ns(2), " link set eth0 down")).rc, 0);
  auto p2 = PortOf(HostIf(2));
  ASSERT_NE(p2, nullptr);
  EXPECT_TRUE(WaitFor([&] { return !p2->running(); }));  // S1 via the monitor
  EXPECT_FALSE(Ping(1, 2, 1));
  ASSERT_EQ(Sh(absl::StrCat("ip -n ", Ns(2), " link set eth0 up")).rc, 0);
  EXPECT_TRUE(WaitFor([&] { return p2->running(); }));
  EXPECT_TRUE(WaitFor([&] { return Ping(1, 2, 1); }, 5000));
}

TEST_P(LinuxSwitchTest, DeletingPodInterfaceRemovesPortAndAddresses) {
  ASSERT_TRUE(Ping(3, 1, 1));
  ASSERT_EQ(Owner(kPodMac[3]), HostIf(3));
  ASSERT_EQ(Sh(absl::StrCat("ip -n ", Ns(3), " link del eth0")).rc, 0);
  // S12 via the monitor: the host end vanished with the pod end.
  EXPECT_TRUE(WaitFor([&] { return bridge_->port_count() == 2; }));
  EXPECT_FALSE(bridge_->GetPort(HostIf(3)).ok());
  EXPECT_EQ(Owner(kPodMac[3]), std::nullopt);
  EXPECT_TRUE(Ping(1, 2, 1));
}

TEST_F(UserspaceSwitchTest, TapPodExchangesPings) {
  AddTapPod(4);
  if (HasFatalFailure()) return;
  std::string rtt;
  EXPECT_TRUE(Ping(4, 1, 5, &rtt));
  std::printf("ping TAP pod4 -> veth pod1 through veb: rtt min/avg/max/mdev %s ms\n",
              rtt.c_str());
  EXPECT_TRUE(Ping(2, 4));
  EXPECT_EQ(Owner(kPodMac[4]), absl::StrCat(prefix_, "t4"));
}

// iperf3 TCP (GSO/TSO on, the default) for 3 s through the switch, and the
// same between a directly connected veth pair for scale.
TEST_P(LinuxSwitchTest, TcpThroughSwitchWithGso) {
  ASSERT_EQ(Sh("command -v iperf3").rc, 0) << "iperf3 not installed (scripts/setup.sh installs it)";
  auto gbps = [](const std::string& out) -> double {
    std::smatch m;
    if (std::regex_search(out, m, std::regex("\"sum_received\":[^}]*\"bits_per_second\":\\s*([0-9.e+]+)"))) {
      return std::stod(m[1]) / 1e9;
    }
    return -1;
  };
  auto iperf = [&](int server_ns, const std::string& server_ip, int client_ns) {
    Sh(absl::StrCat(Exec(server_ns), "iperf3 -s -1 -D -B ", server_ip));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Cmd c = Sh(absl::StrCat(Exec(client_ns), "timeout 15 iperf3 -J -t 3 -c ", server_ip));
    return gbps(c.out);
  };
  ASSERT_TRUE(Ping(1, 2, 1));
  const double veb = iperf(2, "10.99.0.2", 1);
  EXPECT_GT(veb, 0.1) << "iperf3 through veb failed";
  // Baseline: a veth pair straight between two namespaces.
  MakeNetns(8);
  MakeNetns(9);
  ASSERT_EQ(Sh(absl::StrCat("ip link add ", prefix_, "d8 netns ", Ns(8), " type veth peer name ",
                             prefix_, "d9 netns ", Ns(9))).rc, 0);
  Sh(absl::StrCat("ip -n ", Ns(8), " addr add 10.99.1.8/24 dev ", prefix_, "d8"));
  Sh(absl::StrCat("ip -n ", Ns(9), " addr add 10.99.1.9/24 dev ", prefix_, "d9"));
  Sh(absl::StrCat("ip -n ", Ns(8), " link set ", prefix_, "d8 up"));
  Sh(absl::StrCat("ip -n ", Ns(9), " link set ", prefix_, "d9 up"));
  const double direct = iperf(9, "10.99.1.9", 8);
  std::printf("iperf3 TCP 3 s: veb (%s engine) %.2f Gbit/s, direct veth pair %.2f Gbit/s (%.2fx)\n",
              EngineName(engine_), veb, direct, direct > 0 ? veb / direct : 0.0);
  // Baseline: the Linux bridge, inside its own namespace, same veth topology.
  MakeNetns(5);
  MakeNetns(6);
  MakeNetns(7);
  const std::string br = Ns(5);
  Sh(absl::StrCat("ip -n ", br, " link add br0 type bridge"));
  Sh(absl::StrCat("ip -n ", br, " link set br0 up"));
  for (int i : {6, 7}) {
    Sh(absl::StrCat("ip -n ", br, " link add b", i, " type veth peer name eth0 netns ", Ns(i)));
    Sh(absl::StrCat("ip -n ", br, " link set b", i, " master br0 up"));
    Sh(absl::StrCat("ip -n ", Ns(i), " addr add 10.99.2.", i, "/24 dev eth0"));
    Sh(absl::StrCat("ip -n ", Ns(i), " link set eth0 up"));
  }
  Sh(absl::StrCat(Exec(6), "ping -c 1 -W 2 10.99.2.7"));
  const double linux_bridge = iperf(7, "10.99.2.7", 6);
  std::printf("iperf3 TCP 3 s: Linux bridge %.2f Gbit/s; veb/Linux bridge %.2fx\n",
              linux_bridge, linux_bridge > 0 ? veb / linux_bridge : 0.0);
  absl::MutexLock lock(&mu_);
  auto p1 = ports_.count(HostIf(1)) ? ports_[HostIf(1)].linux_port : nullptr;
  if (p1 != nullptr) {
    BackendStats bs = p1->backend_stats();
    std::printf("pod1 port backend: rx_truncated=%lu rx_kernel_drops=%lu\n",
                static_cast<unsigned long>(bs.rx_truncated),
                static_cast<unsigned long>(bs.rx_kernel_drops));
  }
}

// Bytes that cross the switch inside GSO super-frames arrive intact (TX ring
// frames are copied by the kernel, never referenced after the slot is reused).
TEST_P(LinuxSwitchTest, TcpPayloadIntegrity) {
  ASSERT_TRUE(Ping(1, 2, 1));
  EXPECT_TRUE(TransferIntact(1, 2));
}

TEST_F(UserspaceSwitchTest, RefusesNonEthernetAndMissingInterfaces) {
  auto lo = AfPacketPort::Open("lo");
  ASSERT_FALSE(lo.ok());
  EXPECT_EQ(lo.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(lo.status().message(), "port \"lo\": add: interface is not Ethernet (type 772)");
  auto missing = AfPacketPort::Open(prefix_ + "none");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  auto dup = CreateVethPodVport("/run/netns/" + Ns(1), "eth0", prefix_ + "x1");
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists) << dup.status();
  // Nothing half-made is left behind.
  EXPECT_NE(Sh("ip link show " + prefix_ + "x1").rc, 0);
  auto no_ns = CreateVethPodVport("/run/netns/" + prefix_ + "-nope", "eth0", prefix_ + "x2");
  EXPECT_EQ(no_ns.status().code(), absl::StatusCode::kNotFound) << no_ns.status();
}

INSTANTIATE_TEST_SUITE_P(Engines, LinuxSwitchTest,
                         ::testing::Values(Engine::kUserspace, Engine::kKernel), EngineTestName);

}  // namespace
}  // namespace veb::integration_test

// Linux dataplane integration tests (fixture: linux_integration_test_util.h):
// VLAN tags, protected domains and span ports, jumbo frames, host TAP vports,
// an idle switch, rules, blocknonip and locked ports on the wire, AF_XDP.
#include "test/integration/linux_integration_test_util.h"

namespace veb::integration_test {
namespace {

TEST_P(LinuxSwitchTest, TaggedFramesCrossPorts) {
  PortConfig trunk;
  trunk.pvid = kPvidNone;
  trunk.tagged = {10};
  ASSERT_TRUE(bridge_->UpdatePort(HostIf(1), trunk).ok());
  ASSERT_TRUE(bridge_->UpdatePort(HostIf(2), trunk).ok());
  PodSocket s1(Ns(1)), s2(Ns(2)), s3(Ns(3));
  s1.SendTagged(kBroadcastMac, kPodMac[1], 10, 7);
  EXPECT_TRUE(s2.Sees(7));
  EXPECT_FALSE(s3.Sees(7, 300));  // pod3: PVID 1, VID 10 not tagged there
  EXPECT_EQ(Owner(kPodMac[1]), HostIf(1));
  bool learned_in_vid10 = false;
  for (const AddressInfo& a : Addresses()) {
    if (a.mac == kPodMac[1] && a.vid == 10) learned_in_vid10 = true;
  }
  EXPECT_TRUE(learned_in_vid10);
}

// S10: pods 1 and 2 share protected domain 5 and cannot talk; both still
// reach pod 3. S2: a span port (pod 4's veth) sees every received frame.
TEST_P(LinuxSwitchTest, ProtectedDomainsAndSpanPort) {
  MakeNetns(4);
  auto v = CreateVethPodVport("/run/netns/" + Ns(4), "eth0", HostIf(4), kPodMac[4]);
  ASSERT_TRUE(v.ok()) << v.status();
  host_ifs_.push_back(HostIf(4));
  AddInterface(HostIf(4), /*span=*/true);
  if (HasFatalFailure()) return;
  PortConfig protected5;
  protected5.protected_domains = 1u << 5;
  ASSERT_TRUE(bridge_->UpdatePort(HostIf(1), protected5).ok());
  ASSERT_TRUE(bridge_->UpdatePort(HostIf(2), protected5).ok());
  PodSocket s1(Ns(1)), s2(Ns(2)), s3(Ns(3)), s4(Ns(4));
  s1.Send(kBroadcastMac, kPodMac[1], 9);
  EXPECT_TRUE(s3.Sees(9));
  EXPECT_TRUE(s4.Sees(9, 100));  // the span copy
  EXPECT_FALSE(s2.Sees(9, 300));
  EXPECT_FALSE(Ping(1, 2, 1));
  EXPECT_TRUE(Ping(1, 3, 1));
  EXPECT_TRUE(Ping(2, 3, 1));
}

// MTU changes reach the ports through the link monitor; 9000-byte frames
// cross the switch, and frames larger than the egress port's MTU are dropped
// as too_big on that port.
TEST_P(LinuxSwitchTest, JumboFramesAndEgressMtu) {
  for (int i : {1, 2}) {
    ASSERT_EQ(Sh(absl::StrCat("ip link set ", HostIf(i), " mtu 9000")).rc, 0);
    ASSERT_EQ(Sh(absl::StrCat("ip -n ", Ns(i), " link set eth0 mtu 9000")).rc, 0);
  }
  auto p2 = PortOf(HostIf(2));
  ASSERT_NE(p2, nullptr);
  EXPECT_TRUE(WaitFor([&] { return p2->mtu() == 9000 && PortOf(HostIf(1))->mtu() == 9000; }));
  EXPECT_TRUE(WaitFor([&] {
    return Sh(absl::StrCat(Exec(1), "ping -n -q -c 1 -W 1 -M do -s 8972 10.99.0.2")).rc == 0;
  }, 5000));
  // Egress MTU back to 1500 on pod2's port only.
  ASSERT_EQ(Sh(absl::StrCat("ip link set ", HostIf(2), " mtu 1500")).rc, 0);
  EXPECT_TRUE(WaitFor([&] { return p2->mtu() == 1500; }));
  const uint64_t before = bridge_->GetPortCounters(HostIf(2))->out(DropReason::kTooBig);
  EXPECT_NE(Sh(absl::StrCat(Exec(1), "ping -n -q -c 2 -i 0.2 -W 1 -M do -s 8972 10.99.0.2")).rc, 0);
  EXPECT_EQ(bridge_->GetPortCounters(HostIf(2))->out(DropReason::kTooBig), before + 2);
}

// A host TAP vport (no address: the test keeps addresses inside namespaces)
// joins the bridge through its fd; deleting it removes the port (S12) and
// leaves nothing behind.
TEST_F(UserspaceSwitchTest, HostTapVportLifecycle) {
  const std::string name = prefix_ + "g0";
  auto v = CreateHostTapVport(name, Mac{0x020000990010}, 1400);
  ASSERT_TRUE(v.ok()) << v.status();
  host_ifs_.push_back(name);
  Cmd show = Sh("ip -o link show " + name);
  EXPECT_NE(show.out.find("mtu 1400"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("02:00:00:99:00:10"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("UP"), std::string::npos) << show.out;
  auto port = TapPort::Create(name, v->tap_fd, v->ifindex, v->mac, v->mtu);
  ASSERT_TRUE(port.ok()) << port.status();
  AddPort(*port);
  EXPECT_EQ(bridge_->GetPort(name)->mtu, 1400u);
  // The pods' ARP broadcasts reach the TAP (the host stack sees them).
  EXPECT_FALSE(Ping(1, 9, 1));
  EXPECT_TRUE(CreateHostTapVport(name).status().code() == absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(DeleteVport(name).ok());
  EXPECT_TRUE(WaitFor([&] { return !bridge_->GetPort(name).ok(); }));
  EXPECT_NE(Sh("ip link show " + name).rc, 0);
  EXPECT_EQ(DeleteVport(name).code(), absl::StatusCode::kNotFound);
}

// An idle switch sleeps in epoll_wait.
TEST_P(LinuxSwitchTest, IdleSwitchUsesNoCpu) {
  auto cpu_ticks = [] {
    FILE* f = std::fopen("/proc/self/stat", "r");
    char buf[2048] = {};
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    std::string s(buf, n);
    std::vector<std::string> fields;
    size_t pos = s.rfind(')') + 2;
    std::string rest = s.substr(pos);
    size_t start = 0;
    for (size_t i = 0; i <= rest.size(); ++i) {
      if (i == rest.size() || rest[i] == ' ') {
        fields.push_back(rest.substr(start, i - start));
        start = i + 1;
      }
    }
    return std::stoull(fields[11]) + std::stoull(fields[12]);  // utime + stime
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const uint64_t before = cpu_ticks();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const uint64_t used = cpu_ticks() - before;
  std::printf("idle switch (%s engine, 3 ports, link monitor): %lu ticks in 2 s\n",
              EngineName(engine_), static_cast<unsigned long>(used));
  EXPECT_LE(used, 2u);  // < 1% of a core (100 ticks/s)
}

// S5 on the wire: an anti-spoofing `in` list on pod1's port (pass ARP whose
// sender is pod1's own MAC and IP, block every other ARP) stops pod1 from
// claiming pod2's IP or another sender MAC, while pod1's genuine ARP crosses
// and the blocked frames are counted as rules_in.
TEST_P(LinuxSwitchTest, InRuleBlocksSpoofedArp) {
  Rule pass_own;
  pass_own.action = RuleAction::kPass;
  pass_own.arp = ArpKind::kArp;
  pass_own.arp_sha = kPodMac[1];
  pass_own.arp_spa = PodIp(1);
  Rule block_arp;
  block_arp.arp = ArpKind::kArp;
  ASSERT_TRUE(bridge_->AddRule(HostIf(1), pass_own).ok());
  ASSERT_TRUE(bridge_->AddRule(HostIf(1), block_arp).ok());
  ASSERT_EQ(bridge_->ListRules(HostIf(1))->size(), 2u);
  PodSocket s1(Ns(1)), s2(Ns(2)), s3(Ns(3));
  const uint64_t before = bridge_->GetPortCounters(HostIf(1))->in(DropReason::kRulesIn);
  // Gratuitous replies: "10.99.0.2 is at pod1's MAC", and "10.99.0.1 is at
  // pod2's MAC" (spoofed sha, Ethernet source still pod1's).
  const std::vector<uint8_t> spoof_spa = ArpFrame(kBroadcastMac, kPodMac[1], kEtherTypeArp,
      kArpOpReply, kPodMac[1], PodIp(2), kBroadcastMac, PodIp(2));
  const std::vector<uint8_t> spoof_sha = ArpFrame(kBroadcastMac, kPodMac[1], kEtherTypeArp,
      kArpOpReply, kPodMac[2], PodIp(1), kBroadcastMac, PodIp(1));
  const std::vector<uint8_t> genuine = ArpFrame(kBroadcastMac, kPodMac[1], kEtherTypeArp,
      kArpOpReply, kPodMac[1], PodIp(1), kBroadcastMac, PodIp(1));
  s1.SendRaw(spoof_spa);
  s1.SendRaw(spoof_sha);
  s1.SendRaw(genuine);
  EXPECT_TRUE(s3.SeesFrame(genuine));  // also proves the capture works
  // Frames leave pod1 in order: once the genuine one arrived, the spoofed
  // ones would have too (the waits below are slack).
  EXPECT_FALSE(s3.SeesFrame(spoof_spa, 200));
  EXPECT_FALSE(s3.SeesFrame(spoof_sha, 100));
  EXPECT_FALSE(s2.SeesFrame(spoof_spa, 100));
  EXPECT_FALSE(s2.SeesFrame(spoof_sha, 100));
  EXPECT_TRUE(WaitFor([&] {
    return bridge_->GetPortCounters(HostIf(1))->in(DropReason::kRulesIn) == before + 2;
  }, 2000)) << bridge_->GetPortCounters(HostIf(1))->in(DropReason::kRulesIn) - before;
  // The kernel's own ARP (sender = pod1) passes both ways.
  EXPECT_TRUE(Ping(1, 3, 1));
  EXPECT_TRUE(Ping(2, 1, 1));
  EXPECT_EQ(bridge_->GetPortCounters(HostIf(1))->in(DropReason::kRulesIn), before + 2);
}

// S4 on the wire: with blocknonip on pod1's port, a 0x88b5 frame neither
// leaves pod1 through the switch (blocknonip_in) nor reaches pod1 from pod3
// (blocknonip_out), while IPv4, ARP, RARP and IPv6 cross in both directions.
TEST_P(LinuxSwitchTest, BlockNonIpDropsOtherEthertypes) {
  for (int i : {1, 3}) {
    ASSERT_EQ(Sh(absl::StrCat("ip -n ", Ns(i), " addr add fd99::", i, "/64 dev eth0 nodad")).rc, 0);
  }
  PortConfig nonip;
  nonip.blocknonip = true;
  ASSERT_TRUE(bridge_->UpdatePort(HostIf(1), nonip).ok());
  PodSocket s1(Ns(1)), s2(Ns(2)), s3(Ns(3));
  auto counters = [&] { return *bridge_->GetPortCounters(HostIf(1)); };
  const PortCounters before = counters();
  // From pod1: not forwarded to anyone, counted on input.
  s1.Send(kBroadcastMac, kPodMac[1], 21);
  EXPECT_FALSE(s3.Sees(21, 300));
  EXPECT_FALSE(s2.Sees(21, 100));
  EXPECT_TRUE(WaitFor([&] {
    return counters().in(DropReason::kBlockNonIpIn) == before.in(DropReason::kBlockNonIpIn) + 1;
  }, 2000));
  // To pod1: pod2 (no blocknonip) gets the flood, pod1 does not.
  s3.Send(kBroadcastMac, kPodMac[3], 22);
  EXPECT_TRUE(s2.Sees(22));
  EXPECT_FALSE(s1.Sees(22, 200));
  EXPECT_TRUE(WaitFor([&] {
    return counters().out(DropReason::kBlockNonIpOut) == before.out(DropReason::kBlockNonIpOut) + 1;
  }, 2000));
  // ARP and RARP cross both ways.
  const std::vector<uint8_t> arp1 = ArpFrame(kBroadcastMac, kPodMac[1], kEtherTypeArp,
      kArpOpReply, kPodMac[1], PodIp(1), kBroadcastMac, PodIp(1));
  const std::vector<uint8_t> rarp1 = ArpFrame(kBroadcastMac, kPodMac[1], kEtherTypeRarp,
      kRarpOpRequest, kPodMac[1], 0, kPodMac[1], 0);
  const std::vector<uint8_t> arp3 = ArpFrame(kBroadcastMac, kPodMac[3], kEtherTypeArp,
      kArpOpReply, kPodMac[3], PodIp(3), kBroadcastMac, PodIp(3));
  const std::vector<uint8_t> rarp3 = ArpFrame(kBroadcastMac, kPodMac[3], kEtherTypeRarp,
      kRarpOpRequest, kPodMac[3], 0, kPodMac[3], 0);
  s1.SendRaw(arp1);
  s1.SendRaw(rarp1);
  EXPECT_TRUE(s3.SeesFrame(arp1));
  EXPECT_TRUE(s3.SeesFrame(rarp1));
  s3.SendRaw(arp3);
  s3.SendRaw(rarp3);
  EXPECT_TRUE(s1.SeesFrame(arp3));
  EXPECT_TRUE(s1.SeesFrame(rarp3));
  // IPv4 (with ARP) and IPv6 (with neighbour discovery) both ways.
  EXPECT_TRUE(Ping(1, 3, 1));
  EXPECT_TRUE(Ping(3, 1, 1));
  EXPECT_EQ(Sh(absl::StrCat(Exec(1), "ping -6 -n -q -c 1 -W 2 fd99::3")).rc, 0);
  EXPECT_EQ(Sh(absl::StrCat(Exec(3), "ping -6 -n -q -c 1 -W 2 fd99::1")).rc, 0);
  // Nothing IP-like was taken for non-IP.
  const PortCounters after = counters();
  EXPECT_EQ(after.in(DropReason::kBlockNonIpIn), before.in(DropReason::kBlockNonIpIn) + 1);
  EXPECT_EQ(after.out(DropReason::kBlockNonIpOut), before.out(DropReason::kBlockNonIpOut) + 1);
}

// S6 on the wire: pod1's port is locked (learning and discover off, as the
// contract requires) with a static entry for pod1's MAC. Frames from any other
// source MAC on that port never reach pod2 and count as `locked`; pod1's own
// MAC pings fine, also after pod1 changed its MAC away and back.
TEST_P(LinuxSwitchTest, LockedPortPassesOnlyItsStaticMac) {
  PortConfig locked;
  locked.locked = true;
  EXPECT_EQ(bridge_->UpdatePort(HostIf(1), locked).code(), absl::StatusCode::kFailedPrecondition);
  locked.learning = false;
  EXPECT_EQ(bridge_->UpdatePort(HostIf(1), locked).code(), absl::StatusCode::kFailedPrecondition);
  locked.discover = false;
  ASSERT_TRUE(bridge_->UpdatePort(HostIf(1), locked).ok());
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kPodMac[1], HostIf(1)).ok());
  EXPECT_TRUE(Ping(1, 2, 1));
  auto locked_drops = [&] { return bridge_->GetPortCounters(HostIf(1))->in(DropReason::kLocked); };
  constexpr Mac kForged = 0x0200009900e1;
  PodSocket s1(Ns(1)), s2(Ns(2));
  const uint64_t before = locked_drops();
  s1.Send(kBroadcastMac, kForged, 31);
  s1.Send(kBroadcastMac, kPodMac[1], 32);
  EXPECT_TRUE(s2.Sees(32));
  EXPECT_FALSE(s2.Sees(31, 200));
  EXPECT_TRUE(WaitFor([&] { return locked_drops() == before + 1; }, 2000))
      << locked_drops() - before;
  EXPECT_EQ(Owner(kForged), std::nullopt);  // not learned either
  // pod1 takes another MAC: its ARP and IPv6 chatter is dropped as locked,
  // none of it reaches pod2. (Its ARP requests are what must not cross: with
  // discover off, pod2's reply to an unknown MAC could not reach pod1 anyway.)
  constexpr Mac kNewMac = 0x0200009900a1;
  auto from_new_mac = [&](const uint8_t* d, size_t n) {
    return n >= 12 && LoadMac(d + 6) == kNewMac;
  };
  const std::string set_mac = absl::StrCat("ip -n ", Ns(1), " link set eth0 address ");
  ASSERT_EQ(Sh(set_mac + FormatMac(kNewMac)).rc, 0);
  EXPECT_FALSE(Ping(1, 2, 1));
  EXPECT_GT(locked_drops(), before + 1);
  EXPECT_FALSE(s2.SeesIf(from_new_mac, 200));
  EXPECT_EQ(Owner(kNewMac), std::nullopt);
  ASSERT_EQ(Sh(set_mac + FormatMac(kPodMac[1])).rc, 0);
  EXPECT_TRUE(WaitFor([&] { return Ping(1, 2, 1); }, 5000));
  EXPECT_EQ(Owner(kPodMac[1]), HostIf(1));
}

// AF_XDP: pods 4 and 5 behind AF_XDP ports, pods 1-3 behind AF_PACKET. Frames
// cross in every combination; TCP from an AF_PACKET pod (GSO super-frames
// with partial checksums) reaches an AF_XDP pod as software-made segments,
// byte for byte; tags survive; releasing the port detaches the XDP program
// and gives the pod its offloads back.
TEST_F(UserspaceSwitchTest, AfXdpPortsForwardAndSegmentGsoInSoftware) {
  AddVethPod(4, /*xdp=*/true);
  AddVethPod(5, /*xdp=*/true);
  if (HasFatalFailure()) return;
  auto p4 = std::dynamic_pointer_cast<AfXdpPort>(PortOf(HostIf(4)));
  ASSERT_NE(p4, nullptr);
  std::printf("AF_XDP port mode on veth: %s\n", AfXdpModeName(p4->mode()));
  EXPECT_NE(Sh("ip link show " + HostIf(4)).out.find("xdp"), std::string::npos)
      << "no XDP program attached";
  std::string rtt;
  EXPECT_TRUE(Ping(4, 5, 5, &rtt));
  std::printf("ping AF_XDP pod4 -> AF_XDP pod5: rtt min/avg/max/mdev %s ms\n", rtt.c_str());
  EXPECT_TRUE(Ping(4, 1));
  EXPECT_TRUE(Ping(2, 5));
  EXPECT_EQ(Owner(kPodMac[4]), HostIf(4));
  EXPECT_EQ(Owner(kPodMac[5]), HostIf(5));
  EXPECT_TRUE(TransferIntact(1, 4)) << "AF_PACKET (GSO) -> AF_XDP (software segments)";
  EXPECT_TRUE(TransferIntact(5, 2)) << "AF_XDP -> AF_PACKET";
  EXPECT_TRUE(TransferIntact(4, 5)) << "AF_XDP -> AF_XDP";
  // S3 across the backends: a tagged frame from a trunk AF_PACKET port
  // arrives tagged at a trunk AF_XDP port.
  PortConfig trunk;
  trunk.pvid = kPvidNone;
  trunk.tagged = {10};
  ASSERT_TRUE(bridge_->UpdatePort(HostIf(1), trunk).ok());
  ASSERT_TRUE(bridge_->UpdatePort(HostIf(4), trunk).ok());
  PodSocket s1(Ns(1)), s4(Ns(4)), s5(Ns(5));
  s1.SendTagged(kBroadcastMac, kPodMac[1], 10, 11);
  EXPECT_TRUE(s4.Sees(11));
  EXPECT_FALSE(s5.Sees(11, 300));  // PVID 1, VID 10 not tagged there
  // Release: no program left on the interface, the pod's TSO back.
  auto tso_on = [&] {
    return Sh(absl::StrCat(Exec(4), "ethtool -k eth0")).out.find("tcp-segmentation-offload: on") !=
           std::string::npos;
  };
  EXPECT_FALSE(tso_on()) << "veth offers no GSO to the peer of an XDP port";
  {
    absl::MutexLock lock(&mu_);
    ASSERT_TRUE(pool_->Detach(p4.get()).ok());
    ASSERT_TRUE(bridge_->RemovePort(HostIf(4)).ok());
    ports_.erase(HostIf(4));
  }
  p4.reset();
  EXPECT_EQ(Sh("ip link show " + HostIf(4)).out.find("xdp"), std::string::npos);
  EXPECT_TRUE(tso_on());
  // S12 on an AF_XDP port: the pod's interface vanishes under the socket.
  const size_t before = bridge_->port_count();
  ASSERT_EQ(Sh(absl::StrCat("ip -n ", Ns(5), " link del eth0")).rc, 0);
  EXPECT_TRUE(WaitFor([&] { return bridge_->port_count() == before - 1; }));
  EXPECT_EQ(Owner(kPodMac[5]), std::nullopt);
  EXPECT_TRUE(Ping(2, 3, 1));  // pod 1 is a VLAN trunk by now
}

TEST_F(UserspaceSwitchTest, AfXdpRefusesWhatItCannotDoWithoutLeavingAnything) {
  auto lo = AfXdpPort::Open("lo");
  ASSERT_FALSE(lo.ok());
  EXPECT_EQ(lo.status().code(), absl::StatusCode::kFailedPrecondition);
  auto missing = AfXdpPort::Open(prefix_ + "none");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(Sh(absl::StrCat("ip link set ", HostIf(3), " mtu 9000")).rc, 0);
  auto jumbo = AfXdpPort::Open(HostIf(3));
  ASSERT_FALSE(jumbo.ok());
  EXPECT_EQ(jumbo.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(jumbo.status().message(),
            absl::StrCat("port \"", HostIf(3),
                         "\": add: AF_XDP: MTU 9000 above 3822 (one frame per 4 KiB UMEM chunk)"));
  EXPECT_EQ(Sh("ip link show " + HostIf(3)).out.find("xdp"), std::string::npos);
}

}  // namespace
}  // namespace veb::integration_test

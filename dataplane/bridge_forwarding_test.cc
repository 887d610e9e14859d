// Forwarding contract tests, S8-S12 of docs/design.md (known and unknown
// unicast, protected domains, accounting, port removal) and configuration
// validation. Fixture: bridge_test_util.h.
#include "dataplane/bridge_test_util.h"

namespace veb::bridge_test {
namespace {

// ---- S8 ----------------------------------------------------------------------

TEST_P(BridgeTest, S8_KnownUnicastGoesOnlyToItsPort) {
  Add("p1");
  Add("p2");
  Add("p3");
  SendEth("p2", kB, kBroadcastMac);
  ClearSent();
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(Sent("p3"), 0u);
  EXPECT_EQ(Counters("p1").unicast, 1u);
}

TEST_P(BridgeTest, S8_HairpinNeverHappens) {
  Add("p1");
  Add("p2");
  SendEth("p1", kB, kBroadcastMac);  // kB on p1
  ClearSent();
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p1") + Sent("p2"), 0u);
  EXPECT_EQ(Counters("p1").in(DropReason::kHairpin), 1u);
}

TEST_P(BridgeTest, S8_KnownUnicastToProtectedPeerDropped) {
  PortConfig dom;
  dom.protected_domains = 1u << 3;
  Add("p1", dom);
  Add("p2", dom);
  SendEth("p2", kB, kBroadcastMac);
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Counters("p2").out(DropReason::kProtected), 1u);
}

// ---- S9 ----------------------------------------------------------------------

TEST_P(BridgeTest, S9_UnknownUnicastFloodsOnlyToDiscoverPorts) {
  PortConfig nodiscover;
  nodiscover.discover = false;
  Add("p1");
  Add("p2");
  Add("quiet", nodiscover);
  SendEth("p1", kA, kUnknown);
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(Sent("quiet"), 0u);
  EXPECT_EQ(Sent("p1"), 0u);
  // Broadcast and multicast ignore discover.
  SendEth("p1", kA, kBroadcastMac);
  SendEth("p1", kA, 0x333300000001ULL);
  EXPECT_EQ(Sent("quiet"), 2u);
}

TEST_P(BridgeTest, S9_ReservedGroupAddressesNotForwardedUnlessAllowed) {
  Add("p1");
  Add("p2");
  for (Mac m : {0x0180c2000000ULL, 0x0180c2000002ULL, 0x0180c200000eULL}) {
    SendEth("p1", kA, m, 0x88cc);
  }
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Counters("p1").in(DropReason::kReservedAddress), 3u);
  SendEth("p1", kA, 0x0180c2000010ULL);  // not in the reserved block
  EXPECT_EQ(Sent("p2"), 1u);
  BridgeConfig c;
  c.allow_reserved = true;
  ASSERT_TRUE(bridge_->Update(c).ok());
  SendEth("p1", kA, 0x0180c2000000ULL);
  EXPECT_EQ(Sent("p2"), 2u);
}

// ---- S10 ---------------------------------------------------------------------

TEST_P(BridgeTest, S10_ProtectedDomainsIsolateFloods) {
  PortConfig d1;
  d1.protected_domains = 1u << 1;
  PortConfig d12;
  d12.protected_domains = (1u << 1) | (1u << 2);
  PortConfig d2;
  d2.protected_domains = 1u << 2;
  Add("a", d1);
  Add("b", d12);
  Add("c", d2);
  Add("uplink");
  SendEth("a", kA, kBroadcastMac);
  EXPECT_EQ(Sent("b"), 0u);  // shares domain 1
  EXPECT_EQ(Sent("c"), 1u);  // no common domain
  EXPECT_EQ(Sent("uplink"), 1u);
  EXPECT_EQ(Counters("b").out(DropReason::kProtected), 1u);
  ClearSent();
  SendEth("b", kB, kBroadcastMac);
  EXPECT_EQ(Sent("a") + Sent("c"), 0u);
  EXPECT_EQ(Sent("uplink"), 1u);
  ClearSent();
  SendEth("uplink", kC, kBroadcastMac);
  EXPECT_EQ(Sent("a") + Sent("b") + Sent("c"), 3u);
}

TEST_P(BridgeTest, S10_DomainOutOfRangeRejected) {
  PortConfig c;
  c.protected_domains = 1u;  // domain 0
  auto r = bridge_->AddPort(NewPort("p1"), c);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bridge_->port_count(), 0u);
}

// ---- S11 (the randomized invariant is in accounting_test.cc) -------------------

TEST_P(BridgeTest, S11_RuntCountedOnce) {
  Add("p1");
  Add("p2");
  // Shorter than a tagged header (18 bytes).
  for (size_t len : {14u, 15u, 17u}) {
    std::vector<uint8_t> f = Tagged(kA, kB, 1);
    f.resize(len);
    Send("p1", f);
  }
  auto arp = MakeArp({.src = kA, .sha = kA});
  arp.resize(30);
  Send("p1", arp);
  const PortCounters c = Counters("p1");
  EXPECT_EQ(c.rx_packets, 4u);
  EXPECT_EQ(c.in(DropReason::kRunt), 4u);
  EXPECT_EQ(c.total_in_drops(), 4u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_P(UserspaceBridgeTest, S11_ShorterThanEthernetHeaderIsRunt) {
  Add("p1");
  Add("p2");
  for (size_t len : {0u, 1u, 13u}) Send("p1", std::vector<uint8_t>(len, 0));
  EXPECT_EQ(Counters("p1").in(DropReason::kRunt), 3u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_P(BridgeTest, S11_TooBigForEgressMtuUnlessGso) {
  Add("p1");
  TestPort& p2 = Add("p2");
  p2.set_mtu(1500);
  FrameSpec s{kBroadcastMac, kA};
  s.payload = 1500;
  Send("p1", MakeFrame(s));
  EXPECT_EQ(Sent("p2"), 1u);
  s.payload = 1501;
  Send("p1", MakeFrame(s));
  EXPECT_EQ(Counters("p2").out(DropReason::kTooBig), 1u);
  Send("p1", MakeFrame(s), /*gso=*/true);
  EXPECT_EQ(Sent("p2"), 2u);
  // MTU 9000 jumbo frames. (BPF_PROG_TEST_RUN takes at most a page of data:
  // the kernel engine's jumbo frames are covered by kernel_bridge_attach_test.)
  if (kernel()) return;
  p2.set_mtu(9000);
  s.payload = 9000;
  Send("p1", MakeFrame(s));
  EXPECT_EQ(Sent("p2"), 3u);
}

TEST_P(UserspaceBridgeTest, S11_TransmitFailuresCountedOnEgress) {
  Add("p1");
  TestPort& p2 = Add("p2");
  TestPort& p3 = Add("p3");
  p2.FailAfter(0, DropReason::kNoBuffer);
  p3.FailAfter(0, DropReason::kTxError);
  SendEth("p1", kA, kBroadcastMac);
  EXPECT_EQ(Counters("p2").out(DropReason::kNoBuffer), 1u);
  EXPECT_EQ(Counters("p3").out(DropReason::kTxError), 1u);
  EXPECT_EQ(Counters("p2").tx_packets, 0u);
}

TEST_P(UserspaceBridgeTest, S11_BatchesGroupFramesPerEgressPort) {
  Add("p1");
  Add("p2");
  SendEth("p2", kB, kBroadcastMac);
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 40; ++i) frames.push_back(MakeFrame({kB, kA}));
  std::vector<RxFrame> batch;
  for (auto& f : frames) batch.push_back(RxFrame{f.data(), static_cast<uint32_t>(f.size()), {}});
  harness_->InputBatch("p1", absl::MakeConstSpan(batch));
  EXPECT_EQ(Sent("p2"), 40u);
  const PortCounters c1 = Counters("p1");
  EXPECT_EQ(c1.rx_packets, 40u);
  EXPECT_EQ(c1.unicast, 40u);
  EXPECT_EQ(Counters("p2").tx_packets, 40u);
  EXPECT_EQ(Counters("p2").tx_bytes, 40u * 60);
}

// ---- S12 ---------------------------------------------------------------------

TEST_P(BridgeTest, S12_RemovingPortRemovesItsAddressesAndTraffic) {
  Add("p1");
  Add("p2");
  Add("p3");
  SendEth("p2", kB, kBroadcastMac);
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kC, "p2").ok());
  ASSERT_TRUE(bridge_->RemovePort("p2").ok());
  EXPECT_FALSE(Owner(1, kB).has_value());
  EXPECT_FALSE(Owner(1, kC).has_value());
  EXPECT_EQ(bridge_->address_count(), 0u);
  ClearSent();
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Sent("p3"), 1u);  // unknown again: flooded to the rest
  EXPECT_EQ(bridge_->GetPortCounters("p2").status().code(), absl::StatusCode::kNotFound);
  // Stale frames for the removed port are ignored, not counted anywhere.
  Send("p2", MakeFrame({kA, kB}));
  EXPECT_EQ(Sent("p1"), 0u);
}

TEST_P(BridgeTest, S12_ReusedSlotStartsClean) {
  Add("p1");
  Add("p2");
  SendEth("p2", kB, kBroadcastMac);
  const PortRef old = refs_["p2"];
  ASSERT_TRUE(bridge_->RemovePort("p2").ok());
  Add("p2new");
  EXPECT_EQ(refs_["p2new"].slot, old.slot);
  EXPECT_NE(refs_["p2new"].gen, old.gen);
  EXPECT_EQ(Counters("p2new").rx_packets, 0u);
  EXPECT_FALSE(Owner(1, kB).has_value());
}

// ---- configuration errors -------------------------------------------------------

TEST_P(BridgeTest, DuplicatePortRejected) {
  Add("p1");
  auto r = bridge_->AddPort(NewPort("p1"), PortConfig{});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.status().message(), "port \"p1\": add: already a member of bridge \"veb0\"");
  EXPECT_EQ(bridge_->AddSpanPort(NewPort("p1")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bridge_->port_count(), 1u);
}

TEST_P(BridgeTest, VlanConfigValidation) {
  for (PortConfig c : {Access(4095), Trunk({0}), Trunk({4095})}) {
    auto r = bridge_->AddPort(NewPort("p1"), c);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  }
  auto both = bridge_->AddPort(NewPort("p1"), Trunk({10}, 10));
  EXPECT_EQ(both.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(both.status().message(), "port \"p1\": add: pvid 10 is also a tagged vid");
  EXPECT_EQ(bridge_->port_count(), 0u);
  EXPECT_TRUE(bridge_->AddPort(NewPort("p1"), Trunk({1, 4094}, kPvidNone)).ok());
}

TEST_P(UserspaceBridgeTest, BridgeNameAndWorkersValidated) {
  Qsbr qsbr_;
  EXPECT_FALSE(Bridge::Create("", {}, &clock_, &qsbr_, 1).ok());
  EXPECT_FALSE(Bridge::Create("a-name-longer-than-15", {}, &clock_, &qsbr_, 1).ok());
  EXPECT_FALSE(Bridge::Create("bad/name", {}, &clock_, &qsbr_, 1).ok());
  EXPECT_FALSE(Bridge::Create("veb1", {}, &clock_, &qsbr_, 0).ok());
  BridgeConfig c;
  c.timeout_seconds = 1;
  auto r = Bridge::Create("veb1", c, &clock_, &qsbr_, 1);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("bridge \"veb1\""));
}

TEST_P(BridgeTest, PortLimit) {
  for (uint32_t i = 0; i < kMaxPortsPerBridge; ++i) {
    auto added = bridge_->AddPort(NewPort("p" + std::to_string(i)), {});
    ASSERT_TRUE(added.ok()) << i << ": " << added.status();
  }
  auto r = bridge_->AddPort(NewPort("one-more"), {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(bridge_->port_count(), kMaxPortsPerBridge);
}

}  // namespace
}  // namespace veb::bridge_test

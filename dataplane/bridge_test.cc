// Forwarding contract tests, S1-S6 of docs/design.md (link state, span
// ports, VLANs, blocknonip, rules, locked ports): each test names the rule it
// checks. Fixture: bridge_test_util.h.
#include "dataplane/bridge_test_util.h"

namespace veb::bridge_test {
namespace {

// ---- S1 ----------------------------------------------------------------------

TEST_P(BridgeTest, S1_BridgeDownDropsInputAsLinkDown) {
  Add("p1");
  Add("p2");
  BridgeConfig c = bridge_->config();
  c.up = false;
  ASSERT_TRUE(bridge_->Update(c).ok());
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Counters("p1").in(DropReason::kLinkDown), 1u);
  EXPECT_FALSE(Owner(1, kA).has_value());  // nothing learned either
  c.up = true;
  ASSERT_TRUE(bridge_->Update(c).ok());
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p2"), 1u);
}

TEST_P(BridgeTest, S1_PortLinkDownDropsInput) {
  TestPort& p1 = Add("p1");
  Add("p2");
  AddSpan("span");
  p1.set_running(false);
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Sent("span"), 0u);
  EXPECT_EQ(Counters("p1").in(DropReason::kLinkDown), 1u);
}

TEST_P(BridgeTest, S1_EgressLinkDownCountedOnEgressPort) {
  Add("p1");
  TestPort& p2 = Add("p2");
  Add("p3");
  p2.set_running(false);
  SendEth("p1", kA, kBroadcastMac);
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Sent("p3"), 1u);
  EXPECT_EQ(Counters("p2").out(DropReason::kLinkDown), 1u);
}

// ---- S2 ----------------------------------------------------------------------

TEST_P(BridgeTest, S2_SpanSeesEveryReceivedFrameBeforeAnyFilter) {
  Add("p1");
  Add("p2");
  AddSpan("span");
  Rule block;
  block.src = kA;
  ASSERT_TRUE(bridge_->AddRule("p1", block).ok());
  std::vector<uint8_t> runt = Tagged(kA, kB, 1);
  runt.resize(16);  // shorter than a tagged header
  SendEth("p1", kA, kB);  // blocked by rule
  Send("p1", runt);
  SendEth("p1", kC, kB);  // forwarded
  ASSERT_EQ(Sent("span"), 3u);
  EXPECT_EQ(SentFrames("span")[1], runt);
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(Counters("span").tx_packets, 3u);
}

TEST_P(BridgeTest, S2_SpanPortTransmitsNothingElseAndIsNotSwitched) {
  Add("p1");
  Add("p2");
  AddSpan("span");
  SendEth("p1", kA, kBroadcastMac);
  EXPECT_EQ(Sent("span"), 1u);  // the copy, not a flood copy as well
  ClearSent();
  // Frames arriving on the span port itself are not forwarded.
  SendEth("span", kC, kBroadcastMac);
  EXPECT_EQ(Sent("p1") + Sent("p2") + Sent("span"), 0u);
  EXPECT_FALSE(Owner(1, kC).has_value());
}

TEST_P(BridgeTest, S2_SpanPortNotRunningGetsNoCopy) {
  Add("p1");
  Add("p2");
  TestPort& span = AddSpan("span");
  span.set_running(false);
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("span"), 0u);
  EXPECT_EQ(Sent("p2"), 1u);
  // S11: the copy the span port would have sent is counted, once, as link_down.
  const PortCounters c = Counters("span");
  EXPECT_EQ(c.out(DropReason::kLinkDown), 1u);
  EXPECT_EQ(c.total_out_drops(), 1u);
  EXPECT_EQ(c.tx_packets, 0u);
}

// ---- S3 ----------------------------------------------------------------------

TEST_P(BridgeTest, S3_UntaggedBelongsToPvidAndLeavesTaggedOnTrunk) {
  Add("access10", Access(10));
  Add("access20", Access(20));
  Add("trunk", Trunk({10, 20}));
  Send("access10", Untagged(kA, kBroadcastMac));
  EXPECT_EQ(Sent("access20"), 0u);
  EXPECT_EQ(Counters("access20").out(DropReason::kTaggedOut), 1u);
  ASSERT_EQ(Sent("trunk"), 1u);
  EXPECT_EQ(SentFrames("trunk")[0], Tagged(kA, kBroadcastMac, 10));
  EXPECT_EQ(Owner(10, kA), "access10");
}

TEST_P(BridgeTest, S3_TaggedFromTrunkLeavesUntaggedOnAccess) {
  Add("access10", Access(10));
  Add("access20", Access(20));
  Add("trunk", Trunk({10, 20}));
  Send("trunk", Tagged(kA, kBroadcastMac, 0x6014));  // PCP 3, VID 20
  EXPECT_EQ(Sent("access10"), 0u);
  ASSERT_EQ(Sent("access20"), 1u);
  EXPECT_EQ(SentFrames("access20")[0], Untagged(kA, kBroadcastMac));
  EXPECT_EQ(Owner(20, kA), "trunk");
}

TEST_P(BridgeTest, S3_TaggedAcceptedOnlyForTaggedSet) {
  Add("trunk", Trunk({10}, 1));
  Add("other", Trunk({10, 30}, 1));
  Send("trunk", Tagged(kA, kBroadcastMac, 30));
  EXPECT_EQ(Counters("trunk").in(DropReason::kTaggedIn), 1u);
  // Default: a port has no tagged VIDs at all.
  Add("plain");
  Send("plain", Tagged(kB, kBroadcastMac, 10));
  EXPECT_EQ(Counters("plain").in(DropReason::kTaggedIn), 1u);
  EXPECT_EQ(Sent("other"), 0u);
}

TEST_P(BridgeTest, S3_Vid4095IsNeverAccepted) {
  Add("trunk", Trunk({10}, 1));
  Add("p2");
  Send("trunk", Tagged(kA, kBroadcastMac, 4095));
  EXPECT_EQ(Counters("trunk").in(DropReason::kTaggedIn), 1u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_P(BridgeTest, S3_PriorityTaggedBelongsToPvid) {
  Add("access10", Access(10));
  Add("access10b", Access(10));
  Add("trunk", Trunk({10}));
  Send("access10", Tagged(kA, kBroadcastMac, 0xa000));  // PCP 5, VID 0
  ASSERT_EQ(Sent("access10b"), 1u);
  EXPECT_EQ(SentFrames("access10b")[0], Untagged(kA, kBroadcastMac));
  ASSERT_EQ(Sent("trunk"), 1u);
  // VID rewritten to the PVID, priority kept.
  EXPECT_EQ(SentFrames("trunk")[0], Tagged(kA, kBroadcastMac, 0xa00a));
  EXPECT_EQ(Owner(10, kA), "access10");
}

TEST_P(BridgeTest, S3_NoPvidDropsUntaggedAndPriorityTagged) {
  Add("trunk", Trunk({10}));
  Add("p2");
  Send("trunk", Untagged(kA, kBroadcastMac));
  Send("trunk", Tagged(kA, kBroadcastMac, 0));
  EXPECT_EQ(Counters("trunk").in(DropReason::kUntagged), 2u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_P(BridgeTest, S3_DoubleTaggedDropped) {
  Add("trunk", Trunk({10}, 1));
  Add("p2");
  FrameSpec s{kBroadcastMac, kA};
  s.ctag = 10;
  s.ether_type = kEtherTypeVlan;
  Send("trunk", MakeFrame(s));
  EXPECT_EQ(Counters("trunk").in(DropReason::kDoubleTagged), 1u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_P(BridgeTest, S3_SvlanDroppedUnlessBridgeAllows) {
  Add("p1");
  Add("p2");
  FrameSpec s{kBroadcastMac, kA};
  s.stag = 100;
  const auto frame = MakeFrame(s);
  Send("p1", frame);
  EXPECT_EQ(Counters("p1").in(DropReason::kSvlan), 1u);
  EXPECT_EQ(Sent("p2"), 0u);
  BridgeConfig c = bridge_->config();
  c.allow_svlan = true;
  ASSERT_TRUE(bridge_->Update(c).ok());
  Send("p1", frame);
  ASSERT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(SentFrames("p2")[0], frame);  // passed through opaque
}

TEST_P(BridgeTest, S3_SameMacInTwoVlansIsTwoEntries) {
  Add("trunk", Trunk({10, 20}));
  Add("a10", Access(10));
  Add("a20", Access(20));
  Send("a10", Untagged(kA, kBroadcastMac));
  Send("a20", Untagged(kA, kBroadcastMac));
  EXPECT_EQ(Owner(10, kA), "a10");
  EXPECT_EQ(Owner(20, kA), "a20");
  ClearSent();
  Send("trunk", Tagged(kB, kA, 20));
  EXPECT_EQ(Sent("a20"), 1u);
  EXPECT_EQ(Sent("a10"), 0u);
  EXPECT_EQ(Counters("trunk").unicast, 1u);
}

// ---- S4 ----------------------------------------------------------------------

TEST_P(BridgeTest, S4_BlocknonipOnInput) {
  PortConfig c;
  c.blocknonip = true;
  Add("p1", c);
  Add("p2");
  for (uint16_t t : {kEtherTypeIpv4, kEtherTypeIpv6, kEtherTypeRarp}) {
    SendEth("p1", kA, kBroadcastMac, t);
  }
  Send("p1", MakeArp({.src = kA, .sha = kA}));
  SendEth("p1", kA, kBroadcastMac, 0x88cc);  // LLDP ether type
  SendEth("p1", kA, kBroadcastMac, 0x8863);  // PPPoE
  EXPECT_EQ(Sent("p2"), 4u);
  EXPECT_EQ(Counters("p1").in(DropReason::kBlockNonIpIn), 2u);
}

TEST_P(BridgeTest, S4_BlocknonipOnOutput) {
  PortConfig c;
  c.blocknonip = true;
  Add("p1");
  Add("p2", c);
  Add("p3");
  SendEth("p1", kA, kBroadcastMac, 0x88b5);
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Sent("p3"), 1u);
  EXPECT_EQ(Counters("p2").out(DropReason::kBlockNonIpOut), 1u);
  SendEth("p1", kA, kBroadcastMac, kEtherTypeIpv6);
  EXPECT_EQ(Sent("p2"), 1u);
}

// ---- S5 ----------------------------------------------------------------------

TEST_P(BridgeTest, S5_InRuleBlocksSpoofedArp) {
  Add("p1");
  Add("p2");
  Rule spoof;  // p1 may not claim 10.0.0.2
  spoof.arp = ArpKind::kArp;
  spoof.arp_spa = Ip(10, 0, 0, 2);
  ASSERT_TRUE(bridge_->AddRule("p1", spoof).ok());
  Send("p1", MakeArp({.src = kA, .op = kArpOpReply, .sha = kA, .spa = Ip(10, 0, 0, 2)}));
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Counters("p1").in(DropReason::kRulesIn), 1u);
  Send("p1", MakeArp({.src = kA, .op = kArpOpReply, .sha = kA, .spa = Ip(10, 0, 0, 1)}));
  EXPECT_EQ(Sent("p2"), 1u);
}

TEST_P(BridgeTest, S5_InRuleBySourceMacFirstMatchWins) {
  Add("p1");
  Add("p2");
  Rule pass;
  pass.action = RuleAction::kPass;
  pass.src = kA;
  Rule block_all;
  ASSERT_TRUE(bridge_->AddRule("p1", pass).ok());
  ASSERT_TRUE(bridge_->AddRule("p1", block_all).ok());
  SendEth("p1", kA, kBroadcastMac);
  SendEth("p1", kB, kBroadcastMac);
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(Counters("p1").in(DropReason::kRulesIn), 1u);
  auto rules = bridge_->ListRules("p1");
  ASSERT_TRUE(rules.ok());
  EXPECT_THAT(*rules, ::testing::ElementsAre(pass, block_all));
}

TEST_P(BridgeTest, S5_OutRuleRunsOnEachEgressPort) {
  Add("p1");
  Add("p2");
  Add("p3");
  Rule block;
  block.directions = kRuleOut;
  block.dst = kBroadcastMac;
  ASSERT_TRUE(bridge_->AddRule("p2", block).ok());
  SendEth("p1", kA, kBroadcastMac);
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Sent("p3"), 1u);
  EXPECT_EQ(Counters("p2").out(DropReason::kRulesOut), 1u);
  // An out rule does not filter input on its own port.
  SendEth("p2", kB, kBroadcastMac);
  EXPECT_EQ(Sent("p1"), 1u);
}

TEST_P(BridgeTest, S5_InOutRuleAppliesBothWays) {
  Add("p1");
  Add("p2");
  Rule block;
  block.directions = kRuleInOut;
  block.src = kA;
  ASSERT_TRUE(bridge_->AddRule("p2", block).ok());
  SendEth("p1", kA, kBroadcastMac);
  SendEth("p2", kA, kBroadcastMac);
  EXPECT_EQ(Counters("p2").out(DropReason::kRulesOut), 1u);
  EXPECT_EQ(Counters("p2").in(DropReason::kRulesIn), 1u);
}

TEST_P(BridgeTest, S5_RuleMatchesVid) {
  Add("trunk", Trunk({10, 20}));
  Add("a10", Access(10));
  Add("a20", Access(20));
  Rule block;
  block.vid = 20;
  ASSERT_TRUE(bridge_->AddRule("trunk", block).ok());
  Send("trunk", Tagged(kA, kBroadcastMac, 10));
  Send("trunk", Tagged(kA, kBroadcastMac, 20));
  EXPECT_EQ(Sent("a10"), 1u);
  EXPECT_EQ(Sent("a20"), 0u);
  EXPECT_EQ(Counters("trunk").in(DropReason::kRulesIn), 1u);
}

TEST_P(BridgeTest, S5_FlushRules) {
  Add("p1");
  Add("p2");
  ASSERT_TRUE(bridge_->AddRule("p1", Rule{}).ok());
  SendEth("p1", kA, kBroadcastMac);
  ASSERT_TRUE(bridge_->FlushRules("p1").ok());
  SendEth("p1", kA, kBroadcastMac);
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_TRUE(bridge_->ListRules("p1")->empty());
}

TEST_P(BridgeTest, S5_InvalidRuleRejectedAndNothingChanges) {
  Add("p1");
  Rule bad;
  bad.vid = 5000;
  absl::Status s = bridge_->AddRule("p1", bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("port \"p1\""));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("vid 5000"));
  EXPECT_TRUE(bridge_->ListRules("p1")->empty());
  EXPECT_EQ(bridge_->AddRule("nope", Rule{}).code(), absl::StatusCode::kNotFound);
}

// ---- S6 ----------------------------------------------------------------------

TEST_P(BridgeTest, S6_LockedPortPassesOnlyItsStaticAddress) {
  Add("locked", Locked());
  Add("p2");
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kA, "locked").ok());
  SendEth("locked", kA, kBroadcastMac);
  SendEth("locked", kB, kBroadcastMac);  // spoofed source
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(Counters("locked").in(DropReason::kLocked), 1u);
}

TEST_P(BridgeTest, S6_LockedEntryMustPointAtThisPortAndVid) {
  Add("locked", Locked());
  Add("p2");
  SendEth("p2", kA, kBroadcastMac);  // kA learned on p2
  SendEth("locked", kA, kBroadcastMac);
  EXPECT_EQ(Counters("locked").in(DropReason::kLocked), 1u);
  ASSERT_TRUE(bridge_->AddStaticAddress(2, kB, "locked").ok());  // other VID
  SendEth("locked", kB, kBroadcastMac);
  EXPECT_EQ(Counters("locked").in(DropReason::kLocked), 2u);
}

TEST_P(BridgeTest, S6_LockedWithLearningOrDiscoverIsRejected) {
  PortConfig c;
  c.locked = true;
  c.discover = false;  // learning still on
  auto port = NewPort("p1");
  auto r = bridge_->AddPort(port, c);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()),
              ::testing::HasSubstr("port \"p1\": add: locked excludes learning"));
  EXPECT_EQ(bridge_->port_count(), 0u);
  c.learning = false;
  c.discover = true;
  EXPECT_EQ(bridge_->AddPort(port, c).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Update keeps the previous configuration on error.
  Add("p2");
  c.learning = true;
  EXPECT_FALSE(bridge_->UpdatePort("p2", c).ok());
  EXPECT_FALSE(bridge_->GetPort("p2")->config.locked);
}

// Every test of BridgeTest (here, bridge_learning_test.cc and
// bridge_forwarding_test.cc) runs against both engines.
INSTANTIATE_TEST_SUITE_P(Engines, BridgeTest,
                         ::testing::Values(Engine::kUserspace, Engine::kKernel),
                         [](const auto& info) { return EngineTestName(info.param); });
INSTANTIATE_TEST_SUITE_P(Userspace, UserspaceBridgeTest, ::testing::Values(Engine::kUserspace),
                         [](const auto& info) { return EngineTestName(info.param); });

}  // namespace
}  // namespace veb::bridge_test

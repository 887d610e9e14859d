// Forwarding contract tests: each test names the rule it checks (S1..S12 of
// docs/design.md), driven through FakePorts and a FakeClock.
#include "dataplane/bridge.h"

#include <map>

#include "dataplane/fake_port.h"
#include "dataplane/test_frames.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb {
namespace {

constexpr int64_t kSec = 1000000000;
constexpr Mac kA = 0x02000000000aULL;
constexpr Mac kB = 0x02000000000bULL;
constexpr Mac kC = 0x02000000000cULL;
constexpr Mac kUnknown = 0x0200000000ffULL;

class BridgeTest : public ::testing::Test {
 protected:
  void SetUp() override { bridge_ = Bridge::Create("veb0", {}, &clock_, &qsbr_, 1).value(); }

  FakePort& Add(const std::string& name, PortConfig cfg = {}) {
    auto port = std::make_shared<FakePort>(name);
    auto ref = bridge_->AddPort(port, cfg);
    EXPECT_TRUE(ref.ok()) << ref.status();
    ports_[name] = port;
    refs_[name] = *ref;
    return *port;
  }
  FakePort& AddSpan(const std::string& name) {
    auto port = std::make_shared<FakePort>(name);
    auto ref = bridge_->AddSpanPort(port);
    EXPECT_TRUE(ref.ok()) << ref.status();
    ports_[name] = port;
    refs_[name] = *ref;
    return *port;
  }
  void Send(const std::string& port, const std::vector<uint8_t>& frame,
            bool gso = false) {
    RxFrame f{frame.data(), static_cast<uint32_t>(frame.size()), {gso, nullptr}};
    bridge_->Input(ctx_, refs_.at(port), absl::MakeConstSpan(&f, 1));
  }
  // A frame from `src` out of port `port` to `dst`.
  void SendEth(const std::string& port, Mac src, Mac dst,
               uint16_t ether_type = kEtherTypeIpv4) {
    FrameSpec s{dst, src};
    s.ether_type = ether_type;
    Send(port, MakeFrame(s));
  }
  PortCounters Counters(const std::string& port) {
    auto c = bridge_->GetPortCounters(port);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : PortCounters{};
  }
  size_t Sent(const std::string& port) { return ports_.at(port)->sent().size(); }
  void ClearSent() {
    for (auto& [name, p] : ports_) p->Clear();
  }
  std::optional<std::string> Owner(uint16_t vid, Mac mac) {
    for (const AddressInfo& a : bridge_->ListAddresses()) {
      if (a.vid == vid && a.mac == mac) return a.port;
    }
    return std::nullopt;
  }

  FakeClock clock_;
  Qsbr qsbr_;
  std::unique_ptr<Bridge> bridge_;
  WorkerContext ctx_{&qsbr_, 0};
  std::map<std::string, std::shared_ptr<FakePort>> ports_;
  std::map<std::string, PortRef> refs_;
};

// ---- S1 ----------------------------------------------------------------------

TEST_F(BridgeTest, S1_BridgeDownDropsInputAsLinkDown) {
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

TEST_F(BridgeTest, S1_PortLinkDownDropsInput) {
  FakePort& p1 = Add("p1");
  Add("p2");
  AddSpan("span");
  p1.set_running(false);
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Sent("span"), 0u);
  EXPECT_EQ(Counters("p1").in(DropReason::kLinkDown), 1u);
}

TEST_F(BridgeTest, S1_EgressLinkDownCountedOnEgressPort) {
  Add("p1");
  FakePort& p2 = Add("p2");
  Add("p3");
  p2.set_running(false);
  SendEth("p1", kA, kBroadcastMac);
  EXPECT_EQ(Sent("p2"), 0u);
  EXPECT_EQ(Sent("p3"), 1u);
  EXPECT_EQ(Counters("p2").out(DropReason::kLinkDown), 1u);
}

// ---- S2 ----------------------------------------------------------------------

TEST_F(BridgeTest, S2_SpanSeesEveryReceivedFrameBeforeAnyFilter) {
  Add("p1");
  Add("p2");
  AddSpan("span");
  Rule block;
  block.src = kA;
  ASSERT_TRUE(bridge_->AddRule("p1", block).ok());
  SendEth("p1", kA, kB);                       // blocked by rule
  Send("p1", std::vector<uint8_t>(10, 0xee));  // runt
  SendEth("p1", kC, kB);                       // forwarded
  ASSERT_EQ(Sent("span"), 3u);
  EXPECT_EQ(ports_["span"]->sent()[1], std::vector<uint8_t>(10, 0xee));
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(Counters("span").tx_packets, 3u);
}

TEST_F(BridgeTest, S2_SpanPortTransmitsNothingElseAndIsNotSwitched) {
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

TEST_F(BridgeTest, S2_SpanPortNotRunningGetsNoCopy) {
  Add("p1");
  Add("p2");
  FakePort& span = AddSpan("span");
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

PortConfig Access(uint16_t pvid) {
  PortConfig c;
  c.pvid = pvid;
  return c;
}
PortConfig Trunk(std::vector<uint16_t> vids, uint16_t pvid = kPvidNone) {
  PortConfig c;
  c.pvid = pvid;
  c.tagged = std::move(vids);
  return c;
}
std::vector<uint8_t> Tagged(Mac src, Mac dst, uint16_t tci) {
  FrameSpec s{dst, src};
  s.ctag = tci;
  return MakeFrame(s);
}
std::vector<uint8_t> Untagged(Mac src, Mac dst) { return MakeFrame({dst, src}); }

TEST_F(BridgeTest, S3_UntaggedBelongsToPvidAndLeavesTaggedOnTrunk) {
  Add("access10", Access(10));
  Add("access20", Access(20));
  Add("trunk", Trunk({10, 20}));
  Send("access10", Untagged(kA, kBroadcastMac));
  EXPECT_EQ(Sent("access20"), 0u);
  EXPECT_EQ(Counters("access20").out(DropReason::kTaggedOut), 1u);
  ASSERT_EQ(Sent("trunk"), 1u);
  EXPECT_EQ(ports_["trunk"]->sent()[0], Tagged(kA, kBroadcastMac, 10));
  EXPECT_EQ(Owner(10, kA), "access10");
}

TEST_F(BridgeTest, S3_TaggedFromTrunkLeavesUntaggedOnAccess) {
  Add("access10", Access(10));
  Add("access20", Access(20));
  Add("trunk", Trunk({10, 20}));
  Send("trunk", Tagged(kA, kBroadcastMac, 0x6014));  // PCP 3, VID 20
  EXPECT_EQ(Sent("access10"), 0u);
  ASSERT_EQ(Sent("access20"), 1u);
  EXPECT_EQ(ports_["access20"]->sent()[0], Untagged(kA, kBroadcastMac));
  EXPECT_EQ(Owner(20, kA), "trunk");
}

TEST_F(BridgeTest, S3_TaggedAcceptedOnlyForTaggedSet) {
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

TEST_F(BridgeTest, S3_Vid4095IsNeverAccepted) {
  Add("trunk", Trunk({10}, 1));
  Add("p2");
  Send("trunk", Tagged(kA, kBroadcastMac, 4095));
  EXPECT_EQ(Counters("trunk").in(DropReason::kTaggedIn), 1u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_F(BridgeTest, S3_PriorityTaggedBelongsToPvid) {
  Add("access10", Access(10));
  Add("access10b", Access(10));
  Add("trunk", Trunk({10}));
  Send("access10", Tagged(kA, kBroadcastMac, 0xa000));  // PCP 5, VID 0
  ASSERT_EQ(Sent("access10b"), 1u);
  EXPECT_EQ(ports_["access10b"]->sent()[0], Untagged(kA, kBroadcastMac));
  ASSERT_EQ(Sent("trunk"), 1u);
  // VID rewritten to the PVID, priority kept.
  EXPECT_EQ(ports_["trunk"]->sent()[0], Tagged(kA, kBroadcastMac, 0xa00a));
  EXPECT_EQ(Owner(10, kA), "access10");
}

TEST_F(BridgeTest, S3_NoPvidDropsUntaggedAndPriorityTagged) {
  Add("trunk", Trunk({10}));
  Add("p2");
  Send("trunk", Untagged(kA, kBroadcastMac));
  Send("trunk", Tagged(kA, kBroadcastMac, 0));
  EXPECT_EQ(Counters("trunk").in(DropReason::kUntagged), 2u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_F(BridgeTest, S3_DoubleTaggedDropped) {
  Add("trunk", Trunk({10}, 1));
  Add("p2");
  FrameSpec s{kBroadcastMac, kA};
  s.ctag = 10;
  s.ether_type = kEtherTypeVlan;
  Send("trunk", MakeFrame(s));
  EXPECT_EQ(Counters("trunk").in(DropReason::kDoubleTagged), 1u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_F(BridgeTest, S3_SvlanDroppedUnlessBridgeAllows) {
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
  EXPECT_EQ(ports_["p2"]->sent()[0], frame);  // passed through opaque
}

TEST_F(BridgeTest, S3_SameMacInTwoVlansIsTwoEntries) {
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

TEST_F(BridgeTest, S4_BlocknonipOnInput) {
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

TEST_F(BridgeTest, S4_BlocknonipOnOutput) {
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

TEST_F(BridgeTest, S5_InRuleBlocksSpoofedArp) {
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

TEST_F(BridgeTest, S5_InRuleBySourceMacFirstMatchWins) {
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

TEST_F(BridgeTest, S5_OutRuleRunsOnEachEgressPort) {
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

TEST_F(BridgeTest, S5_InOutRuleAppliesBothWays) {
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

TEST_F(BridgeTest, S5_RuleMatchesVid) {
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

TEST_F(BridgeTest, S5_FlushRules) {
  Add("p1");
  Add("p2");
  ASSERT_TRUE(bridge_->AddRule("p1", Rule{}).ok());
  SendEth("p1", kA, kBroadcastMac);
  ASSERT_TRUE(bridge_->FlushRules("p1").ok());
  SendEth("p1", kA, kBroadcastMac);
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_TRUE(bridge_->ListRules("p1")->empty());
}

TEST_F(BridgeTest, S5_InvalidRuleRejectedAndNothingChanges) {
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

PortConfig Locked() {
  PortConfig c;
  c.locked = true;
  c.learning = false;
  c.discover = false;
  return c;
}

TEST_F(BridgeTest, S6_LockedPortPassesOnlyItsStaticAddress) {
  Add("locked", Locked());
  Add("p2");
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kA, "locked").ok());
  SendEth("locked", kA, kBroadcastMac);
  SendEth("locked", kB, kBroadcastMac);  // spoofed source
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(Counters("locked").in(DropReason::kLocked), 1u);
}

TEST_F(BridgeTest, S6_LockedEntryMustPointAtThisPortAndVid) {
  Add("locked", Locked());
  Add("p2");
  SendEth("p2", kA, kBroadcastMac);  // kA learned on p2
  SendEth("locked", kA, kBroadcastMac);
  EXPECT_EQ(Counters("locked").in(DropReason::kLocked), 1u);
  ASSERT_TRUE(bridge_->AddStaticAddress(2, kB, "locked").ok());  // other VID
  SendEth("locked", kB, kBroadcastMac);
  EXPECT_EQ(Counters("locked").in(DropReason::kLocked), 2u);
}

TEST_F(BridgeTest, S6_LockedWithLearningOrDiscoverIsRejected) {
  PortConfig c;
  c.locked = true;
  c.discover = false;  // learning still on
  auto port = std::make_shared<FakePort>("p1");
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

// ---- S7 ----------------------------------------------------------------------

TEST_F(BridgeTest, S7_LearnsSourceOnLearningPort) {
  Add("p1");
  PortConfig nolearn;
  nolearn.learning = false;
  Add("p2", nolearn);
  SendEth("p1", kA, kUnknown);
  SendEth("p2", kB, kUnknown);
  EXPECT_EQ(Owner(1, kA), "p1");
  EXPECT_FALSE(Owner(1, kB).has_value());
  EXPECT_EQ(bridge_->GetCounters().learned, 1u);
}

TEST_F(BridgeTest, S7_MulticastAndZeroSourcesNeverLearned) {
  Add("p1");
  Add("p2");
  SendEth("p1", 0x01005e000001ULL, kUnknown);
  SendEth("p1", 0, kUnknown);
  SendEth("p1", kBroadcastMac, kUnknown);
  EXPECT_TRUE(bridge_->ListAddresses().empty());
  // Each refused source is counted as invalid_source, and nothing else.
  const BridgeCounters c = bridge_->GetCounters();
  EXPECT_EQ(c.refused[static_cast<size_t>(LearnRefusal::kInvalidSource)], 3u);
  EXPECT_EQ(c.refused[static_cast<size_t>(LearnRefusal::kTableFull)], 0u);
  EXPECT_EQ(c.refused[static_cast<size_t>(LearnRefusal::kStatic)], 0u);
}

TEST_F(BridgeTest, S7_InvalidSourceNotCountedOnNonLearningPort) {
  PortConfig nolearn;
  nolearn.learning = false;
  Add("p1", nolearn);
  Add("p2");
  SendEth("p1", 0x01005e000001ULL, kUnknown);
  SendEth("p1", 0, kUnknown);
  EXPECT_EQ(bridge_->GetCounters().refused[static_cast<size_t>(
                LearnRefusal::kInvalidSource)],
            0u);
}

TEST(LearnRefusalTest, NamesAreTheApiNames) {
  EXPECT_STREQ(LearnRefusalName(LearnRefusal::kTableFull), "table_full");
  EXPECT_STREQ(LearnRefusalName(LearnRefusal::kStatic), "static_entry");
  EXPECT_STREQ(LearnRefusalName(LearnRefusal::kInvalidSource), "invalid_source");
  EXPECT_STREQ(DropReasonName(DropReason::kLinkDown), "link_down");
  EXPECT_STREQ(DropReasonName(DropReason::kNoBuffer), "no_buffer");
  EXPECT_EQ(kAllDropReasons.size(), kNumDropReasons);
  EXPECT_EQ(kAllDropReasons.back(), DropReason::kNoBuffer);
  EXPECT_STREQ(LearnRefusalName(LearnRefusal::kPortFull), "port_full");
  EXPECT_EQ(kAllLearnRefusals.back(), LearnRefusal::kPortFull);
}

TEST_F(BridgeTest, S7_DynamicMovesStaticNever) {
  Add("p1");
  Add("p2");
  Add("p3");
  SendEth("p1", kA, kUnknown);
  SendEth("p2", kA, kUnknown);
  EXPECT_EQ(Owner(1, kA), "p2");
  EXPECT_EQ(bridge_->GetCounters().moved, 1u);
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kB, "p1").ok());
  SendEth("p2", kB, kUnknown);
  EXPECT_EQ(Owner(1, kB), "p1");
  EXPECT_EQ(bridge_->GetCounters().refused[static_cast<size_t>(LearnRefusal::kStatic)], 1u);
  // Unicast to the static address still goes to p1.
  ClearSent();
  SendEth("p3", kC, kB);
  EXPECT_EQ(Sent("p1"), 1u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_F(BridgeTest, S7_TableFullAtExactlyMaxThenFloods) {
  BridgeConfig c;
  c.max_addresses = 2;
  ASSERT_TRUE(bridge_->Update(c).ok());
  Add("p1");
  Add("p2");
  Add("p3");
  SendEth("p1", kA, kUnknown);
  SendEth("p2", kB, kUnknown);
  EXPECT_EQ(bridge_->address_count(), 2u);  // exactly max
  SendEth("p3", kC, kUnknown);            // max + 1
  EXPECT_EQ(bridge_->address_count(), 2u);
  EXPECT_FALSE(Owner(1, kC).has_value());
  EXPECT_EQ(bridge_->GetCounters().refused[static_cast<size_t>(LearnRefusal::kTableFull)], 1u);
  ClearSent();
  SendEth("p1", kA, kC);  // kC unknown: keeps flooding
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(Sent("p3"), 1u);
  EXPECT_EQ(Counters("p1").flooded, 2u);  // both frames from p1 flooded
  EXPECT_EQ(bridge_->AddStaticAddress(1, kC, "p3").code(),
            absl::StatusCode::kResourceExhausted);
}

// ---- S7: a port's own address limit (PortConfig::max_addresses) -----------

size_t PortFullCount(const Bridge& b) {
  return b.GetCounters().refused[static_cast<size_t>(LearnRefusal::kPortFull)];
}

TEST_F(BridgeTest, S7_PortLimitRefusesNewAddressesAndStillForwards) {
  PortConfig limited;
  limited.max_addresses = 2;
  Add("p1", limited);
  Add("p2");
  SendEth("p1", kA, kUnknown);
  SendEth("p1", kB, kUnknown);
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 2u);  // exactly the limit
  ClearSent();
  SendEth("p1", kC, kUnknown);  // limit + 1
  EXPECT_FALSE(Owner(1, kC).has_value());
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 2u);
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  EXPECT_EQ(Sent("p2"), 1u);  // the refused source's frame still forwarded
  // Known addresses refresh without a refusal; other ports are not limited.
  SendEth("p1", kA, kUnknown);
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  SendEth("p2", kUnknown, kUnknown + 1);
  SendEth("p2", kUnknown + 2, kUnknown + 1);
  SendEth("p2", kUnknown + 3, kUnknown + 1);
  EXPECT_EQ(bridge_->PortAddressCount("p2").value(), 3u);
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  // Frames to the refused address flood (it has no entry): p2 -> kC.
  ClearSent();
  SendEth("p2", kUnknown, kC);
  EXPECT_EQ(Sent("p1"), 1u);
  EXPECT_EQ(bridge_->GetCounters().refused[static_cast<size_t>(
                LearnRefusal::kTableFull)],
            0u);
}

TEST_F(BridgeTest, S7_PortLimitCountsStaticEntries) {
  PortConfig limited;
  limited.max_addresses = 2;
  Add("p1", limited);
  Add("p2");
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kA, "p1").ok());
  SendEth("p1", kB, kUnknown);
  SendEth("p1", kC, kUnknown);
  EXPECT_TRUE(Owner(1, kB).has_value());
  EXPECT_FALSE(Owner(1, kC).has_value());
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  // The administrator's static entries are not limited by it.
  EXPECT_TRUE(bridge_->AddStaticAddress(1, kUnknown, "p1").ok());
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 3u);
}

TEST_F(BridgeTest, S7_PortLimitRefusesMovesOntoAFullPort) {
  PortConfig limited;
  limited.max_addresses = 1;
  Add("p1", limited);
  Add("p2");
  SendEth("p2", kB, kUnknown);  // kB lives on p2
  SendEth("p1", kA, kUnknown);  // p1 full
  SendEth("p1", kB, kUnknown);  // a flooder claiming p2's address
  EXPECT_EQ(Owner(1, kB), "p2");
  EXPECT_EQ(bridge_->GetCounters().moved, 0u);
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  // Traffic for kB still goes to p2 only.
  ClearSent();
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p2"), 1u);
  // The other way round, moves off the limited port are fine.
  SendEth("p2", kA, kUnknown);
  EXPECT_EQ(Owner(1, kA), "p2");
  EXPECT_EQ(bridge_->GetCounters().moved, 1u);
}

TEST_F(BridgeTest, S7_LoweringThePortLimitEvictsNothing) {
  Add("p1");
  Add("p2");
  SendEth("p1", kA, kUnknown);
  SendEth("p1", kB, kUnknown);
  SendEth("p1", kC, kUnknown);
  PortConfig limited;
  limited.max_addresses = 1;
  ASSERT_TRUE(bridge_->UpdatePort("p1", limited).ok());
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 3u);
  EXPECT_EQ(bridge_->GetPort("p1")->config.max_addresses, 1u);
  SendEth("p1", kA, kUnknown);  // refresh: fine
  SendEth("p1", kUnknown + 1, kUnknown);
  EXPECT_FALSE(Owner(1, kUnknown + 1).has_value());
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  // Raised again (or 0: no limit), learning resumes.
  limited.max_addresses = 0;
  ASSERT_TRUE(bridge_->UpdatePort("p1", limited).ok());
  SendEth("p1", kUnknown + 1, kUnknown);
  EXPECT_TRUE(Owner(1, kUnknown + 1).has_value());
}

TEST_F(BridgeTest, S7_PortLimitZeroIsUnlimitedAndRangeChecked) {
  Add("p1");  // max_addresses 0
  for (Mac m = 1; m <= 50; ++m) SendEth("p1", kUnknown + 0x100 + m, kUnknown);
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 50u);
  EXPECT_EQ(PortFullCount(*bridge_), 0u);
  PortConfig bad;
  bad.max_addresses = kMaxAddressesLimit + 1;
  absl::Status s = bridge_->UpdatePort("p1", bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("max_addresses 1000001"));
  EXPECT_EQ(bridge_->GetPort("p1")->config.max_addresses, 0u);
  bad.max_addresses = kMaxAddressesLimit;
  EXPECT_TRUE(bridge_->UpdatePort("p1", bad).ok());
}

TEST_F(BridgeTest, S7_ExpiryBoundaryWithFakeClock) {
  BridgeConfig c;
  c.timeout_seconds = 8;
  ASSERT_TRUE(bridge_->Update(c).ok());
  Add("p1");
  Add("p2");
  Add("p3");
  SendEth("p1", kA, kUnknown);
  ClearSent();
  clock_.Advance(8 * kSec);  // exactly the timeout: still known
  SendEth("p2", kB, kA);
  EXPECT_EQ(Sent("p1"), 1u);
  EXPECT_EQ(Sent("p3"), 0u);
  clock_.Advance(1);  // one ns past: a miss before any sweep
  EXPECT_EQ(bridge_->address_count(), 2u);
  SendEth("p2", kB, kA);
  EXPECT_EQ(Sent("p3"), 1u);  // flooded
  EXPECT_EQ(bridge_->ExpireAddresses(), 1u);
  EXPECT_EQ(bridge_->address_count(), 1u);
  EXPECT_EQ(bridge_->GetCounters().expired, 1u);
}

TEST_F(BridgeTest, S7_InvalidLimitsRejectedStateUnchanged) {
  BridgeConfig c;
  for (uint32_t bad : {0u, 1000001u}) {
    c = BridgeConfig{};
    c.max_addresses = bad;
    EXPECT_EQ(bridge_->Update(c).code(), absl::StatusCode::kInvalidArgument);
  }
  for (uint32_t bad : {7u, 3601u}) {
    c = BridgeConfig{};
    c.timeout_seconds = bad;
    absl::Status s = bridge_->Update(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("bridge \"veb0\": address_timeout"));
  }
  EXPECT_EQ(bridge_->config().max_addresses, 100u);
  EXPECT_EQ(bridge_->config().timeout_seconds, 240u);
  c = BridgeConfig{};
  c.max_addresses = 1000000;
  c.timeout_seconds = 3600;
  EXPECT_TRUE(bridge_->Update(c).ok());
  c.max_addresses = 1;
  c.timeout_seconds = 8;
  EXPECT_TRUE(bridge_->Update(c).ok());
}

TEST_F(BridgeTest, S7_StaticAddressValidation) {
  Add("p1");
  EXPECT_EQ(bridge_->AddStaticAddress(1, 0x01005e000001ULL, "p1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bridge_->AddStaticAddress(0, kA, "p1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bridge_->AddStaticAddress(4095, kA, "p1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bridge_->AddStaticAddress(1, kA, "nope").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(bridge_->ListAddresses().empty());
  EXPECT_EQ(bridge_->DeleteAddress(1, kA).code(), absl::StatusCode::kNotFound);
}

TEST_F(BridgeTest, S7_FlushDynamicOrAll) {
  Add("p1");
  SendEth("p1", kA, kUnknown);
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kB, "p1").ok());
  EXPECT_EQ(bridge_->FlushAddresses(false), 1u);
  EXPECT_EQ(Owner(1, kB), "p1");
  EXPECT_EQ(bridge_->FlushAddresses(true), 1u);
  EXPECT_TRUE(bridge_->ListAddresses().empty());
}

// ---- address queries without copying the table ----------------------------

TEST_F(BridgeTest, AddressCountsPerBridgeAndPort) {
  Add("p1");
  Add("p2");
  SendEth("p1", kA, kUnknown);
  SendEth("p2", kB, kUnknown);
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kC, "p1").ok());
  const AddressCounts c = bridge_->GetAddressCounts();
  EXPECT_EQ(c.total, 3u);
  EXPECT_EQ(c.statics, 1u);
  EXPECT_EQ(c.dynamic(), 2u);
  EXPECT_EQ(*bridge_->PortAddressCount("p1"), 2u);
  EXPECT_EQ(*bridge_->PortAddressCount("p2"), 1u);
  EXPECT_EQ(bridge_->PortAddressCount("nope").status().code(),
            absl::StatusCode::kNotFound);
  const PortInfo p1 = *bridge_->GetPort("p1");
  EXPECT_EQ(p1.addresses, 2u);
  EXPECT_EQ(p1.static_addresses, 1u);
  // A move changes both ports' counts.
  SendEth("p2", kA, kUnknown);
  EXPECT_EQ(*bridge_->PortAddressCount("p1"), 1u);
  EXPECT_EQ(*bridge_->PortAddressCount("p2"), 2u);
  ASSERT_TRUE(bridge_->RemovePort("p2").ok());
  EXPECT_EQ(bridge_->GetAddressCounts().total, 1u);
  EXPECT_EQ(bridge_->GetPort("p1")->addresses, 1u);
}

TEST_F(BridgeTest, ListAddressPageFiltersAndPages) {
  Add("p1");
  PortConfig trunk;
  trunk.tagged = {10};
  Add("p2", trunk);
  for (Mac m = 1; m <= 5; ++m) SendEth("p1", 0x020000000100ULL + m, kUnknown);
  FrameSpec tagged;
  tagged.dst = kUnknown;
  tagged.src = kB;
  tagged.ctag = 10;
  Send("p2", MakeFrame(tagged));
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kA, "p2").ok());

  AddressQuery all;
  auto page = bridge_->ListAddressPage(all, std::nullopt, 4);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->total_matching, 7u);
  ASSERT_EQ(page->addresses.size(), 4u);
  EXPECT_EQ(page->addresses[0].mac, kA);  // vid 1, lowest MAC first
  EXPECT_EQ(page->addresses[0].port, "p2");
  EXPECT_TRUE(page->addresses[0].is_static);
  ASSERT_TRUE(page->next_after.has_value());
  auto rest = bridge_->ListAddressPage(all, page->next_after, 4);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->addresses.size(), 3u);
  EXPECT_FALSE(rest->next_after.has_value());
  EXPECT_EQ(rest->addresses.back().vid, 10);
  EXPECT_EQ(rest->addresses.back().mac, kB);

  AddressQuery by_port;
  by_port.port = "p2";
  page = bridge_->ListAddressPage(by_port, std::nullopt, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total_matching, 2u);
  ASSERT_EQ(page->addresses.size(), 2u);
  EXPECT_EQ(page->addresses[1].vid, 10);

  AddressQuery dynamic_vid1;
  dynamic_vid1.vid = 1;
  dynamic_vid1.is_static = false;
  page = bridge_->ListAddressPage(dynamic_vid1, std::nullopt, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total_matching, 5u);
  EXPECT_EQ(page->addresses.size(), 5u);

  AddressQuery by_mac;
  by_mac.mac = kB;
  page = bridge_->ListAddressPage(by_mac, std::nullopt, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total_matching, 1u);
  ASSERT_EQ(page->addresses.size(), 1u);
  EXPECT_EQ(page->addresses[0].port, "p2");

  AddressQuery unknown;
  unknown.port = "nope";
  EXPECT_EQ(bridge_->ListAddressPage(unknown, std::nullopt, 10).status().code(),
            absl::StatusCode::kNotFound);

  const std::optional<AddressInfo> got = bridge_->GetAddress(10, kB);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->port, "p2");
  EXPECT_FALSE(bridge_->GetAddress(1, kB).has_value());
}

// ---- S8 ----------------------------------------------------------------------

TEST_F(BridgeTest, S8_KnownUnicastGoesOnlyToItsPort) {
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

TEST_F(BridgeTest, S8_HairpinNeverHappens) {
  Add("p1");
  Add("p2");
  SendEth("p1", kB, kBroadcastMac);  // kB on p1
  ClearSent();
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p1") + Sent("p2"), 0u);
  EXPECT_EQ(Counters("p1").in(DropReason::kHairpin), 1u);
}

TEST_F(BridgeTest, S8_KnownUnicastToProtectedPeerDropped) {
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

TEST_F(BridgeTest, S9_UnknownUnicastFloodsOnlyToDiscoverPorts) {
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

TEST_F(BridgeTest, S9_ReservedGroupAddressesNotForwardedUnlessAllowed) {
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

TEST_F(BridgeTest, S10_ProtectedDomainsIsolateFloods) {
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

TEST_F(BridgeTest, S10_DomainOutOfRangeRejected) {
  PortConfig c;
  c.protected_domains = 1u;  // domain 0
  auto r = bridge_->AddPort(std::make_shared<FakePort>("p1"), c);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bridge_->port_count(), 0u);
}

// ---- S11 (the randomized invariant is in accounting_test.cc) -------------------

TEST_F(BridgeTest, S11_RuntCountedOnce) {
  Add("p1");
  Add("p2");
  for (size_t len : {0u, 1u, 13u}) Send("p1", std::vector<uint8_t>(len, 0));
  auto arp = MakeArp({.src = kA, .sha = kA});
  arp.resize(30);
  Send("p1", arp);
  const PortCounters c = Counters("p1");
  EXPECT_EQ(c.rx_packets, 4u);
  EXPECT_EQ(c.in(DropReason::kRunt), 4u);
  EXPECT_EQ(c.total_in_drops(), 4u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_F(BridgeTest, S11_TooBigForEgressMtuUnlessGso) {
  Add("p1");
  FakePort& p2 = Add("p2");
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
  // MTU 9000 jumbo frames.
  p2.set_mtu(9000);
  s.payload = 9000;
  Send("p1", MakeFrame(s));
  EXPECT_EQ(Sent("p2"), 3u);
}

TEST_F(BridgeTest, S11_TransmitFailuresCountedOnEgress) {
  Add("p1");
  FakePort& p2 = Add("p2");
  FakePort& p3 = Add("p3");
  p2.FailAfter(0, DropReason::kNoBuffer);
  p3.FailAfter(0, DropReason::kTxError);
  SendEth("p1", kA, kBroadcastMac);
  EXPECT_EQ(Counters("p2").out(DropReason::kNoBuffer), 1u);
  EXPECT_EQ(Counters("p3").out(DropReason::kTxError), 1u);
  EXPECT_EQ(Counters("p2").tx_packets, 0u);
}

TEST_F(BridgeTest, S11_BatchesGroupFramesPerEgressPort) {
  Add("p1");
  Add("p2");
  SendEth("p2", kB, kBroadcastMac);
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 40; ++i) frames.push_back(MakeFrame({kB, kA}));
  std::vector<RxFrame> batch;
  for (auto& f : frames) batch.push_back(RxFrame{f.data(), static_cast<uint32_t>(f.size()), {}});
  bridge_->Input(ctx_, refs_["p1"], absl::MakeConstSpan(batch));
  EXPECT_EQ(Sent("p2"), 40u);
  const PortCounters c1 = Counters("p1");
  EXPECT_EQ(c1.rx_packets, 40u);
  EXPECT_EQ(c1.unicast, 40u);
  EXPECT_EQ(Counters("p2").tx_packets, 40u);
  EXPECT_EQ(Counters("p2").tx_bytes, 40u * 60);
}

// ---- S12 ---------------------------------------------------------------------

TEST_F(BridgeTest, S12_RemovingPortRemovesItsAddressesAndTraffic) {
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

TEST_F(BridgeTest, S12_ReusedSlotStartsClean) {
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

TEST_F(BridgeTest, DuplicatePortRejected) {
  Add("p1");
  auto r = bridge_->AddPort(std::make_shared<FakePort>("p1"), PortConfig{});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.status().message(), "port \"p1\": add: already a member of bridge \"veb0\"");
  EXPECT_EQ(bridge_->AddSpanPort(std::make_shared<FakePort>("p1")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bridge_->port_count(), 1u);
}

TEST_F(BridgeTest, VlanConfigValidation) {
  for (PortConfig c : {Access(4095), Trunk({0}), Trunk({4095})}) {
    auto r = bridge_->AddPort(std::make_shared<FakePort>("p1"), c);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  }
  auto both = bridge_->AddPort(std::make_shared<FakePort>("p1"), Trunk({10}, 10));
  EXPECT_EQ(both.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(both.status().message(), "port \"p1\": add: pvid 10 is also a tagged vid");
  EXPECT_EQ(bridge_->port_count(), 0u);
  EXPECT_TRUE(bridge_->AddPort(std::make_shared<FakePort>("p1"), Trunk({1, 4094}, kPvidNone)).ok());
}

TEST_F(BridgeTest, BridgeNameAndWorkersValidated) {
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

TEST_F(BridgeTest, PortLimit) {
  for (uint32_t i = 0; i < kMaxPortsPerBridge; ++i) {
    ASSERT_TRUE(bridge_->AddPort(std::make_shared<FakePort>("p" + std::to_string(i)), {}).ok());
  }
  auto r = bridge_->AddPort(std::make_shared<FakePort>("one-more"), {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(bridge_->port_count(), kMaxPortsPerBridge);
}

}  // namespace
}  // namespace veb

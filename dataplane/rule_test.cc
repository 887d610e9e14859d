#include "dataplane/rule.h"

#include "dataplane/test_frames.h"
#include "gtest/gtest.h"

namespace veb {
namespace {

constexpr Mac kA = 0x020000000001ULL;
constexpr Mac kB = 0x020000000002ULL;

struct Parsed {
  std::vector<uint8_t> bytes;
  ParsedFrame pf;
};

Parsed P(std::vector<uint8_t> f, uint16_t vid = 1) {
  Parsed p{std::move(f), {}};
  EXPECT_FALSE(ParseFrame(p.bytes.data(), p.bytes.size(), false, &p.pf).has_value());
  p.pf.vid = vid;
  return p;
}

bool Matches(const Rule& r, const Parsed& p) {
  return RuleMatches(r, p.pf, p.bytes.data(), p.bytes.size());
}

TEST(RuleTest, S5_MatchesSourceAndDestination) {
  const Parsed p = P(MakeFrame({kB, kA}));
  Rule r;
  EXPECT_TRUE(Matches(r, p));  // no match fields = every frame
  r.src = kA;
  EXPECT_TRUE(Matches(r, p));
  r.dst = kA;
  EXPECT_FALSE(Matches(r, p));
  r.dst = kB;
  EXPECT_TRUE(Matches(r, p));
}

TEST(RuleTest, S5_MatchesVid) {
  const Parsed p = P(MakeFrame({kB, kA}), 20);
  Rule r;
  r.vid = 20;
  EXPECT_TRUE(Matches(r, p));
  r.vid = 21;
  EXPECT_FALSE(Matches(r, p));
}

TEST(RuleTest, S5_ArpMatchesOpcodeAndAddresses) {
  const Parsed req = P(MakeArp({.src = kA, .op = kArpOpRequest, .sha = kA,
                                .spa = Ip(10, 0, 0, 1), .tpa = Ip(10, 0, 0, 2)}));
  Rule r;
  r.arp = ArpKind::kArp;
  EXPECT_TRUE(Matches(r, req));
  r.arp_op = kArpOpReply;
  EXPECT_FALSE(Matches(r, req));
  r.arp_op = kArpOpRequest;
  r.arp_spa = Ip(10, 0, 0, 1);
  r.arp_sha = kA;
  EXPECT_TRUE(Matches(r, req));
  r.arp_spa = Ip(10, 0, 0, 9);
  EXPECT_FALSE(Matches(r, req));
  r.arp_spa.reset();
  r.arp_tpa = Ip(10, 0, 0, 2);
  r.arp_tha = 0;
  EXPECT_TRUE(Matches(r, req));
}

TEST(RuleTest, S5_ArpRuleNeverMatchesNonArp) {
  Rule r;
  r.arp = ArpKind::kArp;
  EXPECT_FALSE(Matches(r, P(MakeFrame({kB, kA}))));
  // Not Ethernet/IPv4 ARP (hln 8): no match.
  EXPECT_FALSE(Matches(r, P(MakeArp({.src = kA, .hln = 8}))));
}

TEST(RuleTest, S5_RarpKindNeedsRarpOpcodes) {
  Rule r;
  r.arp = ArpKind::kRarp;
  EXPECT_FALSE(Matches(r, P(MakeArp({.src = kA, .op = kArpOpRequest}))));
  EXPECT_TRUE(Matches(r, P(MakeArp({.src = kA, .ether_type = 0x8035, .op = kRarpOpRequest}))));
}

TEST(RuleTest, S5_FirstMatchDecidesNoMatchPasses) {
  const Parsed p = P(MakeFrame({kB, kA}));
  Rule pass_a;
  pass_a.action = RuleAction::kPass;
  pass_a.src = kA;
  Rule block_all;
  block_all.action = RuleAction::kBlock;
  EXPECT_FALSE(RulesBlock({pass_a, block_all}, p.pf, p.bytes.data(), p.bytes.size()));
  EXPECT_TRUE(RulesBlock({block_all, pass_a}, p.pf, p.bytes.data(), p.bytes.size()));
  Rule block_b;
  block_b.src = kB;
  EXPECT_FALSE(RulesBlock({block_b}, p.pf, p.bytes.data(), p.bytes.size()));
  EXPECT_FALSE(RulesBlock({}, p.pf, p.bytes.data(), p.bytes.size()));
}

TEST(RuleTest, ValidationNamesTheField) {
  Rule r;
  r.vid = 4096;
  EXPECT_EQ(ValidateRule(r).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateRule(r).message().find("vid 4096"), std::string::npos);
  r = Rule{};
  r.arp_spa = 1;
  EXPECT_NE(ValidateRule(r).message().find("arp"), std::string::npos);
  r = Rule{};
  r.arp = ArpKind::kArp;
  r.arp_op = kRarpOpReply;
  EXPECT_FALSE(ValidateRule(r).ok());
  r.arp = ArpKind::kRarp;
  EXPECT_TRUE(ValidateRule(r).ok());
  r = Rule{};
  r.directions = 0;
  EXPECT_FALSE(ValidateRule(r).ok());
  r.directions = kRuleInOut;
  r.vid = 4095;
  EXPECT_TRUE(ValidateRule(r).ok());
}

}  // namespace
}  // namespace veb

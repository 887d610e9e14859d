#include "dataplane/frame.h"

#include "dataplane/test_frames.h"
#include "gtest/gtest.h"

namespace veb {
namespace {

constexpr Mac kA = 0x020000000001ULL;
constexpr Mac kB = 0x020000000002ULL;

std::optional<DropReason> Parse(const std::vector<uint8_t>& f, ParsedFrame* pf,
                                bool allow_svlan = false) {
  return ParseFrame(f.data(), static_cast<uint32_t>(f.size()), allow_svlan, pf);
}

TEST(FrameTest, ParsesUntaggedFrame) {
  ParsedFrame pf;
  EXPECT_FALSE(Parse(MakeFrame({kB, kA}), &pf).has_value());
  EXPECT_EQ(pf.dst, kB);
  EXPECT_EQ(pf.src, kA);
  EXPECT_EQ(pf.ether_type, kEtherTypeIpv4);
  EXPECT_FALSE(pf.wire_tagged);
  EXPECT_EQ(pf.l2_len, 14);
}

TEST(FrameTest, ParsesCTag) {
  ParsedFrame pf;
  FrameSpec s{kB, kA};
  s.ctag = 0xa00a;  // PCP 5, VID 10
  EXPECT_FALSE(Parse(MakeFrame(s), &pf).has_value());
  EXPECT_TRUE(pf.wire_tagged);
  EXPECT_EQ(pf.tci, 0xa00a);
  EXPECT_EQ(pf.ether_type, kEtherTypeIpv4);
  EXPECT_EQ(pf.l2_len, 18);
}

// Runts: shorter than the header each frame claims (S11 runt).
TEST(FrameTest, RuntsAreDropped) {
  ParsedFrame pf;
  for (size_t len = 0; len < 14; ++len) {
    std::vector<uint8_t> f(len, 0);
    EXPECT_EQ(Parse(f, &pf), DropReason::kRunt) << len;
  }
  FrameSpec s{kB, kA};
  s.ctag = 10;
  auto tagged = MakeFrame(s);
  tagged.resize(17);  // tag cut short
  EXPECT_EQ(Parse(tagged, &pf), DropReason::kRunt);
}

TEST(FrameTest, TruncatedArpIsRunt) {
  ParsedFrame pf;
  auto arp = MakeArp({.src = kA, .sha = kA});
  EXPECT_FALSE(Parse(arp, &pf).has_value());
  arp.resize(14 + 27);
  EXPECT_EQ(Parse(arp, &pf), DropReason::kRunt);
  ArpSpec tagged{.src = kA, .ctag = 5, .sha = kA};
  auto t = MakeArp(tagged);
  t.resize(18 + 27);
  EXPECT_EQ(Parse(t, &pf), DropReason::kRunt);
}

TEST(FrameTest, DoubleTaggedIsDropped) {
  ParsedFrame pf;
  FrameSpec s{kB, kA};
  s.ctag = 10;
  s.ether_type = kEtherTypeVlan;  // a second C-tag follows
  EXPECT_EQ(Parse(MakeFrame(s), &pf), DropReason::kDoubleTagged);
  s.ether_type = kEtherTypeSvlan;
  EXPECT_EQ(Parse(MakeFrame(s), &pf), DropReason::kDoubleTagged);
}

TEST(FrameTest, SvlanDroppedUnlessAllowed) {
  ParsedFrame pf;
  FrameSpec s{kB, kA};
  s.stag = 100;
  s.ctag = 10;
  auto f = MakeFrame(s);
  EXPECT_EQ(Parse(f, &pf), DropReason::kSvlan);
  EXPECT_FALSE(Parse(f, &pf, /*allow_svlan=*/true).has_value());
  EXPECT_FALSE(pf.wire_tagged);
  EXPECT_EQ(pf.ether_type, kEtherTypeSvlan);
}

TEST(FrameTest, OversizedFrameIsTooBig) {
  ParsedFrame pf;
  std::vector<uint8_t> f(kMaxFrameLen + 1, 0);
  EXPECT_EQ(Parse(f, &pf), DropReason::kTooBig);
}

TEST(FrameTest, ParsesArpFields) {
  auto f = MakeArp({.src = kA, .op = 2, .sha = kA, .spa = Ip(10, 0, 0, 1),
                    .tha = kB, .tpa = Ip(10, 0, 0, 2)});
  ParsedFrame pf;
  ASSERT_FALSE(Parse(f, &pf).has_value());
  ArpFields arp;
  ASSERT_TRUE(ParseArp(f.data(), f.size(), pf, &arp));
  EXPECT_EQ(arp.op, 2);
  EXPECT_EQ(arp.sha, kA);
  EXPECT_EQ(arp.spa, Ip(10, 0, 0, 1));
  EXPECT_EQ(arp.tha, kB);
  EXPECT_EQ(arp.tpa, Ip(10, 0, 0, 2));
}

TEST(FrameTest, NonEthernetIpv4ArpDoesNotParse) {
  ParsedFrame pf;
  ArpFields arp;
  for (ArpSpec s : {ArpSpec{.src = kA, .hrd = 6}, ArpSpec{.src = kA, .hln = 8},
                    ArpSpec{.src = kA, .pln = 16}}) {
    auto f = MakeArp(s);
    ASSERT_FALSE(Parse(f, &pf).has_value());
    EXPECT_FALSE(ParseArp(f.data(), f.size(), pf, &arp));
  }
}

std::vector<uint8_t> Write(const TxFrame& tx) {
  std::vector<uint8_t> out(TxFrameLength(tx));
  EXPECT_EQ(WriteTxFrame(tx, out.data()), out.size());
  return out;
}

TEST(FrameTest, TagOperationsProduceWireFrames) {
  FrameSpec plain{kB, kA};
  FrameSpec tagged{kB, kA};
  tagged.ctag = 0x2007;  // PCP 1, VID 7
  const auto u = MakeFrame(plain);
  const auto t = MakeFrame(tagged);

  TxFrame keep{u.data(), static_cast<uint32_t>(u.size()), TagOp::kKeep, 0, {}};
  EXPECT_EQ(Write(keep), u);

  TxFrame push{u.data(), static_cast<uint32_t>(u.size()), TagOp::kPush, 7, {}};
  FrameSpec pushed = plain;
  pushed.ctag = 7;
  EXPECT_EQ(Write(push), MakeFrame(pushed));

  TxFrame strip{t.data(), static_cast<uint32_t>(t.size()), TagOp::kStrip, 0, {}};
  EXPECT_EQ(Write(strip), u);

  TxFrame rewrite{t.data(), static_cast<uint32_t>(t.size()), TagOp::kRewrite, 0x2009, {}};
  FrameSpec rewritten = plain;
  rewritten.ctag = 0x2009;
  EXPECT_EQ(Write(rewrite), MakeFrame(rewritten));
}

// S2: a span port gets a copy of every received frame, runts included, so an
// empty frame (no data, no buffer) can reach a port's Transmit. Copying it
// copies nothing; memcpy from or to a null pointer would be undefined even for
// 0 bytes (UBSan, --config=asan, caught it in accounting_test).
TEST(FrameTest, EmptyFrameWritesNothing) {
  const TxFrame empty;  // data null, len 0, kKeep
  EXPECT_EQ(TxFrameLength(empty), 0u);
  std::vector<uint8_t> out;  // empty: out.data() is null
  EXPECT_EQ(WriteTxFrame(empty, out.data()), 0u);
}

}  // namespace
}  // namespace veb

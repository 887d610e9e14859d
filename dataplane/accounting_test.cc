// S11 over randomized traffic and configuration: every received frame ends in
// exactly one of unicast / flooded / one input drop reason, and every egress
// candidate copy is either transmitted or counted under one output reason.
#include <map>
#include <random>
#include <tuple>

#include "absl/strings/str_cat.h"

#include "dataplane/bridge.h"
#include "dataplane/engine_harness.h"
#include "dataplane/fake_port.h"
#include "dataplane/test_frames.h"
#include "gtest/gtest.h"

namespace veb {
namespace {

constexpr int kPorts = 7;

// Parameterized by seed and engine (engine_harness.h; the kernel engine's
// instances need root).
class AccountingTest : public ::testing::TestWithParam<std::tuple<uint32_t, Engine>> {
 protected:
  void SetUp() override {
    rng_.seed(std::get<0>(GetParam()));
    auto h = EngineHarness::Create(std::get<1>(GetParam()), "veb0", {}, &clock_);
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = std::move(*h);
    bridge_ = harness_->bridge();
    for (int i = 0; i < kPorts; ++i) {
      auto p = harness_->Add("p" + std::to_string(i), RandomConfig());
      ASSERT_TRUE(p.ok()) << p.status();
      ports_.push_back(*p);
    }
    auto span = harness_->AddSpan("span");
    ASSERT_TRUE(span.ok()) << span.status();
    span_ = *span;
    for (int i = 0; i < 16; ++i) macs_.push_back(0x020000000100ULL + i);
  }
  bool kernel() const { return std::get<1>(GetParam()) == Engine::kKernel; }

  uint32_t R(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }
  bool Coin(uint32_t percent) { return R(100) < percent; }
  uint16_t RandomVid() {
    static const uint16_t kVids[] = {0, 1, 10, 20, 30, 4095};
    return kVids[R(6)];
  }

  PortConfig RandomConfig() {
    PortConfig c;
    c.pvid = Coin(20) ? kPvidNone : static_cast<uint16_t>(std::max<uint16_t>(1, RandomVid() % 4095));
    if (c.pvid == 0 && !Coin(20)) c.pvid = 1;
    for (uint16_t v : {10, 20, 30}) {
      if (v != c.pvid && Coin(50)) c.tagged.push_back(v);
    }
    c.blocknonip = Coin(20);
    c.protected_domains = Coin(30) ? (1u << (1 + R(3))) : 0;
    if (Coin(15)) {
      c.locked = true;
      c.learning = false;
      c.discover = false;
    } else {
      c.learning = Coin(80);
      c.discover = Coin(80);
    }
    return c;
  }

  Rule RandomRule() {
    Rule r;
    r.action = Coin(60) ? RuleAction::kBlock : RuleAction::kPass;
    r.directions = static_cast<uint8_t>(1 + R(3));
    if (Coin(50)) r.src = macs_[R(macs_.size())];
    if (Coin(30)) r.dst = macs_[R(macs_.size())];
    if (Coin(20)) r.vid = RandomVid();
    if (Coin(20)) {
      r.arp = ArpKind::kArp;
      if (Coin(50)) r.arp_spa = Ip(10, 0, 0, static_cast<uint8_t>(R(4)));
    }
    return r;
  }

  Mac RandomDst() {
    switch (R(10)) {
      case 0:
        return kBroadcastMac;
      case 1:
        return 0x01005e000001ULL;
      case 2:
        return 0x0180c2000000ULL + R(16);
      case 3:
        return 0x0200000fffffULL;  // never a source
      default:
        return macs_[R(macs_.size())];
    }
  }

  std::vector<uint8_t> RandomFrame() {
    if (Coin(3)) {
      // Runts. The kernel engine never receives a frame shorter than an
      // Ethernet header (no Linux interface delivers one): tagged runts.
      if (!kernel()) return std::vector<uint8_t>(R(14), 0xab);
      std::vector<uint8_t> f = MakeFrame({kBroadcastMac, macs_[0], 1});
      f.resize(14 + R(4));
      return f;
    }
    std::vector<uint8_t> f;
    const Mac src = Coin(5) ? (Coin(50) ? 0 : 0x01005e0000aaULL) : macs_[R(macs_.size())];
    std::optional<uint16_t> ctag;
    if (Coin(40)) ctag = static_cast<uint16_t>((R(8) << 13) | RandomVid());
    if (Coin(15)) {
      f = MakeArp({.dst = RandomDst(), .src = src, .ctag = ctag, .op = static_cast<uint16_t>(1 + R(2)),
                   .sha = src, .spa = Ip(10, 0, 0, static_cast<uint8_t>(R(4)))});
      if (Coin(10)) f.resize(f.size() - 1 - R(10));  // truncated ARP
      return f;
    }
    FrameSpec s{RandomDst(), src};
    s.ctag = ctag;
    if (Coin(3)) s.stag = RandomVid();
    static const uint16_t kTypes[] = {kEtherTypeIpv4, kEtherTypeIpv6, 0x88cc,
                                      0x1234, kEtherTypeVlan};
    s.ether_type = kTypes[R(5)];
    s.payload = R(10) == 0 ? 1400 + R(200) : R(100);
    // BPF_PROG_TEST_RUN refuses an untagged IPv4/IPv6 frame too short for its
    // IP header (a real interface delivers it).
    if (kernel() && !s.ctag && !s.stag &&
        (s.ether_type == kEtherTypeIpv4 || s.ether_type == kEtherTypeIpv6)) {
      s.payload = std::max<size_t>(s.payload, 40);
    }
    return MakeFrame(s);
  }

  void MutateConfig() {
    const std::string name = "p" + std::to_string(R(kPorts));
    switch (R(6)) {
      case 0:
        ASSERT_TRUE(bridge_->UpdatePort(name, RandomConfig()).ok());
        break;
      case 1:
        ASSERT_TRUE(bridge_->AddRule(name, RandomRule()).ok());
        break;
      case 2:
        ASSERT_TRUE(bridge_->FlushRules(name).ok());
        break;
      case 3:
        // The span port too: a copy it does not send is counted (S11).
        if (Coin(25)) {
          span_->set_running(Coin(60));
        } else {
          ports_[R(kPorts)]->set_running(Coin(70));
        }
        break;
      case 4:
        // Failing backends exist only in the userspace engine.
        if (kernel()) break;
        ports_[R(kPorts)]->FailAfter(Coin(50) ? -1 : R(3),
                                     Coin(50) ? DropReason::kTxError : DropReason::kNoBuffer);
        break;
      case 5: {
        BridgeConfig c = bridge_->config();
        c.allow_svlan = Coin(30);
        c.allow_reserved = Coin(30);
        c.max_addresses = 4 + R(12);
        ASSERT_TRUE(bridge_->Update(c).ok());
        (void)bridge_->AddStaticAddress(static_cast<uint16_t>(1 + R(30)), macs_[R(macs_.size())], name);
        break;
      }
    }
  }

  std::map<std::string, PortCounters> All() {
    std::map<std::string, PortCounters> out;
    for (auto& p : ports_) out[p->name()] = *bridge_->GetPortCounters(p->name());
    out["span"] = *bridge_->GetPortCounters("span");
    return out;
  }

  std::mt19937 rng_;
  FakeClock clock_;
  std::unique_ptr<EngineHarness> harness_;
  BridgeEngine* bridge_ = nullptr;
  std::vector<TestPort*> ports_;
  TestPort* span_ = nullptr;
  std::vector<Mac> macs_;
};

// One frame at a time, so each frame's outcome and its egress candidates are
// known exactly from the counter deltas and the configuration.
TEST_P(AccountingTest, S11_EveryFrameEndsExactlyOnceAndEveryCopyIsAccounted) {
  uint64_t expected_candidates = 0;
  uint64_t expected_span = 0;
  for (int i = 0; i < 3000; ++i) {
    if (Coin(5)) MutateConfig();
    if (Coin(2)) clock_.Advance(int64_t{R(300)} * 1000000000);
    if (Coin(1)) bridge_->ExpireAddresses();
    const int rx = R(kPorts);
    const std::string rx_name = ports_[rx]->name();
    const auto bytes = RandomFrame();
    const PortCounters before = *bridge_->GetPortCounters(rx_name);
    const bool rx_up = ports_[rx]->running();
    const absl::Status sent = harness_->Send(rx_name, bytes, Coin(5));
    ASSERT_TRUE(sent.ok()) << sent << " frame " << i << " of " << bytes.size() << " bytes";
    const PortCounters after = *bridge_->GetPortCounters(rx_name);

    const uint64_t unicast = after.unicast - before.unicast;
    const uint64_t flooded = after.flooded - before.flooded;
    const uint64_t dropped = after.total_in_drops() - before.total_in_drops();
    ASSERT_EQ(after.rx_packets - before.rx_packets, 1u);
    ASSERT_EQ(unicast + flooded + dropped, 1u) << "frame " << i;
    if (rx_up) ++expected_span;
    if (unicast) expected_candidates += 1;
    if (flooded) {
      const bool unknown_unicast = bytes.size() >= 6 && !IsMulticast(LoadMac(bytes.data()));
      for (int p = 0; p < kPorts; ++p) {
        if (p == rx) continue;
        if (unknown_unicast && !bridge_->GetPort(ports_[p]->name())->config.discover) continue;
        ++expected_candidates;
      }
    }
  }
  uint64_t copies = 0;
  uint64_t rx_total = 0;
  for (const auto& [name, c] : All()) {
    if (name == "span") continue;
    EXPECT_EQ(c.rx_packets, c.unicast + c.flooded + c.total_in_drops()) << name;
    copies += c.tx_packets + c.total_out_drops();
    rx_total += c.rx_packets;
  }
  EXPECT_EQ(rx_total, 3000u);
  EXPECT_EQ(copies, expected_candidates);
  for (auto& p : ports_) {
    EXPECT_EQ(p->sent_count(), bridge_->GetPortCounters(p->name())->tx_packets);
  }
  const PortCounters span = *bridge_->GetPortCounters("span");
  EXPECT_EQ(span.tx_packets + span.total_out_drops(), expected_span);
  EXPECT_EQ(span_->sent_count(), span.tx_packets);
}

// Batches of up to 64 frames: the per-port identity holds and nothing is sent
// that was not counted.
TEST_P(AccountingTest, S11_BatchedTrafficKeepsPerPortIdentity) {
  if (kernel()) return;  // worker batches are the userspace engine's machinery
  uint64_t sent_frames = 0;
  for (int batch = 0; batch < 300; ++batch) {
    if (Coin(20)) MutateConfig();
    const int rx = R(kPorts);
    std::vector<std::vector<uint8_t>> frames(1 + R(64));
    std::vector<RxFrame> rxf;
    for (auto& f : frames) {
      f = RandomFrame();
      rxf.push_back(RxFrame{f.data(), static_cast<uint32_t>(f.size()), {}});
    }
    harness_->InputBatch(ports_[rx]->name(), absl::MakeConstSpan(rxf));
    sent_frames += frames.size();
  }
  uint64_t rx_total = 0;
  for (const auto& [name, c] : All()) {
    if (name == "span") continue;
    EXPECT_EQ(c.rx_packets, c.unicast + c.flooded + c.total_in_drops()) << name;
    rx_total += c.rx_packets;
  }
  EXPECT_EQ(rx_total, sent_frames);
  for (auto& p : ports_) {
    EXPECT_EQ(p->sent_count(), bridge_->GetPortCounters(p->name())->tx_packets);
  }
}

INSTANTIATE_TEST_SUITE_P(
    SeedsAndEngines, AccountingTest,
    ::testing::Combine(::testing::Values(1u, 2u, 3u, 42u, 1234u),
                       ::testing::Values(Engine::kUserspace, Engine::kKernel)),
    [](const auto& info) {
      return absl::StrCat("seed", std::get<0>(info.param), "_",
                          EngineTestName(std::get<1>(info.param)));
    });

}  // namespace
}  // namespace veb

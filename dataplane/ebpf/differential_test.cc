// One contract, two engines, proven equal: randomized configurations (ports
// with random flags, PVIDs and tagged sets, protected domains, in/out rules
// with MAC, VID and ARP fields, span ports, locked ports with static entries,
// small max_addresses and port limits, links down, small MTUs) and randomized
// frames (unicast, multicast, broadcast, reserved group; untagged, C-tagged,
// priority-tagged, double-tagged, S-tagged; IPv4, IPv6, ARP, RARP, other
// ether types; runts, oversize, GSO) are fed to the userspace Bridge (the
// oracle, over FakePorts) and to the KernelBridge's program through
// BPF_PROG_TEST_RUN. After every frame: the same copies on the same ports (the
// kernel's materialised from its recorded tag operation, whose measured length
// must agree), the same drop reason, every port's counters, the bridge
// counters, the same FDB (entries, ports, static flags, ages) and the same
// address events. Time advances at random and both tables are swept. The seed
// of a failure is printed. Needs root (CAP_BPF).
#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataplane/bridge.h"
#include "dataplane/ebpf/kernel_bridge.h"
#include "dataplane/fake_port.h"
#include "dataplane/test_frames.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb::ebpf {
namespace {

constexpr int64_t kSec = 1000000000;

struct Ev {
  AddressEventKind kind;
  uint16_t vid;
  Mac mac;
  std::string port, old_port;
  uint32_t age;
  bool operator==(const Ev& o) const {
    return kind == o.kind && vid == o.vid && mac == o.mac && port == o.port &&
           old_port == o.old_port && age == o.age;
  }
};
std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << static_cast<int>(e.kind) << " " << e.vid << " " << FormatMac(e.mac) << " "
            << e.port << " " << e.old_port << " age " << e.age;
}

std::string Describe(const AddressInfo& a) {
  return absl::StrFormat("%d/%s@%s%s age %u", a.vid, FormatMac(a.mac), a.port,
                         a.is_static ? " static" : "", a.age_seconds);
}

class Differential {
 public:
  explicit Differential(uint32_t seed) : rng_(seed) {}

  // Drop reasons seen (in or out), learn refusals, verdicts: so the test can
  // check that the random frames reached every rule.
  std::map<std::string, uint64_t>& seen() { return seen_; }

  void Run(int frames) {
    BridgeConfig cfg;
    cfg.max_addresses = Pick(2, 24);
    cfg.timeout_seconds = Pick(8, 20);
    cfg.allow_svlan = Chance(0.3);
    cfg.allow_reserved = Chance(0.2);
    cfg.up = !Chance(0.05);
    auto u = Bridge::Create("diff", cfg, &clock_, &qsbr_, 1);
    ASSERT_TRUE(u.ok());
    user_ = std::move(*u);
    KernelBridgeOptions o;
    o.test_hook = true;
    o.clock = &clock_;
    o.refresh_ns = 0;  // refresh on every frame, as the userspace table does
    auto k = KernelBridge::Create("diff", cfg, o);
    ASSERT_TRUE(k.ok()) << k.status();
    kern_ = std::move(*k);
    user_->SetAddressEventSink([this](const AddressEvent& e) { user_events_.push_back(e); });
    kern_->SetAddressEventSink([this](const AddressEvent& e) { kern_events_.push_back(e); });

    const int members = Pick(2, 7);
    const int spans = Pick(0, 2);
    for (int i = 0; i < members + spans; ++i) AddPort(absl::StrCat("p", i), i >= members);
    for (int i = 0, n = Pick(0, 4); i < n; ++i) AddStatic();
    Compare("setup");
    for (int f = 0; f < frames && !::testing::Test::HasFailure(); ++f) {
      if (Chance(0.3)) clock_.Advance(Pick(0, 6) * kSec + Pick(0, 999) * 1000000);
      if (Chance(0.05)) {
        EXPECT_EQ(user_->ExpireAddresses(), kern_->ExpireAddresses()) << "sweep before frame " << f;
      }
      if (Chance(0.02)) AddStatic();
      if (Chance(0.02)) FlipLink();
      if (Chance(0.03)) {
        user_events_.clear();
        kern_events_.clear();
        ControlOp(f);
        // A flush or a removal reports its entries in table order, which
        // differs between the engines: compared as sets.
        Compare(absl::StrCat("after the control op before frame ", f), /*sort_events=*/true);
      }
      SendRandomFrame(f);
    }
  }

 private:
  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& OneOf(const std::vector<T>& v) {
    return v[Pick(0, static_cast<int>(v.size()) - 1)];
  }

  // Small pools, so that rules, learning and lookups meet often.
  const std::vector<Mac> unicast_ = {0x020000000001, 0x020000000002, 0x020000000003,
                                     0x020000000004, 0x020000000005, 0x020000000006};
  const std::vector<Mac> group_ = {kBroadcastMac, 0x01005e000001, 0x333300000001,
                                   0x0180c2000000, 0x0180c200000e, 0x0180c2000010};
  const std::vector<uint16_t> vids_ = {1, 2, 3, 4};
  const std::vector<uint32_t> ips_ = {Ip(10, 0, 0, 1), Ip(10, 0, 0, 2), Ip(10, 0, 0, 3)};

  Rule RandomRule() {
    Rule r;
    r.action = Chance(0.6) ? RuleAction::kBlock : RuleAction::kPass;
    r.directions = static_cast<uint8_t>(Pick(1, 3));
    if (Chance(0.4)) r.src = OneOf(unicast_);
    if (Chance(0.3)) r.dst = Chance(0.7) ? OneOf(unicast_) : OneOf(group_);
    if (Chance(0.3)) r.vid = Chance(0.9) ? OneOf(vids_) : uint16_t{0};
    if (Chance(0.35)) {
      r.arp = Chance(0.7) ? ArpKind::kArp : ArpKind::kRarp;
      if (Chance(0.4)) r.arp_op = r.arp == ArpKind::kArp ? Pick(1, 2) : Pick(3, 4);
      if (Chance(0.3)) r.arp_sha = OneOf(unicast_);
      if (Chance(0.3)) r.arp_tha = OneOf(unicast_);
      if (Chance(0.3)) r.arp_spa = OneOf(ips_);
      if (Chance(0.3)) r.arp_tpa = OneOf(ips_);
    }
    return r;
  }

  PortConfig RandomPortConfig() {
    PortConfig c;
    if (Chance(0.15)) {
      c.locked = true;
      c.learning = false;
      c.discover = false;
    } else {
      c.learning = !Chance(0.15);
      c.discover = !Chance(0.2);
    }
    c.blocknonip = Chance(0.15);
    if (Chance(0.3)) c.protected_domains = (Chance(0.5) ? 1u << 2 : 0) | (Chance(0.5) ? 1u << 5 : 0);
    c.pvid = Chance(0.15) ? kPvidNone : OneOf(std::vector<uint16_t>{1, 1, 2, 3});
    for (uint16_t v : vids_) {
      if (v != c.pvid && Chance(0.3)) c.tagged.push_back(v);
    }
    if (Chance(0.2)) c.max_addresses = Pick(1, 3);
    return c;
  }

  void AddPort(const std::string& name, bool span) {
    auto fp = std::make_shared<FakePort>(name);
    auto np = std::make_shared<NetdevPort>(name, next_ifindex_++,
                                           Chance(0.5), 1500, true);
    if (Chance(0.15)) {
      fp->set_mtu(100);
      np->set_mtu(100);
    }
    if (Chance(0.1)) {
      fp->set_running(false);
      np->set_running(false);
    }
    absl::StatusOr<PortRef> ur, kr;
    if (span) {
      ur = user_->AddSpanPort(fp);
      kr = kern_->AddSpanPort(np);
    } else {
      const PortConfig c = RandomPortConfig();
      ur = user_->AddPort(fp, c);
      kr = kern_->AddPort(np, c);
    }
    ASSERT_TRUE(ur.ok()) << ur.status();
    ASSERT_TRUE(kr.ok()) << kr.status();
    names_.push_back(name);
    fake_[name] = fp;
    dev_[name] = np;
    spans_[name] = span;
    if (!span) {
      for (int i = 0, n = Pick(0, 3); i < n; ++i) {
        const Rule r = RandomRule();
        ASSERT_TRUE(user_->AddRule(name, r).ok());
        ASSERT_TRUE(kern_->AddRule(name, r).ok());
      }
    }
  }

  // A random control operation on both engines, with the same outcome.
  void ControlOp(int index) {
    const std::string where = absl::StrCat("control op before frame ", index);
    std::vector<std::string> members;
    for (const std::string& n : names_) {
      if (!spans_[n]) members.push_back(n);
    }
    switch (Pick(0, 7)) {
      case 0: {  // settings of a member
        const PortConfig c = RandomPortConfig();
        const std::string& p = OneOf(members);
        EXPECT_EQ(user_->UpdatePort(p, c).code(), kern_->UpdatePort(p, c).code()) << where;
        break;
      }
      case 1: {  // a rule more, or none
        const std::string& p = OneOf(members);
        if (Chance(0.5)) {
          const Rule r = RandomRule();
          EXPECT_EQ(user_->AddRule(p, r).code(), kern_->AddRule(p, r).code()) << where;
        } else {
          EXPECT_EQ(user_->FlushRules(p).code(), kern_->FlushRules(p).code()) << where;
        }
        EXPECT_EQ(*user_->ListRules(p), *kern_->ListRules(p)) << where;
        break;
      }
      case 2: {  // a port goes (S12) and a new one comes (slot reuse)
        if (members.size() <= 2) break;
        const std::string p = OneOf(members);
        auto ur = user_->RemovePort(p);
        auto kr = kern_->RemovePort(p);
        ASSERT_TRUE(ur.ok() && kr.ok()) << where;
        EXPECT_EQ(*ur, *kr) << where << ": entries removed with " << p;
        names_.erase(std::find(names_.begin(), names_.end(), p));
        fake_.erase(p);
        dev_.erase(p);
        spans_.erase(p);
        AddPort(absl::StrCat("n", index), Chance(0.2));
        break;
      }
      case 3: {  // bridge settings
        BridgeConfig c = user_->config();
        c.max_addresses = Pick(2, 24);
        c.timeout_seconds = Pick(8, 20);
        c.allow_svlan = Chance(0.3);
        c.allow_reserved = Chance(0.2);
        c.up = !Chance(0.1);
        EXPECT_EQ(user_->Update(c).code(), kern_->Update(c).code()) << where;
        break;
      }
      case 4: {
        const uint16_t vid = OneOf(vids_);
        const Mac mac = OneOf(unicast_);
        EXPECT_EQ(user_->DeleteAddress(vid, mac).code(), kern_->DeleteAddress(vid, mac).code())
            << where;
        break;
      }
      case 5: {
        const bool all = Chance(0.5);
        EXPECT_EQ(user_->FlushAddresses(all), kern_->FlushAddresses(all)) << where;
        break;
      }
      case 6: {
        const std::string& p = OneOf(names_);
        const uint32_t mtu = Chance(0.5) ? 100 : 1500;
        fake_[p]->set_mtu(mtu);
        dev_[p]->set_mtu(mtu);
        break;
      }
      default:
        AddStatic();
        break;
    }
  }

  void AddStatic() {
    const std::string& port = OneOf(names_);
    const uint16_t vid = OneOf(vids_);
    const Mac mac = OneOf(unicast_);
    absl::Status us = user_->AddStaticAddress(vid, mac, port);
    absl::Status ks = kern_->AddStaticAddress(vid, mac, port);
    EXPECT_EQ(us.code(), ks.code()) << us << " / " << ks;
  }

  void FlipLink() {
    const std::string& port = OneOf(names_);
    const bool up = !fake_[port]->running();
    fake_[port]->set_running(up);
    dev_[port]->set_running(up);
  }

  void SendRandomFrame(int index) {
    const std::string rx = OneOf(names_);
    std::vector<uint8_t> frame;
    const Mac src = Chance(0.9) ? OneOf(unicast_) : (Chance(0.5) ? Mac{0} : OneOf(group_));
    const Mac dst = Chance(0.65) ? OneOf(unicast_) : OneOf(group_);
    std::optional<uint16_t> ctag;
    const int tagging = Pick(0, 9);
    if (tagging >= 5) ctag = static_cast<uint16_t>((Pick(0, 7) << 13) | Pick(0, 5));
    if (Chance(0.3)) {
      ArpSpec a;
      a.dst = dst;
      a.src = src;
      a.ctag = ctag;
      a.ether_type = Chance(0.8) ? 0x0806 : 0x8035;
      a.op = static_cast<uint16_t>(Pick(0, 5));
      a.sha = OneOf(unicast_);
      a.tha = OneOf(unicast_);
      a.spa = OneOf(ips_);
      a.tpa = OneOf(ips_);
      if (Chance(0.1)) a.hrd = 6;
      frame = MakeArp(a);
    } else {
      FrameSpec s{dst, src};
      s.ctag = ctag;
      if (tagging == 1) s.stag = static_cast<uint16_t>(Pick(1, 5));  // S-tag (+ C-tag if any)
      if (tagging == 9) {  // double C-tag
        s.ctag = static_cast<uint16_t>(Pick(1, 4));
        frame = MakeFrame(s);
        frame.insert(frame.begin() + 12, {0x81, 0x00, 0x00, static_cast<uint8_t>(Pick(1, 4))});
      }
      s.ether_type = OneOf(std::vector<uint16_t>{0x0800, 0x0800, 0x86dd, 0x88cc, 0x1234});
      s.payload = Chance(0.1) ? static_cast<size_t>(Pick(100, 1600)) : static_cast<size_t>(Pick(0, 60));
      if (frame.empty()) frame = MakeFrame(s);
    }
    // Runts. BPF_PROG_TEST_RUN refuses (EINVAL) an IPv4 or IPv6 frame too short
    // for its IP header, so those keep at least 14 + 40 bytes; other ether
    // types (ARP included) are cut anywhere from 14 bytes on.
    const uint16_t type = static_cast<uint16_t>((frame[12] << 8) | frame[13]);
    const bool ip = type == 0x0800 || type == 0x86dd;
    if (Chance(0.05) && !ip) frame.resize(Pick(14, static_cast<int>(frame.size())));
    if (ip && frame.size() < 54) frame.resize(54);
    const bool gso = Chance(0.05);

    for (auto& [n, p] : fake_) p->Clear();
    user_events_.clear();
    kern_events_.clear();
    RxFrame rf{frame.data(), static_cast<uint32_t>(frame.size()), {gso, nullptr}};
    const std::optional<PortRef> ref = RefOf(rx);
    user_->Input(ctx_, *ref, absl::MakeConstSpan(&rf, 1));
    absl::StatusOr<TestResult> kr = kern_->TestRun(rx, frame, gso);
    ASSERT_TRUE(kr.ok()) << kr.status() << " frame " << index << " len " << frame.size() << " gso " << gso << " " << absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(frame.data()), frame.size()));

    ++seen_[absl::StrCat("verdict ", static_cast<int>(kr->verdict))];
    for (const TestCopy& c : kr->copies) {
      if (c.op != TagOp::kKeep) ++seen_[absl::StrCat("tag op ", static_cast<int>(c.op))];
    }
    const std::string where = absl::StrCat("frame ", index, " (", frame.size(), " bytes on ", rx,
                                           gso ? ", gso" : "", ")");
    // Copies, per port, in order.
    std::map<std::string, std::vector<std::vector<uint8_t>>> kern_sent;
    for (const TestCopy& c : kr->copies) {
      const std::string port = NameOf(c.slot);
      TxFrame tx{frame.data(), static_cast<uint32_t>(frame.size()), c.op, c.tci, {}};
      std::vector<uint8_t> bytes(TxFrameLength(tx));
      WriteTxFrame(tx, bytes.data());
      EXPECT_EQ(c.len, bytes.size()) << where << ": the skb's length after the tag operation on " << port;
      kern_sent[port].push_back(std::move(bytes));
    }
    for (const std::string& n : names_) {
      const auto& us = fake_[n]->sent();
      const auto& ks = kern_sent[n];
      EXPECT_EQ(us, ks) << where << ": copies on " << n;
    }
    Compare(where);
  }

  std::optional<PortRef> RefOf(const std::string& name) {
    auto p = user_->GetPort(name);
    if (!p.ok()) return std::nullopt;
    return p->ref;
  }
  std::string NameOf(uint32_t slot) {
    for (const PortInfo& p : kern_->ListPorts()) {
      if (p.ref.slot == slot) return p.name;
    }
    return absl::StrCat("slot", slot);
  }
  std::vector<Ev> Translate(const std::vector<AddressEvent>& events, bool kernel) {
    std::vector<Ev> out;
    std::vector<PortInfo> ports = kernel ? kern_->ListPorts() : user_->ListPorts();
    auto name = [&](PortRef r) -> std::string {
      for (const PortInfo& p : ports) {
        if (p.ref == r) return p.name;
      }
      return "";
    };
    for (const AddressEvent& e : events) {
      out.push_back(Ev{e.kind, e.vid, e.mac, name(e.port),
                       e.kind == AddressEventKind::kMoved ? name(e.old_port) : "", e.age_seconds});
    }
    return out;
  }

  void Compare(const std::string& where, bool sort_events = false) {
    for (const std::string& n : names_) {
      auto uc = user_->GetPortCounters(n);
      auto kc = kern_->GetPortCounters(n);
      ASSERT_TRUE(uc.ok() && kc.ok());
      EXPECT_EQ(uc->rx_packets, kc->rx_packets) << where << ": rx_packets of " << n;
      EXPECT_EQ(uc->rx_bytes, kc->rx_bytes) << where << ": rx_bytes of " << n;
      EXPECT_EQ(uc->tx_packets, kc->tx_packets) << where << ": tx_packets of " << n;
      EXPECT_EQ(uc->tx_bytes, kc->tx_bytes) << where << ": tx_bytes of " << n;
      EXPECT_EQ(uc->unicast, kc->unicast) << where << ": unicast of " << n;
      EXPECT_EQ(uc->flooded, kc->flooded) << where << ": flooded of " << n;
      for (DropReason r : kAllDropReasons) {
        EXPECT_EQ(uc->in(r), kc->in(r)) << where << ": in " << DropReasonName(r) << " of " << n;
        EXPECT_EQ(uc->out(r), kc->out(r)) << where << ": out " << DropReasonName(r) << " of " << n;
      }
      EXPECT_EQ(*user_->PortAddressCount(n), *kern_->PortAddressCount(n)) << where << ": entries of " << n;
      for (DropReason r : kAllDropReasons) {
        seen_[absl::StrCat("in ", DropReasonName(r))] = std::max(seen_[absl::StrCat("in ", DropReasonName(r))], uc->in(r));
        seen_[absl::StrCat("out ", DropReasonName(r))] = std::max(seen_[absl::StrCat("out ", DropReasonName(r))], uc->out(r));
      }
    }
    const BridgeCounters ub = user_->GetCounters(), kb = kern_->GetCounters();
    EXPECT_EQ(ub.learned, kb.learned) << where << ": learned";
    EXPECT_EQ(ub.moved, kb.moved) << where << ": moved";
    EXPECT_EQ(ub.expired, kb.expired) << where << ": expired";
    EXPECT_EQ(ub.flooded, kb.flooded) << where << ": flooded";
    seen_["moved"] = std::max(seen_["moved"], ub.moved);
    seen_["expired"] = std::max(seen_["expired"], ub.expired);
    for (LearnRefusal r : kAllLearnRefusals) {
      EXPECT_EQ(ub.refused[static_cast<size_t>(r)], kb.refused[static_cast<size_t>(r)])
          << where << ": refused " << LearnRefusalName(r);
      seen_[absl::StrCat("refused ", LearnRefusalName(r))] =
          std::max(seen_[absl::StrCat("refused ", LearnRefusalName(r))], ub.refused[static_cast<size_t>(r)]);
    }
    auto up = user_->ListAddressPage({}, std::nullopt, 1000);
    auto kp = kern_->ListAddressPage({}, std::nullopt, 1000);
    ASSERT_TRUE(up.ok() && kp.ok());
    std::vector<std::string> ua, ka;
    for (const AddressInfo& a : up->addresses) ua.push_back(Describe(a));
    for (const AddressInfo& a : kp->addresses) ka.push_back(Describe(a));
    EXPECT_EQ(ua, ka) << where << ": FDB";
    EXPECT_EQ(up->total_matching, kp->total_matching) << where << ": FDB entries";
    EXPECT_EQ(user_->GetAddressCounts().statics, kern_->GetAddressCounts().statics) << where;
    EXPECT_EQ(user_->address_count(), kern_->address_count()) << where << ": address count";
    std::vector<Ev> ue = Translate(user_events_, false), ke = Translate(kern_events_, true);
    if (sort_events) {
      auto order = [](const Ev& a, const Ev& b) {
        return std::tie(a.kind, a.vid, a.mac, a.port) < std::tie(b.kind, b.vid, b.mac, b.port);
      };
      std::sort(ue.begin(), ue.end(), order);
      std::sort(ke.begin(), ke.end(), order);
    }
    EXPECT_EQ(ue, ke) << where << ": events";
  }

  std::mt19937 rng_;
  FakeClock clock_;
  Qsbr qsbr_;
  WorkerContext ctx_{&qsbr_, 0};
  std::unique_ptr<Bridge> user_;
  std::unique_ptr<KernelBridge> kern_;
  std::vector<std::string> names_;
  std::map<std::string, std::shared_ptr<FakePort>> fake_;
  std::map<std::string, std::shared_ptr<NetdevPort>> dev_;
  std::map<std::string, bool> spans_;
  std::vector<AddressEvent> user_events_, kern_events_;
  std::map<std::string, uint64_t> seen_;
  uint32_t next_ifindex_ = 1000;
};

// 40 seeds x 250 frames: 10,000 frames, each compared in full.
TEST(DifferentialTest, BothEnginesAgreeOnRandomConfigurationsAndFrames) {
  std::map<std::string, uint64_t> seen;
  for (uint32_t seed = 1; seed <= 40 && !::testing::Test::HasFailure(); ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Differential d(seed);
    d.Run(250);
    for (const auto& [k, v] : d.seen()) seen[k] += v;
  }
  if (::testing::Test::HasFailure()) return;
  // The frames reached every rule both engines can be driven to here (not
  // tx_error/no_buffer, which need a failing backend, nor input too_big,
  // which needs more than BPF_PROG_TEST_RUN's page of data).
  for (const char* k :
       {"in link_down", "in untagged", "in tagged_in", "in double_tagged", "in svlan",
        "in blocknonip_in", "in rules_in", "in locked", "in hairpin", "in reserved_address",
        "in runt", "out link_down", "out protected", "out tagged_out", "out blocknonip_out",
        "out rules_out", "out too_big", "refused table_full", "refused static_entry",
        "refused invalid_source", "refused port_full", "moved", "expired", "verdict 1",
        "verdict 2", "tag op 1", "tag op 2", "tag op 3"}) {
    EXPECT_GT(seen[k], 0u) << k << " never happened";
  }
}

}  // namespace
}  // namespace veb::ebpf

// The fixture of the forwarding contract tests (bridge_test.cc,
// bridge_learning_test.cc, bridge_forwarding_test.cc): a bridge over
// FakePorts and a FakeClock, frames sent in and counted out, and the
// helpers for VLAN and locked-port configurations.
//
// Thread-safety: one test at a time.
#ifndef VEB_DATAPLANE_BRIDGE_TEST_UTIL_H_
#define VEB_DATAPLANE_BRIDGE_TEST_UTIL_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/bridge.h"
#include "dataplane/fake_port.h"
#include "dataplane/test_frames.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb::bridge_test {

inline constexpr int64_t kSec = 1000000000;
inline constexpr Mac kA = 0x02000000000aULL;
inline constexpr Mac kB = 0x02000000000bULL;
inline constexpr Mac kC = 0x02000000000cULL;
inline constexpr Mac kUnknown = 0x0200000000ffULL;

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

inline PortConfig Access(uint16_t pvid) {
  PortConfig c;
  c.pvid = pvid;
  return c;
}
inline PortConfig Trunk(std::vector<uint16_t> vids, uint16_t pvid = kPvidNone) {
  PortConfig c;
  c.pvid = pvid;
  c.tagged = std::move(vids);
  return c;
}
inline std::vector<uint8_t> Tagged(Mac src, Mac dst, uint16_t tci) {
  FrameSpec s{dst, src};
  s.ctag = tci;
  return MakeFrame(s);
}
inline std::vector<uint8_t> Untagged(Mac src, Mac dst) { return MakeFrame({dst, src}); }

inline PortConfig Locked() {
  PortConfig c;
  c.locked = true;
  c.learning = false;
  c.discover = false;
  return c;
}

}  // namespace veb::bridge_test

#endif  // VEB_DATAPLANE_BRIDGE_TEST_UTIL_H_

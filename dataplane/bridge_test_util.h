// The fixture of the forwarding contract tests (bridge_test.cc,
// bridge_learning_test.cc, bridge_forwarding_test.cc): a bridge of either
// engine (engine_harness.h) and a FakeClock, frames sent in and counted out,
// and the helpers for VLAN and locked-port configurations. The kernel engine's
// instances need root (BPF_PROG_TEST_RUN).
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
#include "dataplane/engine_harness.h"
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

// Parameterized by engine: every test runs against the userspace pipeline
// and the kernel engine's BPF program (engine_harness.h).
class BridgeTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    auto h = EngineHarness::Create(GetParam(), "veb0", {}, &clock_);
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = std::move(*h);
    bridge_ = harness_->bridge();
  }

  bool kernel() const { return GetParam() == Engine::kKernel; }
  // A port object of the kind the engine takes, not yet added.
  std::shared_ptr<Port> NewPort(const std::string& name) { return harness_->NewPort(name); }
  TestPort& Add(const std::string& name, PortConfig cfg = {}) {
    auto p = harness_->Add(name, cfg);
    EXPECT_TRUE(p.ok()) << p.status();
    refs_[name] = bridge_->GetPort(name)->ref;
    return **p;
  }
  TestPort& AddSpan(const std::string& name) {
    auto p = harness_->AddSpan(name);
    EXPECT_TRUE(p.ok()) << p.status();
    refs_[name] = bridge_->GetPort(name)->ref;
    return **p;
  }
  void Send(const std::string& port, const std::vector<uint8_t>& frame,
            bool gso = false) {
    absl::Status s = harness_->Send(port, frame, gso);
    EXPECT_TRUE(s.ok()) << s;
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
  size_t Sent(const std::string& port) { return harness_->port(port)->sent().size(); }
  const std::vector<std::vector<uint8_t>>& SentFrames(const std::string& port) {
    return harness_->port(port)->sent();
  }
  void ClearSent() {
    for (const PortInfo& p : bridge_->ListPorts()) harness_->port(p.name)->Clear();
  }
  std::optional<std::string> Owner(uint16_t vid, Mac mac) {
    std::optional<AddressInfo> a = bridge_->GetAddress(vid, mac);
    if (!a) return std::nullopt;
    return a->port;
  }
  // Every live entry, in (VID, MAC) order.
  std::vector<AddressInfo> Addresses() {
    auto page = bridge_->ListAddressPage({}, std::nullopt, 10000);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->addresses : std::vector<AddressInfo>{};
  }

  FakeClock clock_;
  std::unique_ptr<EngineHarness> harness_;
  BridgeEngine* bridge_ = nullptr;
  std::map<std::string, PortRef> refs_;
};

// Tests of the userspace machinery only (failing backends, worker batches,
// worker counts, frames shorter than an Ethernet header, which no Linux
// interface delivers to the kernel engine).
class UserspaceBridgeTest : public BridgeTest {};

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

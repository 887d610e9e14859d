// libFuzzer harness for Bridge::Input: arbitrary bytes become frames received
// on ports configured with VLANs, rules (incl. ARP), protected domains, a
// locked port and a span port. Besides ASan/UBSan findings it traps when the
// S11 identity (rx == unicast + flooded + input drops) breaks.
//
//   bazel build --config=fuzz //dataplane:pipeline_fuzzer
//   bazel-bin/dataplane/pipeline_fuzzer -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dataplane/bridge.h"
#include "dataplane/fake_port.h"

namespace veb {
namespace {

struct Harness {
  Harness() {
    BridgeConfig bc;
    bc.max_addresses = 64;
    bc.timeout_seconds = 8;
    bridge = Bridge::Create("fuzz", bc, &clock, &qsbr, 1).value();
    PortConfig access;
    access.pvid = 10;
    access.protected_domains = 1u << 1;
    PortConfig trunk;
    trunk.pvid = kPvidNone;
    trunk.tagged = {10, 20, 4094};
    trunk.blocknonip = true;
    PortConfig locked;
    locked.locked = true;
    locked.learning = false;
    locked.discover = false;
    locked.protected_domains = 1u << 1;
    PortConfig plain;
    const PortConfig configs[] = {access, trunk, locked, plain};
    for (int i = 0; i < 4; ++i) {
      auto p = std::make_shared<FakePort>("p" + std::to_string(i), /*record=*/i == 3);
      p->set_mtu(i == 1 ? 9000 : 1500);
      refs.push_back(bridge->AddPort(p, configs[i]).value());
      ports.push_back(p);
    }
    (void)bridge->AddSpanPort(std::make_shared<FakePort>("span", false));
    (void)bridge->AddStaticAddress(10, 0x020000000033ULL, "p2");
    Rule arp;
    arp.arp = ArpKind::kArp;
    arp.arp_op = kArpOpReply;
    arp.arp_spa = 0x0a000001;
    (void)bridge->AddRule("p0", arp);
    Rule vid;
    vid.directions = kRuleOut;
    vid.vid = 20;
    vid.dst = 0x020000000044ULL;
    (void)bridge->AddRule("p1", vid);
    Rule pass;
    pass.action = RuleAction::kPass;
    pass.directions = kRuleInOut;
    pass.src = 0x020000000055ULL;
    (void)bridge->AddRule("p3", pass);
  }
  FakeClock clock;
  Qsbr qsbr;
  std::unique_ptr<Bridge> bridge;
  WorkerContext ctx{&qsbr, 0};
  std::vector<PortRef> refs;
  std::vector<std::shared_ptr<FakePort>> ports;
};

}  // namespace
}  // namespace veb

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace veb;
  static Harness* h = new Harness;
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const int rx = control & 3;
  h->clock.Advance((control >> 2) & 1 ? 5000000000 : 1);
  h->ports[(control >> 3) & 3]->set_running(((control >> 5) & 1) == 0);
  // Remaining bytes: [len:1][frame:len]... ; len 0xff = rest of input.
  std::vector<RxFrame> batch;
  size_t off = 1;
  while (off < size && batch.size() < 64) {
    size_t len = data[off++];
    if (len == 0xff || off + len > size) len = size - off;
    // Copy so ASan sees reads past each frame's own end.
    auto* copy = new uint8_t[len ? len : 1];
    memcpy(copy, data + off, len);
    batch.push_back(RxFrame{copy, static_cast<uint32_t>(len), {((control >> 6) & 1) != 0, nullptr}});
    off += len;
  }
  const PortCounters before = *h->bridge->GetPortCounters("p" + std::to_string(rx));
  h->bridge->Input(h->ctx, h->refs[rx], absl::MakeConstSpan(batch));
  const PortCounters after = *h->bridge->GetPortCounters("p" + std::to_string(rx));
  for (auto& f : batch) delete[] f.data;
  const uint64_t outcomes = (after.unicast - before.unicast) +
                            (after.flooded - before.flooded) +
                            (after.total_in_drops() - before.total_in_drops());
  if (outcomes != after.rx_packets - before.rx_packets ||
      outcomes != batch.size()) {
    __builtin_trap();
  }
  h->ports[3]->Clear();
  if ((control >> 7) & 1) h->bridge->ExpireAddresses();
  return 0;
}

#include "dataplane/engine_harness.h"

#include "absl/strings/str_cat.h"

namespace veb {

std::string EngineTestName(Engine engine) { return EngineName(engine); }

void TestPort::set_running(bool up) {
  fake_->set_running(up);
  if (dev_) dev_->set_running(up);
}

void TestPort::set_mtu(uint32_t mtu) {
  fake_->set_mtu(mtu);
  if (dev_) dev_->set_mtu(mtu);
}

absl::StatusOr<std::unique_ptr<EngineHarness>> EngineHarness::Create(
    Engine engine, const std::string& name, const BridgeConfig& config, FakeClock* clock) {
  std::unique_ptr<EngineHarness> h(new EngineHarness(engine));
  if (engine == Engine::kUserspace) {
    auto b = Bridge::Create(name, config, clock, &h->qsbr_, 1);
    if (!b.ok()) return b.status();
    h->user_ = std::move(*b);
    h->ctx_ = std::make_unique<WorkerContext>(&h->qsbr_, 0);
    h->bridge_ = h->user_.get();
  } else {
    ebpf::KernelBridgeOptions o;
    o.test_hook = true;
    o.clock = clock;
    o.refresh_ns = 0;  // refresh on every frame, like the userspace table
    auto b = ebpf::KernelBridge::Create(name, config, o);
    if (!b.ok()) return b.status();
    h->kernel_ = std::move(*b);
    h->bridge_ = h->kernel_.get();
  }
  return h;
}

EngineHarness::~EngineHarness() {
  if (kernel_) (void)kernel_->Destroy();
}

std::shared_ptr<Port> EngineHarness::NewPort(const std::string& name) {
  if (engine_ == Engine::kUserspace) return std::make_shared<FakePort>(name);
  return std::make_shared<ebpf::NetdevPort>(name, next_ifindex_++, /*is_veth=*/true, 1500, true);
}

absl::StatusOr<TestPort*> EngineHarness::AddImpl(const std::string& name,
                                                 const PortConfig& config, bool span) {
  std::shared_ptr<FakePort> fake;
  std::shared_ptr<ebpf::NetdevPort> dev;
  std::shared_ptr<Port> port;
  if (engine_ == Engine::kUserspace) {
    fake = std::make_shared<FakePort>(name);
    port = fake;
  } else {
    fake = std::make_shared<FakePort>(name);  // the recorder
    dev = std::make_shared<ebpf::NetdevPort>(name, next_ifindex_++, true, 1500, true);
    port = dev;
  }
  absl::StatusOr<PortRef> ref = span ? bridge_->AddSpanPort(port) : bridge_->AddPort(port, config);
  if (!ref.ok()) return ref.status();
  refs_[name] = *ref;
  auto tp = std::make_unique<TestPort>(fake, dev);
  TestPort* out = tp.get();
  ports_[name] = std::move(tp);
  return out;
}

absl::StatusOr<TestPort*> EngineHarness::Add(const std::string& name, const PortConfig& config) {
  return AddImpl(name, config, false);
}

absl::StatusOr<TestPort*> EngineHarness::AddSpan(const std::string& name) {
  return AddImpl(name, PortConfig{}, true);
}

TestPort* EngineHarness::port(const std::string& name) {
  auto it = ports_.find(name);
  return it == ports_.end() ? nullptr : it->second.get();
}

absl::Status EngineHarness::Send(const std::string& name, const std::vector<uint8_t>& frame,
                                 bool gso) {
  auto ref = refs_.find(name);
  if (ref == refs_.end()) return absl::NotFoundError(absl::StrCat("no port ", name));
  if (engine_ == Engine::kUserspace) {
    RxFrame f{frame.data(), static_cast<uint32_t>(frame.size()), {gso, nullptr}};
    user_->Input(*ctx_, ref->second, absl::MakeConstSpan(&f, 1));
    return absl::OkStatus();
  }
  if (!kernel_->GetPort(name).ok()) return absl::OkStatus();  // removed: ignored
  absl::StatusOr<ebpf::TestResult> r = kernel_->TestRun(name, frame, gso);
  if (!r.ok()) return r.status();
  std::map<uint32_t, TestPort*> by_slot;
  for (const PortInfo& p : kernel_->ListPorts()) by_slot[p.ref.slot] = port(p.name);
  for (const ebpf::TestCopy& c : r->copies) {
    TestPort* tp = by_slot[c.slot];
    if (tp == nullptr) return absl::InternalError(absl::StrCat("copy to unknown slot ", c.slot));
    TxFrame tx{frame.data(), static_cast<uint32_t>(frame.size()), c.op, c.tci, {}};
    if (TxFrameLength(tx) != c.len) {
      return absl::InternalError(absl::StrCat("copy to ", tp->name(), ": the skb is ", c.len,
                                              " bytes after its tag operation, expected ",
                                              TxFrameLength(tx)));
    }
    tp->recorder().Transmit(absl::MakeConstSpan(&tx, 1));
  }
  return absl::OkStatus();
}

void EngineHarness::InputBatch(const std::string& name, absl::Span<const RxFrame> frames) {
  user_->Input(*ctx_, refs_.at(name), frames);
}

}  // namespace veb

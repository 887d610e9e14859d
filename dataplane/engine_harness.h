// One bridge of either engine, driven the same way by the contract tests
// (bridge_*_test.cc, accounting_test.cc): add ports, send a frame in on a port,
// read the frames each port sent. The userspace engine runs its pipeline over
// FakePorts; the kernel engine runs its BPF program's test variant through
// BPF_PROG_TEST_RUN (KernelBridge in test-hook mode: needs root) and each copy
// it records is materialised into the port's FakePort recorder, so tests read
// both engines' output the same way.
//
// Thread-safety: one test thread.
#ifndef VEB_DATAPLANE_ENGINE_HARNESS_H_
#define VEB_DATAPLANE_ENGINE_HARNESS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/bridge.h"
#include "dataplane/bridge_engine.h"
#include "dataplane/clock.h"
#include "dataplane/ebpf/kernel_bridge.h"
#include "dataplane/fake_port.h"
#include "dataplane/qsbr.h"

namespace veb {

// "userspace" / "kernel", for parameterized test names.
std::string EngineTestName(Engine engine);

// A port as tests see it: what it sent, and its link state and MTU, which
// reach the engine (FakePort for userspace, NetdevPort for kernel).
class TestPort {
 public:
  TestPort(std::shared_ptr<FakePort> fake, std::shared_ptr<ebpf::NetdevPort> dev)
      : fake_(std::move(fake)), dev_(std::move(dev)) {}
  const std::string& name() const { return fake_->name(); }
  const std::vector<std::vector<uint8_t>>& sent() const { return fake_->sent(); }
  uint64_t sent_count() const { return fake_->sent_count(); }
  void Clear() { fake_->Clear(); }
  bool running() const { return fake_->running(); }
  void set_running(bool up);
  void set_mtu(uint32_t mtu);
  // Userspace engine only (the kernel engine has no failing test backend).
  void FailAfter(int64_t budget, DropReason reason) { fake_->FailAfter(budget, reason); }
  FakePort& recorder() { return *fake_; }

 private:
  std::shared_ptr<FakePort> fake_;
  std::shared_ptr<ebpf::NetdevPort> dev_;
};

class EngineHarness {
 public:
  // A bridge named `name` of `engine` at `clock` (which must outlive it).
  static absl::StatusOr<std::unique_ptr<EngineHarness>> Create(
      Engine engine, const std::string& name, const BridgeConfig& config, FakeClock* clock);
  ~EngineHarness();

  Engine engine_kind() const { return engine_; }
  BridgeEngine* bridge() { return bridge_; }
  // A fresh port object of the kind the engine accepts, not added.
  std::shared_ptr<Port> NewPort(const std::string& name);
  absl::StatusOr<TestPort*> Add(const std::string& name, const PortConfig& config);
  absl::StatusOr<TestPort*> AddSpan(const std::string& name);
  TestPort* port(const std::string& name);
  // Sends `frame` in on port `name` (member or span, or a removed port: then
  // ignored). The kernel engine cannot be given frames shorter than 14 bytes
  // (a Linux interface never receives them): INVALID_ARGUMENT.
  absl::Status Send(const std::string& name, const std::vector<uint8_t>& frame,
                    bool gso = false);
  // Userspace only: one batch through Bridge::Input.
  void InputBatch(const std::string& name, absl::Span<const RxFrame> frames);

 private:
  EngineHarness(Engine engine) : engine_(engine) {}
  absl::StatusOr<TestPort*> AddImpl(const std::string& name, const PortConfig& config, bool span);

  const Engine engine_;
  Qsbr qsbr_;
  std::unique_ptr<WorkerContext> ctx_;
  std::unique_ptr<Bridge> user_;
  std::unique_ptr<ebpf::KernelBridge> kernel_;
  BridgeEngine* bridge_ = nullptr;
  uint32_t next_ifindex_ = 1000;
  std::map<std::string, std::unique_ptr<TestPort>> ports_;
  std::map<std::string, PortRef> refs_;  // as last added (a removed port's ref stays)
};

}  // namespace veb

#endif  // VEB_DATAPLANE_ENGINE_HARNESS_H_

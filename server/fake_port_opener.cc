#include "server/fake_port_opener.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"

namespace veb::server {

void FakePortOpener::AddInterface(const std::string& name, Interface iface) {
  absl::MutexLock lock(&mu_);
  Entry& e = ifaces_[name];
  e.iface = iface;
  e.ifindex = next_ifindex_++;
  if (e.iface.mac == 0) e.iface.mac = 0x020000000000ULL | e.ifindex;
}

void FakePortOpener::RemoveInterface(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ifaces_.erase(name);
}

absl::StatusOr<OpenedPort> FakePortOpener::Open(const std::string& ifname,
                                                Backend backend) {
  absl::MutexLock lock(&mu_);
  auto it = ifaces_.find(ifname);
  if (it == ifaces_.end()) return absl::NotFoundError("no such interface");
  Entry& e = it->second;
  if (!e.iface.ethernet) {
    return absl::FailedPreconditionError("not an Ethernet interface");
  }
  if (backend == Backend::kTap && !e.iface.tap) {
    return absl::InvalidArgumentError("backend TAP on an interface that is not a TAP device");
  }
  return OpenLocked(ifname, e, backend);
}

namespace {

// Nothing polls a fake port (tests inject frames with Bridge::Input).
class Handle final : public PortHandle {
 public:
  Handle(std::shared_ptr<FakePort> port, std::atomic<int>* fail_attaches)
      : port_(std::move(port)), fail_attaches_(fail_attaches) {}
  absl::Status Attach(veb::BridgeEngine*, veb::PortRef) override {
    int n = fail_attaches_->load();
    while (n > 0 && !fail_attaches_->compare_exchange_weak(n, n - 1)) {
    }
    if (n > 0) return absl::ResourceExhaustedError("injected attach failure");
    return absl::OkStatus();
  }
  void Detach() override {}
  void SetRunning(bool up) override { port_->set_running(up); }
  void SetMtu(uint32_t mtu) override { port_->set_mtu(mtu); }
  BackendStats Stats() const override { return {}; }

 private:
  std::shared_ptr<FakePort> port_;
  std::atomic<int>* const fail_attaches_;  // the opener's, which outlives its ports
};

}  // namespace

OpenedPort FakePortOpener::OpenLocked(const std::string& ifname, Entry& e,
                                      Backend backend) {
  auto port = std::make_shared<FakePort>(ifname, /*record=*/true);
  e.port = port;
  OpenedPort out;
  out.port = port;
  out.backend = backend == Backend::kDefault ? Backend::kAfPacket : backend;
  out.ifindex = e.ifindex;
  out.mac = e.iface.mac;
  out.handle = std::make_unique<Handle>(port, &fail_attaches_);
  return out;
}

absl::StatusOr<OpenedVport> FakePortOpener::CreateVport(const VportSpec& spec,
                                                        Backend backend) {
  const std::string obj = absl::StrCat("vport \"", spec.name, "\": create: ");
  const bool tap = spec.type == VportType::kHost || spec.type == VportType::kPodTap;
  if (tap ? (backend != Backend::kDefault && backend != Backend::kTap)
          : backend == Backend::kTap) {
    return absl::InvalidArgumentError(absl::StrCat(obj, "backend does not match the vport type"));
  }
  absl::MutexLock lock(&mu_);
  if (fail_vports_ > 0) {
    --fail_vports_;
    return absl::UnavailableError(absl::StrCat(obj, "injected failure"));
  }
  if (spec.type == VportType::kPodVeth || spec.type == VportType::kPodTap) {
    struct stat st;
    if (stat(spec.netns.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat(obj, "netns \"", spec.netns, "\": not found"));
    }
    if (pod_ifnames_.count({spec.netns, spec.pod_ifname})) {
      return absl::AlreadyExistsError(absl::StrCat(obj, "interface \"", spec.pod_ifname,
                                                   "\" already exists in netns \"",
                                                   spec.netns, "\""));
    }
  }
  if (ifaces_.count(spec.name)) {
    return absl::AlreadyExistsError(absl::StrCat(obj, "interface \"", spec.name, "\" exists"));
  }
  Entry& e = ifaces_[spec.name];
  e.iface.tap = tap;
  e.ifindex = next_ifindex_++;
  e.iface.mac = 0x020000000000ULL | e.ifindex;
  e.vport = true;
  if (spec.type == VportType::kPodVeth || spec.type == VportType::kPodTap) {
    pod_ifnames_.insert({spec.netns, spec.pod_ifname});
  }
  if (spec.type == VportType::kTunnel) {
    e.peers.insert(spec.tunnel.peers.begin(), spec.tunnel.peers.end());
  }
  OpenedVport out;
  out.port = OpenLocked(spec.name, e, tap ? Backend::kTap : Backend::kAfPacket);
  out.stack_mac = spec.mac.value_or(0x0a0000000000ULL | e.ifindex);
  out.mtu = spec.mtu.value_or(1500);
  e.stack_mac = out.stack_mac;
  return out;
}

absl::StatusOr<OpenedVport> FakePortOpener::ReopenVport(const VportSpec& spec,
                                                        Backend /*backend*/) {
  absl::MutexLock lock(&mu_);
  auto it = ifaces_.find(spec.name);
  if (it == ifaces_.end() || !it->second.vport) {
    return absl::NotFoundError(absl::StrCat("vport \"", spec.name, "\": reopen: gone"));
  }
  OpenedVport out;
  out.port = OpenLocked(spec.name, it->second,
                        spec.type == VportType::kPodVeth || spec.type == VportType::kTunnel
                            ? Backend::kAfPacket
                            : Backend::kTap);
  out.stack_mac = it->second.stack_mac;
  out.mtu = spec.mtu.value_or(1500);
  return out;
}

absl::Status FakePortOpener::DestroyVport(const VportSpec& spec) {
  absl::MutexLock lock(&mu_);
  ifaces_.erase(spec.name);
  pod_ifnames_.erase({spec.netns, spec.pod_ifname});
  return absl::OkStatus();
}

absl::Status FakePortOpener::SetTunnelPeers(const VportSpec& spec,
                                            const std::vector<std::string>& add,
                                            const std::vector<std::string>& del) {
  absl::MutexLock lock(&mu_);
  auto it = ifaces_.find(spec.name);
  if (it == ifaces_.end() || !it->second.vport) {
    return absl::NotFoundError(absl::StrCat("vport \"", spec.name, "\": peers: gone"));
  }
  for (const std::string& p : add) it->second.peers.insert(p);
  for (const std::string& p : del) it->second.peers.erase(p);
  return absl::OkStatus();
}

std::vector<std::string> FakePortOpener::Peers(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = ifaces_.find(name);
  if (it == ifaces_.end()) return {};
  return {it->second.peers.begin(), it->second.peers.end()};
}

void FakePortOpener::FailNextVports(int n) {
  absl::MutexLock lock(&mu_);
  fail_vports_ = n;
}

bool FakePortOpener::HasInterface(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  return ifaces_.count(name) > 0;
}

std::shared_ptr<FakePort> FakePortOpener::port(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = ifaces_.find(name);
  return it == ifaces_.end() ? nullptr : it->second.port.lock();
}

}  // namespace veb::server

#include "server/fake_port_opener.h"

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
  auto port = std::make_shared<FakePort>(ifname, /*record=*/true);
  e.port = port;
  OpenedPort out;
  out.port = port;
  out.backend = backend == Backend::kDefault ? Backend::kAfPacket : backend;
  out.ifindex = e.ifindex;
  out.mac = e.iface.mac;
  return out;
}

std::shared_ptr<FakePort> FakePortOpener::port(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = ifaces_.find(name);
  return it == ifaces_.end() ? nullptr : it->second.port.lock();
}

}  // namespace veb::server

// Agent: what the kernel and time change behind the API's back. The link
// monitor's reports (S1 link state, MTU, S12 interfaces gone, pending
// interfaces appearing) and the one-second sweep (expiry, pods whose
// namespace went, pending objects, memory given back).
#include <malloc.h>
#include <net/if.h>
#include <sys/stat.h>

#include <cerrno>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "server/agent.h"

namespace veb::server {

// ---- link monitor hooks ------------------------------------------------------------------

void Agent::OnLinkChange(const std::string& ifname, bool up, uint32_t mtu) {
  PortEventInfo info;
  bool pending = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    pending = pending_.count(ifname) > 0;
  }
  if (pending) {
    AttachPending(ifname);  // the interface is (back) there
    return;
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    auto owner = interface_owner_.find(ifname);
    if (owner == interface_owner_.end()) return;
    const BridgeEntry* e = FindLocked(owner->second);
    if (e == nullptr) return;
    auto it = e->ports.find(ifname);
    if (it == e->ports.end()) return;
    const OpenedPort& opened = it->second.opened;
    if (mtu != 0 && opened.port->mtu() != mtu) opened.handle->SetMtu(mtu);
    if (opened.port->running() == up) return;
    opened.handle->SetRunning(up);
    info = PortEventLocked(owner->second, ifname, it->second.span, up,
                           v1::PORT_REMOVAL_CAUSE_UNSPECIFIED);
  }
  PublishPortEvent(hub_, up ? v1::EVENT_TYPE_PORT_LINK_UP : v1::EVENT_TYPE_PORT_LINK_DOWN,
                   info);
}

void Agent::OnInterfaceGone(const std::string& ifname, uint32_t ifindex) {
  absl::MutexLock config_lock(&config_mu_);
  std::string bridge;
  bool vport = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto owner = interface_owner_.find(ifname);
    if (owner == interface_owner_.end()) return;
    const BridgeEntry* e = FindLocked(owner->second);
    if (e == nullptr) return;
    auto port = e->ports.find(ifname);
    if (port != e->ports.end() && ifindex != 0 && port->second.opened.ifindex != ifindex) {
      return;  // an older interface of that name
    }
    bridge = owner->second;
    vport = vports_.Contains(ifname);
  }
  std::future<void> destroyed;
  if (vport) {
    // A pod's veth goes with its namespace; whatever is left is removed.
    destroyed = RemoveVport(ifname, v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE);
  } else {
    RemovePort(bridge, ifname, v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE);
  }
  // The port stays out of the persisted state: the interface is gone.
  PersistCurrent();
}

// ---- housekeeping ------------------------------------------------------------------------

void Agent::Sweep() {
  std::vector<std::pair<std::string, std::string>> pods;  // vport, netns
  std::vector<std::string> ready;  // pending objects whose interface is there
  size_t addresses = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, p] : pending_) {
      const v1::CreateVportRequest* v = p.vport() ? &p.requests.vports(0) : nullptr;
      struct stat st;
      bool there;
      if (v != nullptr && v->kind() == v1::VPORT_KIND_TUNNEL) {
        // A tunnel's device is made by us: retried once its underlay is there.
        there = v->tunnel().underlay().empty() ||
                if_nametoindex(v->tunnel().underlay().c_str()) != 0;
      } else {
        there = v != nullptr && v->pod().type() == v1::VPORT_TYPE_TAP
                    ? stat(v->pod().netns().c_str(), &st) == 0
                    : if_nametoindex(name.c_str()) != 0;
      }
      if (there) ready.push_back(name);
    }
    for (auto& [name, e] : bridges_) {
      e.bridge->ExpireAddresses();
      addresses += e.bridge->address_count();
    }
    for (const auto& [name, v] : vports_.all()) {
      if (v.pod()) pods.emplace_back(name, v.spec.netns);
    }
  }
  std::vector<std::string> orphans;
  for (const auto& [name, netns] : pods) {
    struct stat st;
    if (stat(netns.c_str(), &st) != 0 && errno == ENOENT) orphans.push_back(name);
  }
  if (!orphans.empty()) {
    absl::MutexLock config_lock(&config_mu_);
    std::vector<std::future<void>> destroyed;
    for (const std::string& name : orphans) {
      bool still_there;
      {
        absl::ReaderMutexLock lock(&mu_);
        still_there = vports_.Contains(name);
      }
      if (still_there) {
        destroyed.push_back(RemoveVport(name, v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE));
      }
    }
    PersistCurrent();
  }
  for (const std::string& name : ready) AttachPending(name);
  qsbr_.Reclaim();
  // Memory returns after a big table empties (flush, expiry, port removal):
  // the MAC table frees its slots and index nodes, but glibc keeps freed
  // heap for reuse until asked. Trimmed with no lock held, once the tables
  // hold less than half of what they held at their peak.
  size_t peak = address_peak_.load();
  if (addresses > peak) address_peak_.store(peak = addresses);
  if (peak >= kTrimAboveAddresses && addresses < peak / 2) {
    malloc_trim(0);
    address_peak_.store(addresses);
  }
}

}  // namespace veb::server

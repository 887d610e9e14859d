// Watches the host's interfaces through a libnl route socket subscribed to
// RTNLGRP_LINK, on its own thread. For every RTM_NEWLINK it reports the
// link's running state (IFF_UP and IFF_RUNNING, i.e. carrier/oper up) and
// MTU, with what changed since the last report for that ifindex; for
// RTM_DELLINK (interface deleted, or moved to another namespace) it reports
// deletion. The agent maps ifindexes to ports: running -> S1
// (LinuxPort::set_running), mtu -> LinuxPort::set_mtu (the too_big check of
// S11 uses the port's MTU, so an `ip link set mtu` must reach it), deleted ->
// remove the port (S12).
//
// What changed is worked out by LinkStateTracker, which holds no socket, so it
// is unit-tested without a network namespace; the monitor only feeds it the
// kernel's messages.
//
// If the kernel drops notifications (socket overrun, ENOBUFS), the monitor
// re-reads every link and reports each as a change, and reports as deleted
// the links it knew that are gone, so no transition is lost for good.
//
// Thread-safety: the callback runs on the monitor thread, one event at a
// time; it may call Bridge control methods but must not call Stop(). Start
// and Stop are for the owning thread.
#ifndef VEB_DATAPLANE_LINUX_LINK_MONITOR_H_
#define VEB_DATAPLANE_LINUX_LINK_MONITOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "dataplane/linux/netlink.h"

namespace veb {

struct LinkEvent {
  int ifindex = 0;
  std::string name;
  bool deleted = false;
  bool running = false;  // meaningless when deleted
  uint32_t mtu = 0;      // meaningless when deleted
  // Since the previous event for this ifindex (both set for a link seen for
  // the first time). A resync after lost notifications reports every link;
  // these say which reports carry a change.
  bool running_changed = false;
  bool mtu_changed = false;
};

// The last reported state of each link, and the change flags of each new
// report. Not thread-safe: one owner (the monitor thread, after Start).
class LinkStateTracker {
 public:
  // Fills `ev`'s change flags against the last state and records `ev`.
  void Observe(LinkEvent& ev);
  // Records a link without reporting it (the links present at Start).
  void Seed(const LinkEvent& ev);
  // The events a full dump `now` implies: a deletion for every known link
  // missing from it, then every link of `now` with its change flags.
  std::vector<LinkEvent> Resync(std::vector<LinkEvent> now);
  bool known(int ifindex) const { return links_.contains(ifindex); }

 private:
  struct State {
    bool running = false;
    uint32_t mtu = 0;
  };
  absl::flat_hash_map<int, State> links_;
};

class LinkMonitor {
 public:
  using Callback = std::function<void(const LinkEvent&)>;

  explicit LinkMonitor(Callback callback) : callback_(std::move(callback)) {}
  ~LinkMonitor() { Stop(); }
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  // Subscribes, reads the current links (no events for them), starts the
  // thread. Events for changes after Start returns are delivered.
  absl::Status Start();
  void Stop();

 private:
  void Run();
  void Resync();
  void Handle(LinkEvent ev);

  const Callback callback_;
  NlSocket sock_;
  int stop_fd_ = -1;
  std::thread thread_;
  LinkStateTracker tracker_;  // monitor thread only (after Start)
};

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_LINK_MONITOR_H_

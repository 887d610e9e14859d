// Watches the host's interfaces through a libnl route socket subscribed to
// RTNLGRP_LINK, on its own thread. For every RTM_NEWLINK it reports the
// link's running state (IFF_UP and IFF_RUNNING, i.e. carrier/oper up) and
// MTU; for RTM_DELLINK (interface deleted, or moved to another namespace) it
// reports deletion. The agent maps ifindexes to ports: running -> S1
// (LinuxPort::set_running), deleted -> remove the port (S12).
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

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "dataplane/linux/netlink.h"

namespace veb {

struct LinkEvent {
  int ifindex = 0;
  std::string name;
  bool deleted = false;
  bool running = false;  // meaningless when deleted
  uint32_t mtu = 0;
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
  void Handle(const LinkEvent& ev);

  const Callback callback_;
  NlSocket sock_;
  int stop_fd_ = -1;
  std::thread thread_;
  absl::flat_hash_set<int> known_;  // monitor thread only (after Start)
};

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_LINK_MONITOR_H_

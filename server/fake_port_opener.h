// A PortOpener over veb::FakePort for tests and for vebd --fake_interfaces:
// it knows a fixed set of "interfaces" (name, ifindex, MAC, Ethernet or not,
// TAP or not) and opens a FakePort for them; unknown names are NOT_FOUND,
// non-Ethernet ones FAILED_PRECONDITION. Nothing receives on these ports:
// tests inject frames with Bridge::Input.
//
// Thread-safety: all methods lock mu_.
#ifndef VEB_SERVER_FAKE_PORT_OPENER_H_
#define VEB_SERVER_FAKE_PORT_OPENER_H_

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/fake_port.h"
#include "server/port_opener.h"

namespace veb::server {

class FakePortOpener final : public PortOpener {
 public:
  struct Interface {
    bool ethernet = true;
    bool tap = false;
    Mac mac = 0;  // 0 = derived from the ifindex (02:00:00:00:xx:xx)
  };

  // Makes `name` an existing interface.
  void AddInterface(const std::string& name, Interface iface);
  void AddInterface(const std::string& name) { AddInterface(name, Interface()); }
  void RemoveInterface(const std::string& name);

  absl::StatusOr<OpenedPort> Open(const std::string& ifname,
                                  Backend backend) override;

  // Vports become interfaces of this opener (pods: the netns path must be
  // an existing file, and (netns, pod ifname) unique).
  absl::StatusOr<OpenedVport> CreateVport(const VportSpec& spec, Backend backend) override;
  absl::StatusOr<OpenedVport> ReopenVport(const VportSpec& spec, Backend backend) override;
  absl::Status DestroyVport(const VportSpec& spec) override;
  // Tunnel vports: the peers are kept per interface (Peers()).
  absl::Status SetTunnelPeers(const VportSpec& spec, const std::vector<std::string>& add,
                              const std::vector<std::string>& del) override;
  // A tunnel vport interface's peer set, as installed (sorted).
  std::vector<std::string> Peers(const std::string& name) const;

  // The next `n` CreateVport calls fail with UNAVAILABLE.
  void FailNextVports(int n);
  // The next `n` PortHandle::Attach calls (a worker taking the port) fail
  // with RESOURCE_EXHAUSTED.
  void FailNextAttaches(int n) { fail_attaches_.store(n); }
  bool HasInterface(const std::string& name) const;

  // The FakePort most recently opened for `name`, or null.
  std::shared_ptr<FakePort> port(const std::string& name) const;

 private:
  struct Entry {
    Interface iface;
    uint32_t ifindex = 0;
    std::weak_ptr<FakePort> port;
    bool vport = false;
    Mac stack_mac = 0;
    std::set<std::string> peers;  // tunnel vports
  };
  OpenedPort OpenLocked(const std::string& ifname, Entry& e, Backend backend)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  mutable absl::Mutex mu_;
  uint32_t next_ifindex_ ABSL_GUARDED_BY(mu_) = 2;
  std::map<std::string, Entry> ifaces_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, std::string>> pod_ifnames_ ABSL_GUARDED_BY(mu_);
  int fail_vports_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int> fail_attaches_{0};
};

}  // namespace veb::server

#endif  // VEB_SERVER_FAKE_PORT_OPENER_H_

// The real PortOpener: member and span ports on Linux interfaces, AF_PACKET
// (default), AF_XDP (falls back to AF_PACKET, with the reason in
// backend_detail, where the interface or kernel cannot do it) or TAP (the
// interface must be a TAP device), received by a shared WorkerPool.
// The port's handle attaches it to the pool and detaches it (after Detach
// returns no worker touches the port). Vports come from
// dataplane/linux/vport.h: a pod veth's host end opens like a member port
// (AF_PACKET or AF_XDP), host and pod TAPs as TapPort over the fd the switch
// keeps.
// Ports of a kernel bridge (Backend::kKernel) are ebpf::NetdevPorts: no
// socket and no worker (the bridge's program at TC ingress forwards); a
// kernel bridge's host vport is a veth pair (vport.h, CreateHostVethVport).
// Thread-safety: Open() is serialised by the agent; the pool is thread-safe.
#ifndef VEB_SERVER_LINUX_PORT_OPENER_H_
#define VEB_SERVER_LINUX_PORT_OPENER_H_

#include <memory>
#include <string>

#include "dataplane/linux/vport.h"
#include "dataplane/linux/worker.h"
#include "server/port_opener.h"

namespace veb::server {

class LinuxPortOpener final : public PortOpener {
 public:
  // Set before the first Open. Ports hold the pool weakly: once it is gone
  // (stopped at shutdown, before the agent and its QSBR domain), detaching is
  // a no-op.
  void set_pool(std::weak_ptr<WorkerPool> pool) { pool_ = std::move(pool); }
  absl::StatusOr<OpenedPort> Open(const std::string& ifname, Backend backend) override;
  absl::StatusOr<OpenedVport> CreateVport(const VportSpec& spec, Backend backend) override;
  absl::StatusOr<OpenedVport> ReopenVport(const VportSpec& spec, Backend backend) override;
  absl::Status DestroyVport(const VportSpec& spec) override;
  absl::Status SetTunnelPeers(const VportSpec& spec, const std::vector<std::string>& add,
                              const std::vector<std::string>& del) override;

 private:
  // Receive hooks on the pool for an opened LinuxPort; ifindex and MAC are
  // the ones the backend found when it opened the interface.
  OpenedPort Wrap(std::shared_ptr<LinuxPort> port, Backend backend);
  // A host vport's addresses: on the TAP, or on a kernel bridge's host veth
  // pair's stack end.
  static absl::Status AddHostAddresses(const VportSpec& spec, Backend backend);
  // Opens the switch side of vport `v` (just created or found again).
  absl::StatusOr<OpenedPort> Adopt(const VportSpec& spec, const Vport& v, Backend backend);

  std::weak_ptr<WorkerPool> pool_;
};

}  // namespace veb::server

#endif  // VEB_SERVER_LINUX_PORT_OPENER_H_

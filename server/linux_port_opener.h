// The real PortOpener: member and span ports on Linux interfaces, AF_PACKET
// (default) or TAP (the interface must be a TAP device), received by a shared
// WorkerPool. start_receive attaches the port to the pool; stop_receive
// detaches it (after it returns no worker touches the port). AF_XDP is not
// built yet: asking for it is FAILED_PRECONDITION.
// Thread-safety: Open() is serialised by the agent; the pool is thread-safe.
#ifndef VEB_SERVER_LINUX_PORT_OPENER_H_
#define VEB_SERVER_LINUX_PORT_OPENER_H_

#include <memory>
#include <string>

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

 private:
  std::weak_ptr<WorkerPool> pool_;
};

}  // namespace veb::server

#endif  // VEB_SERVER_LINUX_PORT_OPENER_H_

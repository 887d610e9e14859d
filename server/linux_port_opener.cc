#include "server/linux_port_opener.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "dataplane/linux/af_packet_port.h"
#include "dataplane/linux/netlink.h"
#include "dataplane/linux/tap_port.h"

namespace veb::server {

absl::StatusOr<OpenedPort> LinuxPortOpener::Open(const std::string& ifname, Backend backend) {
  if (pool_.expired()) return absl::UnavailableError("the worker pool is not running");
  std::shared_ptr<LinuxPort> port;
  Backend used = backend == Backend::kDefault ? Backend::kAfPacket : backend;
  switch (used) {
    case Backend::kAfPacket: {
      auto p = AfPacketPort::Open(ifname);
      if (!p.ok()) return p.status();
      port = *std::move(p);
      break;
    }
    case Backend::kTap: {
      auto p = TapPort::Open(ifname);
      if (!p.ok()) return p.status();
      port = *std::move(p);
      break;
    }
    default:
      return absl::FailedPreconditionError("backend AF_XDP not supported in this build");
  }
  auto sock = ConnectRoute();
  if (!sock.ok()) return sock.status();
  auto link = GetLink(sock->get(), ifname);
  if (!link.ok()) return link.status();

  OpenedPort out;
  out.port = port;
  out.backend = used;
  out.ifindex = static_cast<uint32_t>(link->ifindex);
  out.mac = link->mac;
  std::weak_ptr<WorkerPool> weak = pool_;
  LinuxPort* raw = port.get();
  out.start_receive = [weak, port](veb::Bridge* bridge, veb::PortRef ref) {
    if (auto pool = weak.lock()) (void)pool->Attach(port, bridge, ref);
  };
  out.stop_receive = [weak, raw] {
    if (auto pool = weak.lock()) (void)pool->Detach(raw);
  };
  return out;
}

}  // namespace veb::server

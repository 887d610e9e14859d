// How the agent turns an interface name into a dataplane port. The real
// backends (AF_PACKET, TAP, AF_XDP, workers; dataplane/linux/) implement this
// interface; the agent only sees `veb::Port` plus the interface facts the API
// reports. Until they land, vebd uses UnavailablePortOpener (every open is
// FAILED_PRECONDITION) or, for demos and client tests, FakePortOpener
// (--fake_interfaces).
//
// Lifecycle of one port: Open() -> Bridge::AddPort -> start_receive(bridge,
// ref) ... stop_receive() -> Bridge::RemovePort -> last shared_ptr dropped
// (the backend restores the interface, e.g. promiscuous mode off).
//
// Thread-safety: Open() may be called from any thread, serialised by the
// agent (one control operation at a time).
#ifndef VEB_SERVER_PORT_OPENER_H_
#define VEB_SERVER_PORT_OPENER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dataplane/bridge.h"
#include "dataplane/mac_address.h"
#include "dataplane/port.h"

namespace veb::server {

enum class Backend { kDefault, kAfPacket, kTap, kAfXdp };

struct OpenedPort {
  std::shared_ptr<veb::Port> port;  // port->name() == the interface name
  Backend backend = Backend::kAfPacket;  // never kDefault
  uint32_t ifindex = 0;
  Mac mac = 0;
  // Optional. Called once the port is in `bridge` as `ref`: a worker starts
  // passing received batches to bridge->Input(ctx, ref, ...).
  std::function<void(veb::Bridge* bridge, veb::PortRef ref)> start_receive;
  // Optional. Called before the port leaves its bridge; after it returns no
  // worker calls Input for this port.
  std::function<void()> stop_receive;
};

class PortOpener {
 public:
  virtual ~PortOpener() = default;
  // Errors (the agent prefixes `port "<ifname>": add: `):
  //   NOT_FOUND            "no such interface"
  //   FAILED_PRECONDITION  "not an Ethernet interface", "enslaved to \"br0\"",
  //                        "backend AF_XDP not supported: <errno text>"
  //   INVALID_ARGUMENT     backend TAP on an interface that is not a TAP
  virtual absl::StatusOr<OpenedPort> Open(const std::string& ifname,
                                          Backend backend) = 0;
};

// Used until the Linux backends exist: every Open fails.
class UnavailablePortOpener final : public PortOpener {
 public:
  absl::StatusOr<OpenedPort> Open(const std::string& ifname,
                                  Backend backend) override {
    return absl::FailedPreconditionError(
        "no port backend in this build (dataplane/linux not linked yet)");
  }
};

}  // namespace veb::server

#endif  // VEB_SERVER_PORT_OPENER_H_

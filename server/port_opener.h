// How the agent turns an interface name into a dataplane port. The real
// backends (AF_PACKET, TAP, workers; dataplane/linux/, LinuxPortOpener)
// implement this interface, vports included; the agent only sees `veb::Port`
// plus the interface facts the API reports. Tests and demos without root use
// FakePortOpener (--fake_interfaces).
//
// Lifecycle of one port: Open() -> BridgeEngine::AddPort -> handle->Attach(bridge,
// ref) ... handle->Detach() -> Bridge::RemovePort -> last reference dropped
// (the backend restores the interface, e.g. promiscuous mode off).
//
// Thread-safety: Open() may be called from any thread, serialised by the
// agent (one control operation at a time).
#ifndef VEB_SERVER_PORT_OPENER_H_
#define VEB_SERVER_PORT_OPENER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/bridge_engine.h"
#include "dataplane/mac_address.h"
#include "dataplane/port.h"

namespace veb::server {

// kKernel: a port of a kernel bridge (the bridge's BPF program at the
// interface's TC ingress; no worker, no socket).
enum class Backend { kDefault, kAfPacket, kTap, kAfXdp, kKernel };

// What the agent does with an opened port besides forwarding through it:
// one interface per backend (LinuxPortOpener, FakePortOpener).
// Thread-safety: Attach/Detach from the control plane (one at a time);
// SetRunning/SetMtu/Stats from any thread.
class PortHandle {
 public:
  virtual ~PortHandle() = default;
  // The port is in `bridge` as `ref`: from now on a worker passes received
  // batches to bridge->Input(ctx, ref, ...). An error means nothing polls
  // the port: the caller takes it out of the bridge again.
  virtual absl::Status Attach(veb::BridgeEngine* bridge, veb::PortRef ref) = 0;
  // Before the port leaves its bridge; after it returns no worker calls
  // Input for this port. Idempotent.
  virtual void Detach() = 0;
  // Link state (S1) and MTU as the link monitor reports them.
  virtual void SetRunning(bool up) = 0;
  virtual void SetMtu(uint32_t mtu) = 0;
  // The backend's receive losses so far.
  virtual BackendStats Stats() const = 0;
};

struct OpenedPort {
  std::shared_ptr<veb::Port> port;  // port->name() == the interface name
  std::unique_ptr<PortHandle> handle;  // never null for an opened port
  Backend backend = Backend::kAfPacket;  // in use, never kDefault
  Backend requested = Backend::kDefault;  // as asked (kept across restarts)
  // Port.backend_detail: the AF_XDP mode, or why AF_XDP fell back.
  std::string backend_detail;
  uint32_t ifindex = 0;
  Mac mac = 0;
};

// A vport's interfaces, as the agent asks for them (validated names).
// kTunnel: a VXLAN device in the agent's netns (docs/design.md §14).
enum class VportType { kHost, kPodVeth, kPodTap, kTunnel };
// A tunnel vport's device and peers (validated: vni 1..16777215, IP texts).
struct TunnelSpec {
  uint32_t vni = 0;
  std::string local;     // empty = routing chooses
  std::string underlay;  // empty = any
  uint16_t dstport = 4789;
  std::vector<std::string> peers;  // sorted, unique
  // The agent's bookkeeping, not the device's: the subset of `peers` its
  // peer source added (sorted).
  std::vector<std::string> source_peers;
};
struct VportSpec {
  VportType type = VportType::kPodVeth;
  // The port's name: the host TAP, the host end of the veth pair, or (pod
  // TAP, whose interface lives in the pod) just a name.
  std::string name;
  std::string netns;       // pods: the namespace path
  std::string pod_ifname;  // pods: the interface name inside it
  std::optional<Mac> mac;  // stack-side MAC; unset = random
  std::optional<uint32_t> mtu;
  std::vector<std::string> ip_prefixes;  // host only
  TunnelSpec tunnel;                     // tunnel only
};
struct OpenedVport {
  OpenedPort port;
  Mac stack_mac = 0;  // the pod-side (or host TAP) MAC actually set
  uint32_t mtu = 0;
};

class PortOpener {
 public:
  virtual ~PortOpener() = default;
  // Errors (the agent prefixes `port "<ifname>": add: `):
  //   NOT_FOUND            "no such interface"
  //   FAILED_PRECONDITION  "not an Ethernet interface", "enslaved to \"br0\""
  //   (AF_XDP where it cannot work opens AF_PACKET and says why in
  //   backend_detail)
  //   INVALID_ARGUMENT     backend TAP on an interface that is not a TAP
  virtual absl::StatusOr<OpenedPort> Open(const std::string& ifname,
                                          Backend backend) = 0;

  // Creates the vport's interfaces and opens its switch side; on error
  // nothing is left behind. Errors name the vport ("vport \"x\": create: ").
  virtual absl::StatusOr<OpenedVport> CreateVport(const VportSpec& spec,
                                                  Backend backend) = 0;
  // After a restart: opens the existing interfaces of a recorded vport
  // (nothing is created; NOT_FOUND when they are gone) and restores host
  // addresses.
  virtual absl::StatusOr<OpenedVport> ReopenVport(const VportSpec& spec,
                                                  Backend backend) = 0;
  // Destroys the vport's interfaces; the port must be closed already.
  // Interfaces or namespaces already gone are not an error.
  virtual absl::Status DestroyVport(const VportSpec& spec) = 0;
  // A tunnel vport's peers: adds `add`, then removes `del` (forwarding
  // entries of its device). Adding a present or removing an absent peer is
  // not an error. CreateVport and ReopenVport install spec.tunnel.peers.
  virtual absl::Status SetTunnelPeers(const VportSpec& spec,
                                      const std::vector<std::string>& add,
                                      const std::vector<std::string>& del) = 0;
};

}  // namespace veb::server

#endif  // VEB_SERVER_PORT_OPENER_H_

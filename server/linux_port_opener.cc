#include "server/linux_port_opener.h"

#include <unistd.h>

#include <functional>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dataplane/ebpf/kernel_bridge.h"
#include "dataplane/linux/af_packet_port.h"
#include "dataplane/linux/af_xdp_port.h"
#include "dataplane/linux/netlink.h"
#include "dataplane/linux/tap_port.h"
#include "dataplane/linux/vport.h"

namespace veb::server {
namespace {

VxlanParams VxlanOf(const VportSpec& spec) {
  VxlanParams p;
  p.vni = spec.tunnel.vni;
  p.local = spec.tunnel.local;
  p.underlay = spec.tunnel.underlay;
  p.dstport = spec.tunnel.dstport;
  p.mac = spec.mac;
  p.mtu = spec.mtu;
  return p;
}

absl::Status Named(const VportSpec& spec, absl::string_view op, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat("vport \"", spec.name, "\": ", op, ": ",
                                             s.message()));
}

// VETH: AF_PACKET, AF_XDP or the kernel engine; HOST: TAP, or a veth pair
// for the kernel engine; pod TAP: TAP only.
absl::Status CheckBackend(const VportSpec& spec, Backend backend) {
  if (backend == Backend::kKernel) {
    if (spec.type == VportType::kPodTap) {
      return absl::InvalidArgumentError("a TAP pod vport cannot be a kernel bridge's port");
    }
    return absl::OkStatus();
  }
  const bool tap = spec.type == VportType::kHost || spec.type == VportType::kPodTap;
  if (tap && backend != Backend::kDefault && backend != Backend::kTap) {
    return absl::InvalidArgumentError("a TAP vport only has the TAP backend");
  }
  if (!tap && backend == Backend::kTap) {
    return absl::InvalidArgumentError("a veth vport cannot use the TAP backend");
  }
  return absl::OkStatus();
}

// A port of a kernel bridge: the bridge's program at the interface's TC
// ingress forwards, so there is no worker to attach and no socket.
class KernelHandle final : public PortHandle {
 public:
  explicit KernelHandle(std::shared_ptr<ebpf::NetdevPort> port) : port_(std::move(port)) {}
  absl::Status Attach(veb::BridgeEngine* bridge, veb::PortRef) override {
    if (bridge->engine() != Engine::kKernel) {
      return absl::FailedPreconditionError(
          "a tc_bpf port needs a bridge with the kernel engine");
    }
    return absl::OkStatus();
  }
  void Detach() override {}
  void SetRunning(bool up) override { port_->set_running(up); }
  void SetMtu(uint32_t mtu) override { port_->set_mtu(mtu); }
  BackendStats Stats() const override { return {}; }

 private:
  const std::shared_ptr<ebpf::NetdevPort> port_;
};

absl::StatusOr<OpenedPort> OpenKernelPort(const std::string& ifname) {
  absl::StatusOr<LinkFacts> link = GetPortLink(ifname);
  if (!link.ok()) return link.status();
  std::shared_ptr<ebpf::NetdevPort> port = ebpf::NetdevPort::FromLink(*link);
  OpenedPort out;
  out.handle = std::make_unique<KernelHandle>(port);
  out.port = std::move(port);
  out.backend = Backend::kKernel;
  out.requested = Backend::kDefault;
  out.ifindex = static_cast<uint32_t>(link->ifindex);
  out.mac = link->mac;
  return out;
}

}  // namespace

absl::StatusOr<OpenedPort> LinuxPortOpener::Open(const std::string& ifname, Backend backend) {
  if (backend == Backend::kKernel) return OpenKernelPort(ifname);
  if (pool_.expired()) return absl::UnavailableError("the worker pool is not running");
  std::shared_ptr<LinuxPort> port;
  Backend used = backend == Backend::kDefault ? Backend::kAfPacket : backend;
  std::string detail;
  if (used == Backend::kAfXdp) {
    auto p = AfXdpPort::Open(ifname);
    if (p.ok()) {
      detail = AfXdpModeName((*p)->mode());
      port = *std::move(p);
    } else if (p.status().code() == absl::StatusCode::kUnimplemented) {
      // Not on this interface or kernel: AF_PACKET does the same job.
      const absl::string_view why = p.status().message();
      const size_t at = why.find("AF_XDP: ");
      detail = absl::StrCat("AF_XDP unavailable: ",
                            at == absl::string_view::npos ? why : why.substr(at + 8),
                            "; using AF_PACKET");
      used = Backend::kAfPacket;
    } else {
      return p.status();
    }
  }
  if (port == nullptr && used == Backend::kTap) {
    auto p = TapPort::Open(ifname);
    if (!p.ok()) return p.status();
    port = *std::move(p);
  } else if (port == nullptr) {
    auto p = AfPacketPort::Open(ifname);
    if (!p.ok()) return p.status();
    port = *std::move(p);
  }
  OpenedPort out = Wrap(std::move(port), used);
  out.requested = backend;
  out.backend_detail = std::move(detail);
  return out;
}

namespace {

// A Linux port in the shared worker pool. The pool is held weakly: once it
// is gone (stopped at shutdown, before the agent), detaching is a no-op.
class Handle final : public PortHandle {
 public:
  Handle(std::weak_ptr<WorkerPool> pool, std::shared_ptr<LinuxPort> port)
      : pool_(std::move(pool)), port_(std::move(port)) {}
  absl::Status Attach(veb::BridgeEngine* bridge, veb::PortRef ref) override {
    veb::Bridge* userspace = bridge->AsUserspace();
    if (userspace == nullptr) {
      return absl::FailedPreconditionError(
          "a worker-polled port needs a bridge with the userspace engine");
    }
    std::shared_ptr<WorkerPool> pool = pool_.lock();
    if (pool == nullptr) return absl::UnavailableError("the worker pool is not running");
    return pool->Attach(port_, userspace, ref).status();
  }
  void Detach() override {
    if (auto pool = pool_.lock()) (void)pool->Detach(port_.get());
  }
  void SetRunning(bool up) override { port_->set_running(up); }
  void SetMtu(uint32_t mtu) override { port_->set_mtu(mtu); }
  BackendStats Stats() const override { return port_->backend_stats(); }

 private:
  const std::weak_ptr<WorkerPool> pool_;
  const std::shared_ptr<LinuxPort> port_;
};

}  // namespace

OpenedPort LinuxPortOpener::Wrap(std::shared_ptr<LinuxPort> port, Backend backend) {
  OpenedPort out;
  out.port = port;
  out.backend = backend;
  out.ifindex = static_cast<uint32_t>(port->ifindex());
  out.mac = port->mac();
  out.handle = std::make_unique<Handle>(pool_, port);
  return out;
}

absl::StatusOr<OpenedVport> LinuxPortOpener::CreateVport(const VportSpec& spec,
                                                         Backend backend) {
  if (auto s = CheckBackend(spec, backend); !s.ok()) return Named(spec, "create", s);
  const bool kernel = backend == Backend::kKernel;
  if (!kernel && pool_.expired()) return absl::UnavailableError("the worker pool is not running");
  absl::StatusOr<Vport> v = absl::InternalError("unknown vport type");
  switch (spec.type) {
    case VportType::kPodVeth:
      v = CreateVethPodVport(spec.netns, spec.pod_ifname, spec.name, spec.mac, spec.mtu);
      break;
    case VportType::kHost:
      v = kernel ? CreateHostVethVport(spec.name, spec.mac, spec.mtu)
                 : CreateHostTapVport(spec.name, spec.mac, spec.mtu);
      break;
    case VportType::kPodTap:
      v = CreateTapPodVport(spec.netns, spec.pod_ifname, spec.mac, spec.mtu);
      if (!v.ok()) return Named(spec, "create", v.status());
      break;
    case VportType::kTunnel:
      v = CreateVxlanVport(spec.name, VxlanOf(spec));
      break;
  }
  if (!v.ok()) return v.status();  // vport.h named the vport
  OpenedVport out;
  out.stack_mac = v->mac;
  out.mtu = v->mtu;
  absl::StatusOr<OpenedPort> port = Adopt(spec, *v, backend);
  absl::Status s = port.status();
  if (s.ok() && spec.type == VportType::kHost) s = AddHostAddresses(spec, backend);
  if (s.ok() && spec.type == VportType::kTunnel) s = SetVxlanPeers(spec.name, spec.tunnel.peers, {});
  if (!s.ok()) {
    if (port.ok()) port->port.reset();  // closes the TAP fd before deleting
    (void)DestroyVport(spec);
    return Named(spec, "create", s);
  }
  out.port = *std::move(port);
  return out;
}

absl::Status LinuxPortOpener::AddHostAddresses(const VportSpec& spec, Backend backend) {
  if (backend != Backend::kKernel) return AddVportAddresses(spec.name, spec.ip_prefixes);
  absl::StatusOr<std::string> stack = HostVethStackName(spec.name);
  if (!stack.ok()) return stack.status();
  return AddVportAddresses(*stack, spec.ip_prefixes);
}

absl::StatusOr<OpenedPort> LinuxPortOpener::Adopt(const VportSpec& spec, const Vport& v,
                                                  Backend backend) {
  if (spec.type == VportType::kPodVeth || spec.type == VportType::kTunnel ||
      backend == Backend::kKernel) {
    return Open(spec.name, backend);
  }
  auto p = TapPort::Create(spec.name, v.tap_fd, v.ifindex, v.mac, v.mtu);
  if (!p.ok()) {
    if (v.tap_fd >= 0) close(v.tap_fd);
    return p.status();
  }
  return Wrap(*std::move(p), Backend::kTap);
}

namespace {

// A TAP still held by the agent that was killed a moment ago (the kernel
// closes a dead process's files one by one) is retried, not given up: the
// vport would otherwise be lost from the restored configuration.
constexpr absl::Duration kTapHeldRetry = absl::Seconds(5);
absl::StatusOr<int> RetryWhileHeld(const std::function<absl::StatusOr<int>()>& open) {
  const absl::Time deadline = absl::Now() + kTapHeldRetry;
  absl::StatusOr<int> fd = open();
  while (!fd.ok() && fd.status().code() == absl::StatusCode::kUnavailable &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    fd = open();
  }
  return fd;
}

}  // namespace

absl::StatusOr<OpenedVport> LinuxPortOpener::ReopenVport(const VportSpec& spec,
                                                         Backend backend) {
  if (auto s = CheckBackend(spec, backend); !s.ok()) return Named(spec, "reopen", s);
  const bool kernel = backend == Backend::kKernel;
  if (!kernel && pool_.expired()) return absl::UnavailableError("the worker pool is not running");
  auto sock = ConnectRoute();
  if (!sock.ok()) return sock.status();
  Vport v;
  v.mac = spec.mac.value_or(0);
  switch (spec.type) {
    case VportType::kPodVeth: {
      auto link = GetLink(sock->get(), spec.name);
      if (!link.ok()) return Named(spec, "reopen", link.status());
      if (link->kind != "veth") {
        return Named(spec, "reopen", absl::FailedPreconditionError(absl::StrCat(
                                         "interface is a \"", link->kind, "\", not a veth")));
      }
      v.ifindex = link->ifindex;
      v.mtu = link->mtu;
      break;
    }
    case VportType::kHost: {
      auto link = GetLink(sock->get(), spec.name);
      if (!link.ok()) return Named(spec, "reopen", link.status());
      if (kernel) {
        absl::StatusOr<std::string> stack_name = HostVethStackName(spec.name);
        if (!stack_name.ok()) return Named(spec, "reopen", stack_name.status());
        auto stack = GetLink(sock->get(), *stack_name);
        if (!stack.ok()) return Named(spec, "reopen", stack.status());
        if (link->kind != "veth") {
          return Named(spec, "reopen", absl::FailedPreconditionError(absl::StrCat(
                                           "interface is a \"", link->kind, "\", not a veth")));
        }
        v.ifindex = link->ifindex;
        v.mtu = stack->mtu;
        v.mac = stack->mac;
        break;
      }
      auto fd = RetryWhileHeld([&] { return OpenTapFd(spec.name, /*persistent=*/true); });
      if (!fd.ok()) return Named(spec, "reopen", fd.status());
      v.ifindex = link->ifindex;
      v.mtu = link->mtu;
      v.mac = link->mac;
      v.tap_fd = *fd;
      break;
    }
    case VportType::kTunnel: {
      if (auto s = CheckVxlanVport(spec.name, VxlanOf(spec)); !s.ok()) return s;
      if (auto s = SetVxlanPeers(spec.name, spec.tunnel.peers, {}); !s.ok()) return s;
      auto link = GetLink(sock->get(), spec.name);
      if (!link.ok()) return Named(spec, "reopen", link.status());
      v.ifindex = link->ifindex;
      v.mtu = link->mtu;
      v.mac = link->mac;
      break;
    }
    case VportType::kPodTap: {
      auto fd = RetryWhileHeld([&] { return ReopenTapPodVport(spec.netns, spec.pod_ifname); });
      if (!fd.ok()) return Named(spec, "reopen", fd.status());
      v.tap_fd = *fd;
      v.mtu = spec.mtu.value_or(1500);
      break;
    }
  }
  absl::StatusOr<OpenedPort> port = Adopt(spec, v, backend);
  if (!port.ok()) return Named(spec, "reopen", port.status());
  if (spec.type == VportType::kHost) {
    if (auto s = AddHostAddresses(spec, backend); !s.ok()) return Named(spec, "reopen", s);
  }
  OpenedVport out;
  out.port = *std::move(port);
  out.stack_mac = v.mac;
  out.mtu = v.mtu;
  return out;
}

absl::Status LinuxPortOpener::SetTunnelPeers(const VportSpec& spec,
                                             const std::vector<std::string>& add,
                                             const std::vector<std::string>& del) {
  if (spec.type != VportType::kTunnel) {
    return Named(spec, "peers", absl::FailedPreconditionError("not a tunnel vport"));
  }
  return SetVxlanPeers(spec.name, add, del);
}

absl::Status LinuxPortOpener::DestroyVport(const VportSpec& spec) {
  absl::Status s = spec.type == VportType::kPodTap
                       ? DeleteTapPodVport(spec.netns, spec.pod_ifname)
                       : veb::DeleteVport(spec.name);
  if (s.code() == absl::StatusCode::kNotFound) return absl::OkStatus();
  return s;
}

}  // namespace veb::server

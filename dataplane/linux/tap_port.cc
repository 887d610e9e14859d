#include "dataplane/linux/tap_port.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "dataplane/linux/netlink.h"
#include "dataplane/linux/vnet_hdr.h"

namespace veb {
namespace {

// One read can return a 64 KiB GSO frame plus its header.
constexpr uint32_t kMaxRead = kVnetHdrLen + kMaxFrameLen;
constexpr size_t kArenaSize = 512 * 1024;

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

absl::Status TapErr(const std::string& name, const char* what, int err) {
  return absl::InternalError(absl::StrCat("tap \"", name, "\": ", what, ": ",
                                          std::strerror(err)));
}

}  // namespace

absl::StatusOr<int> OpenTapFd(const std::string& name, bool persistent) {
  if (absl::Status s = ValidateIfName(name); !s.ok()) return s;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return TapErr(name, "open /dev/net/tun", errno);
  absl::Cleanup close_fd = [fd] { close(fd); };
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    if (errno == EBUSY) {
      // Another process holds the TAP: e.g. an agent killed a moment ago
      // whose files the kernel is still closing. Worth a retry.
      return absl::UnavailableError(absl::StrCat(
          "tap \"", name, "\": held by another process (", std::strerror(errno), ")"));
    }
    if (errno == EINVAL) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tap \"", name, "\": exists and is not a free TAP (",
          std::strerror(errno), ")"));
    }
    return TapErr(name, "TUNSETIFF", errno);
  }
  int hdr = kVnetHdrLen;
  if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) != 0) return TapErr(name, "TUNSETVNETHDRSZ", errno);
  unsigned offload = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  if (ioctl(fd, TUNSETOFFLOAD, offload | TUN_F_USO4 | TUN_F_USO6) != 0 &&
      ioctl(fd, TUNSETOFFLOAD, offload) != 0) {
    return TapErr(name, "TUNSETOFFLOAD", errno);
  }
  if (persistent && ioctl(fd, TUNSETPERSIST, 1) != 0) {
    return TapErr(name, "TUNSETPERSIST", errno);
  }
  std::move(close_fd).Cancel();
  return fd;
}

TapPort::TapPort(std::string name, int fd, int ifindex, Mac mac, uint32_t mtu)
    : LinuxPort(std::move(name), ifindex, mac, mtu, /*running=*/true),
      fd_(fd),
      arena_(kArenaSize) {}

TapPort::~TapPort() { CloseInBackground(fd_); }

absl::StatusOr<std::shared_ptr<TapPort>> TapPort::Create(std::string name, int fd,
                                                         int ifindex, Mac mac,
                                                         uint32_t mtu) {
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("port \"", name, "\": add: no TAP file descriptor"));
  }
  return std::shared_ptr<TapPort>(new TapPort(std::move(name), fd, ifindex, mac, mtu));
}

absl::StatusOr<std::shared_ptr<TapPort>> TapPort::Open(const std::string& ifname) {
  auto sock = ConnectRoute();
  if (!sock.ok()) return sock.status();
  auto link = GetLink(sock->get(), ifname);
  if (!link.ok()) {
    return absl::Status(link.status().code(),
                        absl::StrCat("port \"", ifname, "\": add: ",
                                     link.status().message()));
  }
  if (link->kind != "tun") {
    return absl::InvalidArgumentError(absl::StrCat(
        "port \"", ifname, "\": add: backend TAP needs a TAP interface, not \"",
        link->kind, "\""));
  }
  auto fd = OpenTapFd(ifname, /*persistent=*/false);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(),
                        absl::StrCat("port \"", ifname, "\": add: ",
                                     fd.status().message()));
  }
  auto port = Create(ifname, *fd, link->ifindex, link->mac, link->mtu);
  if (port.ok()) (*port)->set_running(LinkRunning(*link));
  return port;
}

ReceiveResult TapPort::Receive(uint32_t max, BatchFn fn) {
  if (max > kMaxBatch) max = kMaxBatch;
  RxFrame frames[kMaxBatch];
  uint32_t n = 0;
  size_t used = 0;
  ReceiveResult result = ReceiveResult::kOk;
  while (n < max && arena_.size() - used >= kMaxRead) {
    uint8_t* buf = arena_.data() + used;
    const ssize_t r = read(fd_, buf, kMaxRead);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      rx_errors_.fetch_add(1, std::memory_order_relaxed);
      // EBADFD: the TAP device was deleted under the fd.
      if (errno == EBADFD || errno == EIO) result = ReceiveResult::kDead;
      else result = ReceiveResult::kError;
      break;
    }
    if (static_cast<size_t>(r) < kVnetHdrLen) {
      rx_bad_vnet_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    virtio_net_hdr vh;
    std::memcpy(&vh, buf, sizeof(vh));
    frames[n++] = RxFrame{buf + kVnetHdrLen,
                          static_cast<uint32_t>(r - kVnetHdrLen),
                          OffloadInfo{VnetIsGso(vh), buf}};
    // Keep frames 64-byte aligned in the arena.
    used += (static_cast<size_t>(r) + 63) & ~size_t{63};
  }
  if (n > 0) fn(absl::MakeConstSpan(frames, n));
  return result;
}

ReceiveResult TapPort::OnPollError() {
  uint8_t probe[kVnetHdrLen + 64];
  // A detached tun fd polls EPOLLERR forever; read() says why.
  if (read(fd_, probe, 0) < 0 && (errno == EBADFD || errno == EIO)) {
    return ReceiveResult::kDead;
  }
  rx_errors_.fetch_add(1, std::memory_order_relaxed);
  return ReceiveResult::kError;
}

TxResult TapPort::Transmit(absl::Span<const TxFrame> frames) {
  thread_local std::vector<uint8_t> scratch(kMaxFrameLen + kVlanTagLen);
  TxResult result;
  for (const TxFrame& f : frames) {
    const uint32_t out_len = TxFrameLength(f);
    uint8_t vh[kVnetHdrLen];
    WriteVnetHdr(f, out_len, /*full_linear=*/false, vh);
    iovec iov[2];
    iov[0] = {vh, kVnetHdrLen};
    if (f.op == TagOp::kKeep) {
      iov[1] = {const_cast<uint8_t*>(f.data), f.len};
    } else {
      if (scratch.size() < out_len) scratch.resize(out_len);
      WriteTxFrame(f, scratch.data());
      iov[1] = {scratch.data(), out_len};
    }
    ssize_t w;
    do {
      w = writev(fd_, iov, 2);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
      result.reason = (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                          ? DropReason::kNoBuffer
                          : DropReason::kTxError;
      return result;
    }
    ++result.sent;
  }
  return result;
}

BackendStats TapPort::backend_stats() const {
  BackendStats s;
  s.rx_bad_vnet = rx_bad_vnet_.load(std::memory_order_relaxed);
  s.rx_errors = rx_errors_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace veb

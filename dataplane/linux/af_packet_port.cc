#include "dataplane/linux/af_packet_port.h"

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "dataplane/linux/netlink.h"
#include "dataplane/linux/takeover.h"
#include "dataplane/linux/vnet_hdr.h"

namespace veb {
AfPacketPort::AfPacketPort(std::string name, int ifindex, Mac mac, uint32_t mtu,
                           bool running)
    : LinuxPort(std::move(name), ifindex, mac, mtu, running) {}

AfPacketPort::~AfPacketPort() {
  if (restore_lro_ && fd_ >= 0) EnableLro(fd_, name());
  CloseInBackground(fd_);  // drops the promiscuous membership
}

absl::StatusOr<std::shared_ptr<AfPacketPort>> AfPacketPort::Open(
    const std::string& ifname, const AfPacketOptions& options) {
  if (options.socket_buffer < 65536 || options.socket_buffer > (256u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "port \"", ifname, "\": add: socket buffer must be in 65536..268435456 bytes"));
  }
  auto link = GetPortLink(ifname);
  if (!link.ok()) return link.status();

  // ---- build; the destructor undoes whatever was done if a step fails ----
  std::shared_ptr<AfPacketPort> port(
      new AfPacketPort(ifname, link->ifindex, link->mac, link->mtu, LinkRunning(*link)));
  port->fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (port->fd_ < 0) return PortSysError(ifname, "packet socket", errno);
  const int fd = port->fd_;
  auto setopt = [&](int level, int opt, const void* val, socklen_t len,
                    const char* what) -> absl::Status {
    if (setsockopt(fd, level, opt, val, len) != 0) return PortSysError(ifname, what, errno);
    return absl::OkStatus();
  };
  const int one = 1;
  const int buf = static_cast<int>(options.socket_buffer);
  if (auto s = setopt(SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one), "PACKET_VNET_HDR"); !s.ok()) return s;
  if (auto s = setopt(SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one), "PACKET_AUXDATA"); !s.ok()) return s;
  if (auto s = setopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one), "PACKET_IGNORE_OUTGOING"); !s.ok()) return s;
  // Buffers are kernel memory charged only while frames wait in them; the
  // FORCE variants pass the sysctl caps (the agent has CAP_NET_ADMIN).
  if (auto s = setopt(SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf), "SO_RCVBUFFORCE"); !s.ok()) return s;
  if (auto s = setopt(SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf), "SO_SNDBUFFORCE"); !s.ok()) return s;

  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = link->ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return PortSysError(ifname, "bind", errno);
  }
  if (auto s = SetPromiscuous(fd, link->ifindex, ifname); !s.ok()) return s;
  auto lro = DisableLro(fd, ifname);
  if (!lro.ok()) return lro.status();
  port->restore_lro_ = *lro;
  return port;
}

namespace {

// Per worker thread: receive buffers for one batch (frames are handed to the
// pipeline, which is done with them when Receive returns) and transmit
// scratch. Shared by every port the thread serves, so an idle port costs no
// user memory.
struct RxArena {
  static constexpr uint32_t kSlot = kVlanTagLen + kVnetHdrLen + kMaxFrameLen + 64;
  std::vector<uint8_t> data = std::vector<uint8_t>(static_cast<size_t>(kSlot) * kMaxBatch);
  mmsghdr msgs[kMaxBatch];
  iovec iov[kMaxBatch];
  alignas(cmsghdr) uint8_t control[kMaxBatch][CMSG_SPACE(sizeof(tpacket_auxdata))];
  uint8_t* slot(uint32_t i) { return data.data() + static_cast<size_t>(i) * kSlot; }
};

struct TxScratch {
  static constexpr uint32_t kSlot = kVnetHdrLen + kMaxFrameLen + kVlanTagLen;
  std::vector<uint8_t> data = std::vector<uint8_t>(static_cast<size_t>(kSlot) * kMaxBatch);
  uint8_t vnet[kMaxBatch][kVnetHdrLen];
  mmsghdr msgs[kMaxBatch];
  iovec iov[kMaxBatch][2];
};

}  // namespace

ReceiveResult AfPacketPort::Receive(uint32_t max, BatchFn fn) {
  if (max > kMaxBatch) max = kMaxBatch;
  thread_local RxArena arena;
  for (uint32_t i = 0; i < max; ++i) {
    // Headroom in front for a tag the kernel took out of band.
    arena.iov[i] = iovec{arena.slot(i) + kVlanTagLen, RxArena::kSlot - kVlanTagLen};
    msghdr& h = arena.msgs[i].msg_hdr;
    h = msghdr{};
    h.msg_iov = &arena.iov[i];
    h.msg_iovlen = 1;
    h.msg_control = arena.control[i];
    h.msg_controllen = sizeof(arena.control[i]);
  }
  const int got = recvmmsg(fd_, arena.msgs, max, MSG_DONTWAIT | MSG_TRUNC, nullptr);
  if (got <= 0) {
    if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      rx_errors_.fetch_add(1, std::memory_order_relaxed);
      return ReceiveResult::kError;
    }
    return ReceiveResult::kOk;
  }
  RxFrame frames[kMaxBatch];
  uint32_t n = 0;
  for (int i = 0; i < got; ++i) {
    const msghdr& h = arena.msgs[i].msg_hdr;
    const uint32_t total = arena.msgs[i].msg_len;
    if ((h.msg_flags & MSG_TRUNC) || total < kVnetHdrLen + 14) {
      rx_truncated_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    uint8_t* vnet = arena.slot(i) + kVlanTagLen;
    uint8_t* data = vnet + kVnetHdrLen;
    uint32_t len = total - kVnetHdrLen;
    const tpacket_auxdata* aux = nullptr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
      if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
          c->cmsg_len >= CMSG_LEN(sizeof(tpacket_auxdata))) {
        aux = reinterpret_cast<const tpacket_auxdata*>(CMSG_DATA(c));
      }
    }
    if (aux != nullptr && (aux->tp_status & TP_STATUS_VLAN_VALID)) {
      // Put the tag back in front of the type; the vnet header moves with
      // the MAC addresses into the headroom, its offsets grow by the tag.
      virtio_net_hdr vh;
      std::memcpy(&vh, vnet, sizeof(vh));
      if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) vh.csum_start += kVlanTagLen;
      if (vh.hdr_len != 0) vh.hdr_len += kVlanTagLen;
      const uint16_t tpid =
          (aux->tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux->tp_vlan_tpid : kEtherTypeVlan;
      std::memmove(data - kVlanTagLen, data, 12);
      vnet -= kVlanTagLen;
      std::memcpy(vnet, &vh, sizeof(vh));
      data -= kVlanTagLen;
      len += kVlanTagLen;
      data[12] = static_cast<uint8_t>(tpid >> 8);
      data[13] = static_cast<uint8_t>(tpid);
      data[14] = static_cast<uint8_t>(aux->tp_vlan_tci >> 8);
      data[15] = static_cast<uint8_t>(aux->tp_vlan_tci);
    }
    virtio_net_hdr vh;
    std::memcpy(&vh, vnet, sizeof(vh));
    frames[n++] = RxFrame{data, len, OffloadInfo{VnetIsGso(vh), vnet}};
  }
  if (n > 0) fn(absl::MakeConstSpan(frames, n));
  return ReceiveResult::kOk;
}

ReceiveResult AfPacketPort::OnPollError() {
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);  // reading clears it
  rx_errors_.fetch_add(1, std::memory_order_relaxed);
  // ENETDOWN: the interface went down (it comes back by itself when up) or
  // was unregistered (the link monitor removes the port).
  return ReceiveResult::kError;
}

TxResult AfPacketPort::Transmit(absl::Span<const TxFrame> frames) {
  thread_local TxScratch scratch;
  TxResult result;
  result.reason = DropReason::kNoBuffer;
  size_t done = 0;
  while (done < frames.size()) {
    const uint32_t count =
        static_cast<uint32_t>(std::min<size_t>(frames.size() - done, kMaxBatch));
    for (uint32_t i = 0; i < count; ++i) {
      const TxFrame& f = frames[done + i];
      const uint32_t out_len = TxFrameLength(f);
      WriteVnetHdr(f, out_len, /*full_linear=*/false, scratch.vnet[i]);
      scratch.iov[i][0] = iovec{scratch.vnet[i], kVnetHdrLen};
      if (f.op == TagOp::kKeep) {
        scratch.iov[i][1] = iovec{const_cast<uint8_t*>(f.data), f.len};
      } else {
        uint8_t* out = scratch.data.data() + static_cast<size_t>(i) * TxScratch::kSlot;
        scratch.iov[i][1] = iovec{out, WriteTxFrame(f, out)};
      }
      msghdr& h = scratch.msgs[i].msg_hdr;
      h = msghdr{};
      h.msg_iov = scratch.iov[i];
      h.msg_iovlen = 2;
    }
    const int sent = sendmmsg(fd_, scratch.msgs, count, MSG_DONTWAIT);
    if (sent < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
        result.reason = DropReason::kTxError;
      }
      break;
    }
    // A partial batch: the next call starts at the refused frame and
    // reports why (EAGAIN/ENOBUFS: buffer full; else a transmit error).
    result.sent += static_cast<uint32_t>(sent);
    done += static_cast<size_t>(sent);
  }
  return result;
}

BackendStats AfPacketPort::backend_stats() const {
  tpacket_stats st{};
  socklen_t len = sizeof(st);
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
    rx_kernel_drops_.fetch_add(st.tp_drops, std::memory_order_relaxed);
  }
  BackendStats s;
  s.rx_truncated = rx_truncated_.load(std::memory_order_relaxed);
  s.rx_errors = rx_errors_.load(std::memory_order_relaxed);
  s.rx_kernel_drops = rx_kernel_drops_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace veb

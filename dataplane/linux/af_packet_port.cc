#include "dataplane/linux/af_packet_port.h"

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "dataplane/linux/netlink.h"
#include "dataplane/linux/vnet_hdr.h"

namespace veb {
namespace {

// Where a TX ring frame's data starts (no PACKET_TX_HAS_OFF):
// TPACKET2_HDRLEN - sizeof(sockaddr_ll).
constexpr uint32_t kTxDataOffset = TPACKET_ALIGN(sizeof(tpacket2_hdr));

uint32_t LoadStatus(const void* slot) {
  return __atomic_load_n(&static_cast<const tpacket2_hdr*>(slot)->tp_status,
                         __ATOMIC_ACQUIRE);
}
void StoreStatus(void* slot, uint32_t status) {
  __atomic_store_n(&static_cast<tpacket2_hdr*>(slot)->tp_status, status,
                   __ATOMIC_RELEASE);
}

std::string Errno(int err) { return std::strerror(err); }

absl::Status SockErr(const std::string& name, const char* what, int err) {
  return absl::InternalError(
      absl::StrCat("port \"", name, "\": add: ", what, ": ", Errno(err)));
}

// LRO through the legacy ethtool flags (ETHTOOL_[GS]FLAGS map to the netdev
// feature NETIF_F_LRO). Returns whether LRO was on and is now off.
absl::StatusOr<bool> DisableLro(int fd, const std::string& name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ethtool_value ev{};
  ev.cmd = ETHTOOL_GFLAGS;
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) {
    if (errno == EOPNOTSUPP) return false;  // no ethtool: no LRO either
    return SockErr(name, "ethtool get flags", errno);
  }
  if ((ev.data & ETH_FLAG_LRO) == 0) return false;
  ev.cmd = ETHTOOL_SFLAGS;
  ev.data &= ~ETH_FLAG_LRO;
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) {
    return SockErr(name, "ethtool turn LRO off", errno);
  }
  return true;
}

void EnableLro(int fd, const std::string& name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ethtool_value ev{};
  ev.cmd = ETHTOOL_GFLAGS;
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) return;  // interface gone
  ev.cmd = ETHTOOL_SFLAGS;
  ev.data |= ETH_FLAG_LRO;
  (void)ioctl(fd, SIOCETHTOOL, &ifr);
}

}  // namespace

AfPacketPort::AfPacketPort(std::string name, int ifindex, uint32_t mtu,
                           bool running)
    : LinuxPort(std::move(name), ifindex, mtu, running) {}

AfPacketPort::~AfPacketPort() {
  if (restore_lro_ && fd_ >= 0) EnableLro(fd_, name());
  if (ring_ != nullptr) munmap(ring_, ring_len_);
  if (fd_ >= 0) close(fd_);  // drops the promiscuous membership
}

absl::StatusOr<std::shared_ptr<AfPacketPort>> AfPacketPort::Open(
    const std::string& ifname, const AfPacketOptions& options) {
  // ---- validate ----
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("port \"", ifname, "\": add: ", why));
  };
  if (options.frame_size < 4096 || options.frame_size > (1u << 20) ||
      options.frame_size % 4096 != 0) {
    return bad("ring frame size must be a multiple of 4096 in 4096..1048576");
  }
  if (options.rx_frames < 8 || options.rx_frames > 65536 ||
      options.tx_frames < 8 || options.tx_frames > 65536) {
    return bad("ring frame counts must be in 8..65536");
  }
  auto sock = ConnectRoute();
  if (!sock.ok()) return sock.status();
  auto link = GetLink(sock->get(), ifname);
  if (!link.ok()) {
    return absl::Status(link.status().code(),
                        absl::StrCat("port \"", ifname, "\": add: ",
                                     link.status().message()));
  }
  if (link->arptype != ARPHRD_ETHER) {
    return absl::FailedPreconditionError(absl::StrCat(
        "port \"", ifname, "\": add: interface is not Ethernet (type ",
        link->arptype, ")"));
  }
  if (link->master != 0) {
    std::string master = absl::StrCat("#", link->master);
    if (auto m = GetLinkByIndex(sock->get(), link->master); m.ok()) master = m->name;
    return absl::FailedPreconditionError(absl::StrCat(
        "port \"", ifname, "\": add: enslaved to \"", master, "\""));
  }

  // ---- build; the destructor undoes whatever was done if a step fails ----
  std::shared_ptr<AfPacketPort> port(
      new AfPacketPort(ifname, link->ifindex, link->mtu, LinkRunning(*link)));
  port->fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (port->fd_ < 0) return SockErr(ifname, "packet socket", errno);
  const int fd = port->fd_;
  auto setopt = [&](int opt, const void* val, socklen_t len,
                    const char* what) -> absl::Status {
    if (setsockopt(fd, SOL_PACKET, opt, val, len) != 0) {
      return SockErr(ifname, what, errno);
    }
    return absl::OkStatus();
  };
  const int one = 1;
  const int version = TPACKET_V2;
  if (auto s = setopt(PACKET_VNET_HDR, &one, sizeof(one), "PACKET_VNET_HDR"); !s.ok()) return s;
  if (auto s = setopt(PACKET_VERSION, &version, sizeof(version), "PACKET_VERSION"); !s.ok()) return s;
  if (auto s = setopt(PACKET_IGNORE_OUTGOING, &one, sizeof(one), "PACKET_IGNORE_OUTGOING"); !s.ok()) return s;
  // Malformed TX frames are skipped (slot made available) instead of
  // stopping the ring.
  if (auto s = setopt(PACKET_LOSS, &one, sizeof(one), "PACKET_LOSS"); !s.ok()) return s;

  port->frame_size_ = options.frame_size;
  port->rx_frames_ = options.rx_frames;
  port->tx_frames_ = options.tx_frames;
  tpacket_req rx{};
  rx.tp_block_size = options.frame_size;
  rx.tp_frame_size = options.frame_size;
  rx.tp_block_nr = options.rx_frames;
  rx.tp_frame_nr = options.rx_frames;
  tpacket_req tx = rx;
  tx.tp_block_nr = options.tx_frames;
  tx.tp_frame_nr = options.tx_frames;
  if (auto s = setopt(PACKET_RX_RING, &rx, sizeof(rx), "PACKET_RX_RING"); !s.ok()) return s;
  if (auto s = setopt(PACKET_TX_RING, &tx, sizeof(tx), "PACKET_TX_RING"); !s.ok()) return s;
  const size_t len = static_cast<size_t>(options.rx_frames + options.tx_frames) *
                     options.frame_size;
  void* ring = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) return SockErr(ifname, "mmap rings", errno);
  port->ring_ = static_cast<uint8_t*>(ring);
  port->ring_len_ = len;

  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = link->ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return SockErr(ifname, "bind", errno);
  }
  packet_mreq mr{};
  mr.mr_ifindex = link->ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  if (auto s = setopt(PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr), "promiscuous mode"); !s.ok()) return s;
  auto lro = DisableLro(fd, ifname);
  if (!lro.ok()) return lro.status();
  port->restore_lro_ = *lro;
  return port;
}

ReceiveResult AfPacketPort::Receive(uint32_t max, BatchFn fn) {
  if (max > kMaxBatch) max = kMaxBatch;
  RxFrame frames[kMaxBatch];
  uint32_t n = 0;
  uint32_t used = 0;
  uint32_t idx = rx_head_;
  while (n < max && used < rx_frames_) {
    uint8_t* slot = RxSlot(idx);
    const uint32_t status = LoadStatus(slot);
    if ((status & TP_STATUS_USER) == 0) break;
    ++used;
    idx = idx + 1 == rx_frames_ ? 0 : idx + 1;
    auto* h = reinterpret_cast<tpacket2_hdr*>(slot);
    if (h->tp_snaplen < h->tp_len || h->tp_mac < kVnetHdrLen + kVlanTagLen) {
      rx_truncated_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    uint8_t* data = slot + h->tp_mac;
    uint32_t len = h->tp_snaplen;
    const uint8_t* vnet = data - kVnetHdrLen;
    if ((status & TP_STATUS_VLAN_VALID) && len >= 12) {
      // Put the tag the kernel took out of band back in front of the type.
      virtio_net_hdr& copy = vnet_copy_[n];
      std::memcpy(&copy, vnet, sizeof(copy));
      if (copy.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) copy.csum_start += kVlanTagLen;
      if (copy.hdr_len != 0) copy.hdr_len += kVlanTagLen;
      const uint16_t tpid =
          (status & TP_STATUS_VLAN_TPID_VALID) ? h->tp_vlan_tpid : kEtherTypeVlan;
      std::memmove(data - kVlanTagLen, data, 12);
      data -= kVlanTagLen;
      len += kVlanTagLen;
      data[12] = static_cast<uint8_t>(tpid >> 8);
      data[13] = static_cast<uint8_t>(tpid);
      data[14] = static_cast<uint8_t>(h->tp_vlan_tci >> 8);
      data[15] = static_cast<uint8_t>(h->tp_vlan_tci);
      vnet = reinterpret_cast<const uint8_t*>(&copy);
    }
    virtio_net_hdr vh;
    std::memcpy(&vh, vnet, sizeof(vh));
    frames[n++] = RxFrame{data, len, OffloadInfo{VnetIsGso(vh), vnet}};
  }
  if (n > 0) fn(absl::MakeConstSpan(frames, n));
  for (uint32_t i = 0; i < used; ++i) {
    StoreStatus(RxSlot(rx_head_), TP_STATUS_KERNEL);
    rx_head_ = rx_head_ + 1 == rx_frames_ ? 0 : rx_head_ + 1;
  }
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

void AfPacketPort::Kick() {
  if (sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 &&
      errno != EAGAIN && errno != EWOULDBLOCK) {
    tx_kick_errors_.fetch_add(1, std::memory_order_relaxed);
  }
}

TxResult AfPacketPort::Transmit(absl::Span<const TxFrame> frames) {
  TxResult result;
  result.reason = DropReason::kNoBuffer;
  const uint32_t max_len = frame_size_ - kTxDataOffset - kVnetHdrLen;
  absl::MutexLock lock(&tx_mu_);
  bool kicked = false;
  for (const TxFrame& f : frames) {
    const uint32_t out_len = TxFrameLength(f);
    if (out_len > max_len) {
      tx_too_big_.fetch_add(1, std::memory_order_relaxed);
      result.reason = DropReason::kTxError;
      break;
    }
    uint8_t* slot = TxSlot(tx_head_);
    uint32_t status = LoadStatus(slot);
    if (status != TP_STATUS_AVAILABLE && status != TP_STATUS_WRONG_FORMAT &&
        !kicked) {
      // Let the kernel send what is queued, then look again.
      Kick();
      kicked = true;
      status = LoadStatus(slot);
    }
    if (status != TP_STATUS_AVAILABLE && status != TP_STATUS_WRONG_FORMAT) {
      result.reason = DropReason::kNoBuffer;
      break;
    }
    uint8_t* p = slot + kTxDataOffset;
    WriteVnetHdr(f, out_len, /*full_linear=*/true, p);
    WriteTxFrame(f, p + kVnetHdrLen);
    reinterpret_cast<tpacket2_hdr*>(slot)->tp_len = out_len + kVnetHdrLen;
    StoreStatus(slot, TP_STATUS_SEND_REQUEST);
    tx_head_ = tx_head_ + 1 == tx_frames_ ? 0 : tx_head_ + 1;
    ++result.sent;
  }
  if (result.sent > 0) Kick();
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

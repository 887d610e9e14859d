// AF_PACKET backend: takes over an existing Ethernet interface (veth host end,
// NIC, vxlan, ...) with one SOCK_RAW packet socket bound to its ifindex.
//
// Design:
// - TPACKET_V2 mmap rings for RX and TX (V3 hands frames over per block or
//   after a >= 1 ms timer: a latency floor; DESIGN §4). One ring frame per
//   64 KiB block by default, so a GSO super-frame fits (RX snap length 65460
//   bytes; TX frames up to 65494 bytes).
// - PACKET_VNET_HDR: every frame carries a 10-byte virtio_net_hdr, so GSO/TSO
//   super-frames and partial checksums cross the switch untouched; the header
//   is handed to the pipeline as OffloadInfo::vnet_hdr and written back on
//   transmit (adjusted when a tag is pushed/stripped). Egress devices without
//   TSO/checksum offload get the frame segmented/checksummed by the kernel's
//   transmit path (validate_xmit_skb), so no software segmentation is needed
//   in the switch for this backend.
// - A VLAN tag the kernel moved out of band (TP_STATUS_VLAN_VALID) is put
//   back into the frame before the pipeline sees it (S3 parses tags in-band).
// - PACKET_IGNORE_OUTGOING: the switch never re-receives its own transmits.
// - Promiscuous mode through PACKET_MR_PROMISC membership (dropped by the
//   kernel when the socket closes); LRO turned off with SIOCETHTOOL and turned
//   back on by the destructor if it was on.
// - Transmit copies each frame into the TX ring (WriteTxFrame) and kicks once
//   with sendto(MSG_DONTWAIT). The vnet header's hdr_len is set to the whole
//   frame, so the kernel copies the frame out of the ring instead of
//   referencing ring pages (a ring slot is released when the skb is orphaned,
//   which on veth happens in the receiver's ip_rcv, before its data is read).
//   Ring full -> the rest of the batch is DropReason::kNoBuffer; a frame
//   larger than a ring frame -> kTxError (counted in backend tx_too_big).
//
// Thread-safety: see LinuxPort. Transmit() serialises on a per-port mutex
// (several workers may flush to the same egress port).
#ifndef VEB_DATAPLANE_LINUX_AF_PACKET_PORT_H_
#define VEB_DATAPLANE_LINUX_AF_PACKET_PORT_H_


#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/linux/linux_port.h"
#include "dataplane/linux/vnet_hdr.h"

namespace veb {

struct AfPacketOptions {
  // Ring frame size: a multiple of 4096, 4096..1 MiB. 65536 fits GSO frames;
  // smaller values save memory on ports that never see them.
  uint32_t frame_size = 65536;
  uint32_t rx_frames = 128;  // 8..65536
  uint32_t tx_frames = 64;   // 8..65536
};

class AfPacketPort final : public LinuxPort {
 public:
  // Errors name the interface: NOT_FOUND "no such interface",
  // FAILED_PRECONDITION "not an Ethernet interface" / "enslaved to #N",
  // INVALID_ARGUMENT for bad options, INTERNAL/UNAVAILABLE for socket errors.
  static absl::StatusOr<std::shared_ptr<AfPacketPort>> Open(
      const std::string& ifname, const AfPacketOptions& options = {});
  ~AfPacketPort() override;
  AfPacketPort(const AfPacketPort&) = delete;
  AfPacketPort& operator=(const AfPacketPort&) = delete;

  TxResult Transmit(absl::Span<const TxFrame> frames) override;
  int fd() const override { return fd_; }
  ReceiveResult Receive(uint32_t max, BatchFn fn) override;
  ReceiveResult OnPollError() override;
  BackendStats backend_stats() const override;

  uint64_t tx_too_big() const { return tx_too_big_.load(std::memory_order_relaxed); }
  uint64_t tx_kick_errors() const { return tx_kick_errors_.load(std::memory_order_relaxed); }

 private:
  AfPacketPort(std::string name, int ifindex, uint32_t mtu, bool running);
  uint8_t* RxSlot(uint32_t i) const { return ring_ + static_cast<size_t>(i) * frame_size_; }
  uint8_t* TxSlot(uint32_t i) const {
    return ring_ + static_cast<size_t>(rx_frames_ + i) * frame_size_;
  }
  void Kick() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tx_mu_);

  int fd_ = -1;
  uint8_t* ring_ = nullptr;
  size_t ring_len_ = 0;
  uint32_t frame_size_ = 0;
  uint32_t rx_frames_ = 0;
  uint32_t tx_frames_ = 0;
  bool restore_lro_ = false;

  // Receive side: owned by the polling worker.
  uint32_t rx_head_ = 0;
  virtio_net_hdr vnet_copy_[kMaxBatch];  // headers of re-tagged frames

  absl::Mutex tx_mu_;
  uint32_t tx_head_ ABSL_GUARDED_BY(tx_mu_) = 0;

  std::atomic<uint64_t> rx_truncated_{0};
  std::atomic<uint64_t> rx_errors_{0};
  mutable std::atomic<uint64_t> rx_kernel_drops_{0};
  std::atomic<uint64_t> tx_too_big_{0};
  std::atomic<uint64_t> tx_kick_errors_{0};
};

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_AF_PACKET_PORT_H_

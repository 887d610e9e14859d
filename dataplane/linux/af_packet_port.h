// AF_PACKET backend: takes over an existing Ethernet interface (veth host end,
// NIC, vxlan, ...) with one SOCK_RAW packet socket bound to its ifindex.
//
// Design:
// - No mmap rings: recvmmsg/sendmmsg on the socket, a batch per system call,
//   into buffers owned by the worker thread (shared by all its ports). An
//   idle port costs a socket and nothing in user memory, so 1,000 ports fit
//   in a small RSS, and opening a port allocates nothing (TPACKET rings cost
//   30 ms and 12 MiB per port for 64 KiB GSO frames). The kernel copies each
//   frame once either way.
// - PACKET_VNET_HDR: every frame carries a 10-byte virtio_net_hdr, so GSO/TSO
//   super-frames and partial checksums cross the switch untouched; the header
//   is handed to the pipeline as OffloadInfo::vnet_hdr and written back on
//   transmit (adjusted when a tag is pushed/stripped). Egress devices without
//   TSO/checksum offload get the frame segmented/checksummed by the kernel's
//   transmit path (validate_xmit_skb), so no software segmentation is needed
//   in the switch for this backend.
// - A VLAN tag the kernel moved out of band (PACKET_AUXDATA,
//   TP_STATUS_VLAN_VALID) is put back into the frame before the pipeline
//   sees it (S3 parses tags in-band).
// - PACKET_IGNORE_OUTGOING: the switch never re-receives its own transmits.
// - Promiscuous mode through PACKET_MR_PROMISC membership (dropped by the
//   kernel when the socket closes); LRO turned off with SIOCETHTOOL and turned
//   back on by the destructor if it was on.
// - Transmit: frames without a tag change go out straight from the receive
//   buffer (iovec: vnet header + frame); others are materialised by
//   WriteTxFrame into per-thread scratch. A full socket buffer -> the rest of
//   the batch is DropReason::kNoBuffer; a refused frame -> kTxError.
//
// Thread-safety: see LinuxPort. Transmit() may run in several workers at
// once (each sendmmsg is one system call; scratch is per thread).
#ifndef VEB_DATAPLANE_LINUX_AF_PACKET_PORT_H_
#define VEB_DATAPLANE_LINUX_AF_PACKET_PORT_H_


#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dataplane/linux/linux_port.h"
#include "dataplane/linux/vnet_hdr.h"

namespace veb {

struct AfPacketOptions {
  // SO_RCVBUF/SO_SNDBUF, 64 KiB..256 MiB: room for bursts (kernel memory,
  // used only while frames wait).
  uint32_t socket_buffer = 4u << 20;
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

 private:
  AfPacketPort(std::string name, int ifindex, Mac mac, uint32_t mtu, bool running);

  int fd_ = -1;
  bool restore_lro_ = false;
  std::atomic<uint64_t> rx_truncated_{0};
  std::atomic<uint64_t> rx_errors_{0};
  mutable std::atomic<uint64_t> rx_kernel_drops_{0};
};

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_AF_PACKET_PORT_H_

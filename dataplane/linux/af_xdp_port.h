// AF_XDP backend: takes over an Ethernet interface with one XDP socket per
// receive queue, sharing one UMEM (sockets and rings through libxdp). The
// port loads its own six-instruction redirect program and attaches it with a
// BPF link it owns, so the program goes away with the port -- also when the
// agent is killed -- and nothing needs a bpffs (docs/design.md).
//
// Design:
// - One UMEM per port in 4 KiB frames: kRxFrames per receive queue (always
//   posted to that queue's fill ring) and kTxFrames for transmitting on queue
//   0's socket (a free list refilled from its completion ring). Frames are
//   handed to the pipeline straight from the UMEM; Receive returns them to
//   the fill ring after the batch. With several queues fd() is an epoll set
//   of the queue sockets and Receive takes from each in turn.
// - Native XDP first, generic (skb) XDP when the driver has none; zero-copy
//   when the driver offers it, copy mode otherwise (veth: native, copy).
//   mode() says which. (A device that has native XDP but no ndo_xdp_xmit
//   for zero-copy, like veth, binds in copy mode automatically.)
// - No offload metadata crosses an XDP socket. Received frames are wire
//   frames, except that veth passes a sender's partial TCP/UDP checksum
//   through XDP as it is: Receive completes those (CompletePartialChecksum);
//   frames arriving from a vnet-header backend (GSO super-frames,
//   partial checksums) are segmented/checksummed in software (soft_offload.h)
//   on transmit. With XDP attached, veth stops offering its peer GSO, so the
//   pod behind an AF_XDP port sends MTU-sized frames.
// - Limits, checked at Open (the caller falls back to AF_PACKET): at most
//   kMaxQueues receive queues, MTU <= kMaxMtu (a frame fits one 4 KiB UMEM
//   frame after the XDP headroom; veth refuses XDP above ~3.5 KB anyway).
// - Transmit: copy into TX frames, one submit, then sendto() kicks until the
//   kernel has taken the ring (copy mode sends at most 32 frames per kick).
//   No free TX frame or ring slot -> the rest is kNoBuffer.
// - Promiscuous mode through a packet socket membership and LRO off, as
//   AF_PACKET (takeover.h); the XDP program is detached on close.
//
// Thread-safety: see LinuxPort. Transmit() serialises on a mutex (one TX
// ring per port).
#ifndef VEB_DATAPLANE_LINUX_AF_XDP_PORT_H_
#define VEB_DATAPLANE_LINUX_AF_XDP_PORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/linux/linux_port.h"

struct xsk_umem;
struct xsk_socket;

namespace veb {

class AfXdpPort final : public LinuxPort {
 public:
  static constexpr uint32_t kFrameSize = 4096;
  static constexpr uint32_t kRxFrames = 512;   // per queue: its fill/RX ring size
  static constexpr uint32_t kTxFrames = 1024;  // TX/completion ring size
  static constexpr uint32_t kMaxQueues = 16;
  static constexpr uint32_t kHeadroom = 256;  // XDP_PACKET_HEADROOM (copy mode)
  static constexpr uint32_t kMaxMtu = kFrameSize - kHeadroom - 18;

  enum class Mode { kNativeCopy, kNativeZeroCopy, kGenericCopy };

  // Errors name the interface (`port "eth1": add: ...`): NOT_FOUND,
  // FAILED_PRECONDITION "not Ethernet" / "enslaved to" (as AF_PACKET),
  // UNIMPLEMENTED when AF_XDP cannot be used on this interface or kernel
  // ("AF_XDP: <reason>"), INTERNAL for other system errors. Nothing is left
  // attached on error.
  static absl::StatusOr<std::shared_ptr<AfXdpPort>> Open(const std::string& ifname);
  ~AfXdpPort() override;
  AfXdpPort(const AfXdpPort&) = delete;
  AfXdpPort& operator=(const AfXdpPort&) = delete;

  TxResult Transmit(absl::Span<const TxFrame> frames) override;
  int fd() const override { return fd_; }
  ReceiveResult Receive(uint32_t max, BatchFn fn) override;
  ReceiveResult OnPollError() override;
  BackendStats backend_stats() const override;
  Mode mode() const { return mode_; }

 private:
  // One queue's socket and libxdp ring state.
  struct Queue;

  AfXdpPort(std::string name, int ifindex, Mac mac, uint32_t mtu, bool running);
  // Moves completed TX frames back to the free list.
  void ReclaimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tx_mu_);
  // Kicks the kernel until it took every submitted descriptor (or refuses:
  // link down; the frames then wait in the ring).
  void KickLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tx_mu_);

  uint8_t* area_ = nullptr;
  size_t area_size_ = 0;
  xsk_umem* umem_ = nullptr;
  std::vector<std::unique_ptr<Queue>> queues_;  // [0] also transmits
  uint32_t next_queue_ = 0;  // Receive's round-robin start
  int fd_ = -1;     // queue 0's socket, or the epoll set of all
  int epfd_ = -1;
  int map_fd_ = -1;   // XSKMAP: queue -> socket
  int link_fd_ = -1;  // BPF link attaching the program
  int promisc_fd_ = -1;
  bool restore_lro_ = false;
  Mode mode_ = Mode::kNativeCopy;
  absl::Mutex tx_mu_;
  std::vector<uint64_t> tx_free_ ABSL_GUARDED_BY(tx_mu_);
  std::atomic<uint64_t> rx_errors_{0};
};

const char* AfXdpModeName(AfXdpPort::Mode mode);

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_AF_XDP_PORT_H_

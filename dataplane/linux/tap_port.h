// TAP backend: a tun/tap file descriptor held by the switch
// (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, non-blocking). Each read/write carries
// a 10-byte virtio_net_hdr (TUNSETVNETHDRSZ 10, the same header as the
// AF_PACKET backend), and TUNSETOFFLOAD accepts checksum offload, TSO and
// USO, so the stack behind the TAP hands the switch GSO super-frames and
// partial checksums, which pass through to the egress port unchanged.
//
// Receive() reads frames into one arena (up to a batch, stopping at EAGAIN)
// and hands them over; Transmit() writes each frame with writev (vnet header +
// frame, or the frame materialised by WriteTxFrame when its tag changes).
// A write error stops the batch: EAGAIN/ENOBUFS -> kNoBuffer, other errors
// (e.g. a rejected vnet header) -> kTxError. A frame longer than
// kMaxFrameLen cannot reach Transmit (the pipeline drops it as too_big).
//
// Thread-safety: see LinuxPort. Transmit() is safe from several workers at
// once (each write is one syscall; scratch buffers are per thread).
#ifndef VEB_DATAPLANE_LINUX_TAP_PORT_H_
#define VEB_DATAPLANE_LINUX_TAP_PORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/linux/linux_port.h"

namespace veb {

// Opens /dev/net/tun and creates or attaches TAP `name` in the calling
// thread's network namespace, configured as above (non-blocking, vnet header,
// offloads). `persistent`: the device outlives the fd (TUNSETPERSIST).
// Returns the fd; the caller owns it. UNAVAILABLE when another process holds
// the TAP (EBUSY: retrying may succeed once it lets go), FAILED_PRECONDITION
// when `name` is another kind of interface.
absl::StatusOr<int> OpenTapFd(const std::string& name, bool persistent);

class TapPort final : public LinuxPort {
 public:
  // Takes ownership of `fd` (from OpenTapFd, possibly opened in another
  // namespace). `name` is the port's name; `ifindex` is 0 when the TAP lives
  // in another namespace; `mac` is the TAP's MAC. The port starts running.
  static absl::StatusOr<std::shared_ptr<TapPort>> Create(std::string name, int fd,
                                                         int ifindex, Mac mac,
                                                         uint32_t mtu);
  // Attaches to the existing TAP interface `ifname` in this namespace.
  static absl::StatusOr<std::shared_ptr<TapPort>> Open(const std::string& ifname);
  ~TapPort() override;
  TapPort(const TapPort&) = delete;
  TapPort& operator=(const TapPort&) = delete;

  TxResult Transmit(absl::Span<const TxFrame> frames) override;
  int fd() const override { return fd_; }
  ReceiveResult Receive(uint32_t max, BatchFn fn) override;
  ReceiveResult OnPollError() override;
  BackendStats backend_stats() const override;

 private:
  TapPort(std::string name, int fd, int ifindex, Mac mac, uint32_t mtu);

  const int fd_;
  std::vector<uint8_t> arena_;  // receive buffer, owned by the polling worker
  std::atomic<uint64_t> rx_bad_vnet_{0};
  std::atomic<uint64_t> rx_errors_{0};
};

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_TAP_PORT_H_

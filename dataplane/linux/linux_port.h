// A Port backed by a Linux file descriptor that a worker polls: the common
// interface of the AF_PACKET and TAP backends. A worker waits for EPOLLIN on
// fd() and calls Receive(), which hands at most `max` frames (a batch) to a
// callback as RxFrames that stay valid until the callback returns (the worker
// passes them to Bridge::Input, which transmits everything before returning);
// then the backend reuses the buffers.
//
// Link state (S1) and MTU are cached atomics: the link monitor updates them
// (set_running/set_mtu) from RTM_NEWLINK; the backend reads the initial
// values when it opens the interface.
//
// Thread-safety: Receive() is called by one thread at a time (the worker the
// port is attached to). Transmit() may be called by several workers at once
// (each forwards its own ports' input), so backends serialise it internally.
// running()/mtu()/set_*() and the stats are safe from any thread.
#ifndef VEB_DATAPLANE_LINUX_LINUX_PORT_H_
#define VEB_DATAPLANE_LINUX_LINUX_PORT_H_

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "dataplane/frame.h"
#include "dataplane/mac_address.h"
#include "dataplane/port.h"

namespace veb {

// Closing a packet socket or a TAP fd waits for an RCU grace period in the
// kernel (synchronize_net, ~30 ms here); a port's owner should not wait for
// it (a CNI DEL would). The fd is closed on a short-lived thread instead.
inline void CloseInBackground(int fd) {
  if (fd < 0) return;
  std::thread([fd] { close(fd); }).detach();
}

// Largest batch a worker hands to Bridge::Input.
inline constexpr uint32_t kMaxBatch = 64;

enum class ReceiveResult {
  kOk,     // zero or more frames were handed over
  kError,  // the fd reported an error (cleared); the port stays usable
  kDead,   // the interface is gone: stop polling this fd
};

class LinuxPort : public Port {
 public:
  using BatchFn = absl::FunctionRef<void(absl::Span<const RxFrame>)>;

  LinuxPort(std::string name, int ifindex, Mac mac, uint32_t mtu, bool running)
      : name_(std::move(name)), ifindex_(ifindex), mac_(mac), mtu_(mtu), running_(running) {}

  const std::string& name() const override { return name_; }
  bool running() const override { return running_.load(std::memory_order_relaxed); }
  uint32_t mtu() const override { return mtu_.load(std::memory_order_relaxed); }
  int ifindex() const { return ifindex_; }
  // The interface's MAC as the backend found it when opening (for the API).
  Mac mac() const { return mac_; }

  void set_running(bool up) { running_.store(up, std::memory_order_relaxed); }
  void set_mtu(uint32_t mtu) { mtu_.store(mtu, std::memory_order_relaxed); }

  // The descriptor to wait on for EPOLLIN.
  virtual int fd() const = 0;
  // Hands up to `max` (1..kMaxBatch) received frames to `fn` in one call (not
  // called when none are ready).
  virtual ReceiveResult Receive(uint32_t max, BatchFn fn) = 0;
  // Called when epoll reports EPOLLERR/EPOLLHUP on fd(): clears the error;
  // kDead when the interface is gone for good.
  virtual ReceiveResult OnPollError() = 0;
  virtual BackendStats backend_stats() const = 0;

 private:
  const std::string name_;
  const int ifindex_;
  const Mac mac_;
  std::atomic<uint32_t> mtu_;
  std::atomic<bool> running_;
};

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_LINUX_PORT_H_

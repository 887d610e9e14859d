// The switch's view of an interface it owns: something frames can be sent to.
// Receiving is driven by the backend (a worker polls the backend and hands
// batches to Bridge::Input), so the pipeline only needs transmit, link state
// (S1) and MTU. Backends: AF_PACKET, TAP, AF_XDP (dataplane/linux/) and the
// in-memory FakePort used by tests and benchmarks.
//
// Thread-safety: Transmit is called by one worker at a time per port (the
// worker that owns the batch); running()/mtu() may be read from any thread.
#ifndef VEB_DATAPLANE_PORT_H_
#define VEB_DATAPLANE_PORT_H_

#include <cstdint>
#include <string>

#include "absl/types/span.h"
#include "dataplane/drop_reason.h"
#include "dataplane/frame.h"

namespace veb {

// Frames a backend dropped before the bridge saw them (not in S11's sums: the
// bridge never received them); the API's PortCounters.backend_receive_drops.
struct BackendStats {
  uint64_t rx_truncated = 0;     // larger than the RX buffer
  uint64_t rx_bad_vnet = 0;      // unusable virtio_net_hdr
  uint64_t rx_kernel_drops = 0;  // the kernel's queue/ring toward the switch was full
  uint64_t rx_errors = 0;
};

struct TxResult {
  // frames[0, sent) left the port; the rest were dropped for `reason`.
  uint32_t sent = 0;
  DropReason reason = DropReason::kTxError;  // kTxError or kNoBuffer
};

class Port {
 public:
  virtual ~Port() = default;
  virtual const std::string& name() const = 0;
  // Link up and able to transmit (S1).
  virtual bool running() const = 0;
  // Largest payload after the Ethernet header (and any 802.1Q tag), e.g. 1500.
  virtual uint32_t mtu() const = 0;
  // Sends in order; stops at the first failure.
  virtual TxResult Transmit(absl::Span<const TxFrame> frames) = 0;
};

}  // namespace veb

#endif  // VEB_DATAPLANE_PORT_H_

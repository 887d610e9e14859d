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

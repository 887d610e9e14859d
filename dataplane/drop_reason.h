// The named reasons a frame (on input) or a copy of it (on output) is not sent
// (DESIGN S11), and the reasons an address is not learned. Names are the metric
// label values and API strings. Thread-safety: pure.
#ifndef VEB_DATAPLANE_DROP_REASON_H_
#define VEB_DATAPLANE_DROP_REASON_H_

#include <cstddef>
#include <cstdint>

namespace veb {

enum class DropReason : uint8_t {
  kLinkDown,
  kUntagged,
  kTaggedIn,
  kTaggedOut,
  kDoubleTagged,
  kSvlan,
  kBlockNonIpIn,
  kBlockNonIpOut,
  kLocked,
  kRulesIn,
  kRulesOut,
  kHairpin,
  kProtected,
  kReservedAddress,
  kRunt,
  kTooBig,
  kTxError,
  kNoBuffer,
};
inline constexpr size_t kNumDropReasons = 18;

// "link_down", "untagged", ... as listed in DESIGN S11.
const char* DropReasonName(DropReason reason);

enum class LearnRefusal : uint8_t {
  kTableFull,  // max_addresses reached (S7)
  kStatic,     // the MAC is pinned by a static entry on another port
};
inline constexpr size_t kNumLearnRefusals = 2;
const char* LearnRefusalName(LearnRefusal reason);

}  // namespace veb

#endif  // VEB_DATAPLANE_DROP_REASON_H_

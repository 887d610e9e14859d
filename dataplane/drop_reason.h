// The named reasons a frame (on input) or a copy of it (on output) is not sent
// (S11, docs/design.md), and the reasons an address is not learned (S7).
//
// Each list is declared once, as an X-macro in drop_reason_list.h (plain
// preprocessor, also expanded by the kernel engine's BPF C): the enum, the count, the
// names (metric label values and API strings: the proto value name without its
// prefix, lowercase) and the iteration order all come from it, so adding a
// reason is one line. The order is the proto enum's order (proto value =
// dataplane value + 1); the server checks that at compile time.
//
// Thread-safety: pure.
#ifndef VEB_DATAPLANE_DROP_REASON_H_
#define VEB_DATAPLANE_DROP_REASON_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "dataplane/drop_reason_list.h"

namespace veb {

#define VEB_REASON_ENUMERATOR_(e, name, proto) e,
#define VEB_REASON_ONE_(e, name, proto) +1
#define VEB_REASON_NAME_(e, name, proto) name,

enum class DropReason : uint8_t { VEB_DROP_REASONS(VEB_REASON_ENUMERATOR_) };
inline constexpr size_t kNumDropReasons = 0 VEB_DROP_REASONS(VEB_REASON_ONE_);
inline constexpr std::array<const char*, kNumDropReasons> kDropReasonNames = {
    VEB_DROP_REASONS(VEB_REASON_NAME_)};

enum class LearnRefusal : uint8_t { VEB_LEARN_REFUSALS(VEB_REASON_ENUMERATOR_) };
inline constexpr size_t kNumLearnRefusals = 0 VEB_LEARN_REFUSALS(VEB_REASON_ONE_);
inline constexpr std::array<const char*, kNumLearnRefusals> kLearnRefusalNames = {
    VEB_LEARN_REFUSALS(VEB_REASON_NAME_)};

#undef VEB_REASON_ENUMERATOR_
#undef VEB_REASON_ONE_
#undef VEB_REASON_NAME_

// Every reason, in enum order: `for (DropReason r : kAllDropReasons)`.
inline constexpr std::array<DropReason, kNumDropReasons> kAllDropReasons = [] {
  std::array<DropReason, kNumDropReasons> all{};
  for (size_t i = 0; i < kNumDropReasons; ++i) all[i] = static_cast<DropReason>(i);
  return all;
}();
inline constexpr std::array<LearnRefusal, kNumLearnRefusals> kAllLearnRefusals = [] {
  std::array<LearnRefusal, kNumLearnRefusals> all{};
  for (size_t i = 0; i < kNumLearnRefusals; ++i) all[i] = static_cast<LearnRefusal>(i);
  return all;
}();

// "link_down", "untagged", ...; "unknown" for a value outside the list.
constexpr const char* DropReasonName(DropReason reason) {
  const size_t i = static_cast<size_t>(reason);
  return i < kNumDropReasons ? kDropReasonNames[i] : "unknown";
}
// "table_full", "static_entry", ...; "unknown" outside the list.
constexpr const char* LearnRefusalName(LearnRefusal reason) {
  const size_t i = static_cast<size_t>(reason);
  return i < kNumLearnRefusals ? kLearnRefusalNames[i] : "unknown";
}

}  // namespace veb

#endif  // VEB_DATAPLANE_DROP_REASON_H_

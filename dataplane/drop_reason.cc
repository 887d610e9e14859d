#include "dataplane/drop_reason.h"

namespace veb {

// The lists are header-only (constexpr); these checks pin the values the
// proto enums mirror (proto value = dataplane value + 1).
static_assert(kNumDropReasons == 18);
static_assert(static_cast<size_t>(DropReason::kNoBuffer) == 17);
static_assert(kNumLearnRefusals == 4);
static_assert(static_cast<size_t>(LearnRefusal::kInvalidSource) == 2);
static_assert(static_cast<size_t>(LearnRefusal::kPortFull) == 3);

}  // namespace veb

#include "dataplane/drop_reason.h"

namespace veb {

const char* DropReasonName(DropReason reason) {
  static const char* const kNames[kNumDropReasons] = {
      "link_down",     "untagged",      "tagged_in",        "tagged_out",
      "double_tagged", "svlan",         "blocknonip_in",    "blocknonip_out",
      "locked",        "rules_in",      "rules_out",        "hairpin",
      "protected",     "reserved_address", "runt",          "too_big",
      "tx_error",      "no_buffer"};
  const size_t i = static_cast<size_t>(reason);
  return i < kNumDropReasons ? kNames[i] : "unknown";
}

const char* LearnRefusalName(LearnRefusal reason) {
  switch (reason) {
    case LearnRefusal::kTableFull:
      return "table_full";
    case LearnRefusal::kStatic:
      return "static";
  }
  return "unknown";
}

}  // namespace veb

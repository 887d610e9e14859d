// How many dataplane workers vebd runs (--workers). 0 asks for one per CPU,
// capped at the dataplane's limit: a host with more CPUs than kMaxWorkers
// runs kMaxWorkers workers rather than refusing to start (the chart's
// default is 0). An explicit count outside 1..kMaxWorkers is an error.
//
// Thread-safety: pure.
#ifndef VEB_SERVER_WORKERS_H_
#define VEB_SERVER_WORKERS_H_

#include <algorithm>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "dataplane/bridge.h"

namespace veb::server {

inline absl::StatusOr<int> ResolveWorkerCount(int flag, unsigned cpus) {
  if (flag == 0) {
    // hardware_concurrency() may report 0 when it cannot tell.
    return static_cast<int>(std::clamp<unsigned>(cpus, 1, kMaxWorkers));
  }
  if (flag < 1 || flag > kMaxWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat("--workers ", flag, " out of range 1..", kMaxWorkers,
                     " (0 = one per CPU)"));
  }
  return flag;
}

}  // namespace veb::server

#endif  // VEB_SERVER_WORKERS_H_

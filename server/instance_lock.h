// One vebd per state file and per socket (docs/design.md §6): vebd holds an
// exclusive flock(2) on "<path>.lock" for each, taken before it touches the
// socket, the state or any interface, and records its PID there. The kernel
// drops the lock when the process dies, so a vebd killed with -9 can be
// restarted at once (a holder that is dying -- exiting, SIGKILL pending,
// zombie, gone -- is waited for, up to kDyingHolderWait, as the kernel closes
// its files);
// a second vebd started while one runs exits at once naming the holder's PID
// instead of stealing the socket and the interfaces.
//
// Thread-safety: an InstanceLock is owned by main() and not shared.
#ifndef VEB_SERVER_INSTANCE_LOCK_H_
#define VEB_SERVER_INSTANCE_LOCK_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace veb::server {

inline constexpr absl::Duration kDyingHolderWait = absl::Seconds(10);

class InstanceLock {
 public:
  // Locks "<path>.lock" (created 0600). FAILED_PRECONDITION naming the
  // holder's PID when another process holds it; other errors for I/O.
  static absl::StatusOr<InstanceLock> Acquire(const std::string& path);

  InstanceLock(InstanceLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  InstanceLock& operator=(InstanceLock&& o) noexcept;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;
  ~InstanceLock();  // releases the lock (the file stays)

  const std::string& path() const { return path_; }

 private:
  InstanceLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace veb::server

#endif  // VEB_SERVER_INSTANCE_LOCK_H_

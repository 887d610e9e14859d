#include "server/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace veb::server {

namespace {

// The PID recorded in the lock file, 0 if none.
int HolderPid(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  int pid = 0;
  if (n <= 0 || !absl::SimpleAtoi(absl::StripAsciiWhitespace(buf), &pid)) return 0;
  return pid;
}

// The holder is on its way out: gone, a zombie, exiting (PF_EXITING in
// /proc/<pid>/stat), or with SIGKILL pending. A process killed with -9 still
// closes its files for a moment (sockets, TAPs: tens of ms, more on a busy
// machine), and the lock goes with the last of them.
bool Dying(int pid) {
  if (pid <= 0) return false;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!stat || !std::getline(stat, line)) return true;
  // pid (comm) state ppid pgrp session tty_nr tpgid flags ...; comm may hold
  // spaces and parentheses, so fields are counted after the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::vector<std::string> fields =
      absl::StrSplit(line.substr(close + 1), ' ', absl::SkipEmpty());
  constexpr unsigned kPfExiting = 0x4;
  unsigned flags = 0;
  if (fields.size() > 6 && (fields[0] == "Z" || fields[0] == "X" ||
                            (absl::SimpleAtoi(fields[6], &flags) && (flags & kPfExiting)))) {
    return true;
  }
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "SigPnd:") || absl::StartsWith(line, "ShdPnd:")) {
      uint64_t mask = 0;
      if (absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line.substr(7)), &mask) &&
          (mask & (uint64_t{1} << (SIGKILL - 1))) != 0) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<InstanceLock> InstanceLock::Acquire(const std::string& path) {
  const std::string lock_path = path + ".lock";
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat(lock_path, ": cannot open: ", std::strerror(errno)));
  }
  const absl::Time deadline = absl::Now() + kDyingHolderWait;
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const int pid = HolderPid(fd);
    if (err == EWOULDBLOCK && Dying(pid) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    close(fd);
    if (err != EWOULDBLOCK) {
      return absl::UnavailableError(absl::StrCat(lock_path, ": flock: ", std::strerror(err)));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": in use by another vebd", pid > 0 ? absl::StrCat(" (pid ", pid, ")") : "",
        "; lock file ", lock_path));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) !=
                                   static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat(lock_path, ": write: ", std::strerror(err)));
  }
  return InstanceLock(fd, lock_path);
}

InstanceLock& InstanceLock::operator=(InstanceLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace veb::server

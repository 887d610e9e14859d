// Teaches ThreadSanitizer what Debian's abseil synchronization does.
//
// Why: libabsl_synchronization.so from Debian is not built with -fsanitize=thread,
// so its absl::Mutex, CondVar and Notification synchronize through atomics and
// futex calls TSan never sees; every access to data guarded by an absl::Mutex
// would then be reported as a race (a false positive). Under --config=tsan the
// linker redirects each call that the project's code makes to these functions
// (-Wl,--wrap=<symbol>, listed in .bazelrc) to a wrapper below, which calls the
// real function and tells TSan about the lock, unlock or hand-off with the
// annotation API abseil itself uses when it is built with TSan
// (__tsan_mutex_pre_lock/post_lock, ...). Nothing is suppressed: data accessed
// without the lock is still reported.
//
// Only linked under --config=tsan (as --custom_malloc, the one library Bazel
// links into every binary and test); it needs -fsanitize=thread.
//
// Covered: Mutex::{Lock,Unlock,ReaderLock,ReaderUnlock,TryLock,ReaderTryLock},
// CondVar::{Wait,WaitWithTimeout,WaitWithDeadline} and Notification::{Notify,
// WaitForNotification*}. Not covered (unused in veb; add them here and in
// .bazelrc before using them): Mutex::Await*/LockWhen*, Barrier, BlockingCounter.
//
// The symbols are those of Debian's abseil 20220623 (inline namespace
// absl::debian3): `nm -D libabsl_synchronization.so` lists them. After an abseil
// upgrade that renames them, the wrappers go unused and switch_service_test
// fails under TSan with races on absl::Mutex-guarded data (EventHub events)
// until the names are updated here and in .bazelrc.
//
// Thread-safety: stateless; each wrapper is as thread-safe as the function it wraps.

#include <sanitizer/tsan_interface.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {
using Mutex = absl::Mutex;
using CondVar = absl::CondVar;
using Notification = absl::Notification;
}  // namespace


extern "C" {

// --- Mutex ------------------------------------------------------------------------
void __real__ZN4absl7debian35Mutex4LockEv(Mutex* mu);
void __real__ZN4absl7debian35Mutex6UnlockEv(Mutex* mu);
void __real__ZN4absl7debian35Mutex10ReaderLockEv(Mutex* mu);
void __real__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex* mu);
bool __real__ZN4absl7debian35Mutex7TryLockEv(Mutex* mu);
bool __real__ZN4absl7debian35Mutex13ReaderTryLockEv(Mutex* mu);
void __real__ZN4absl7debian35MutexD1Ev(Mutex* mu);

void __wrap__ZN4absl7debian35Mutex4LockEv(Mutex* mu) {
  __tsan_mutex_pre_lock(mu, 0);
  __real__ZN4absl7debian35Mutex4LockEv(mu);
  __tsan_mutex_post_lock(mu, 0, 0);
}

void __wrap__ZN4absl7debian35Mutex6UnlockEv(Mutex* mu) {
  __tsan_mutex_pre_unlock(mu, 0);
  __real__ZN4absl7debian35Mutex6UnlockEv(mu);
  __tsan_mutex_post_unlock(mu, 0);
}

void __wrap__ZN4absl7debian35Mutex10ReaderLockEv(Mutex* mu) {
  __tsan_mutex_pre_lock(mu, __tsan_mutex_read_lock);
  __real__ZN4absl7debian35Mutex10ReaderLockEv(mu);
  __tsan_mutex_post_lock(mu, __tsan_mutex_read_lock, 0);
}

void __wrap__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex* mu) {
  __tsan_mutex_pre_unlock(mu, __tsan_mutex_read_lock);
  __real__ZN4absl7debian35Mutex12ReaderUnlockEv(mu);
  __tsan_mutex_post_unlock(mu, __tsan_mutex_read_lock);
}

bool __wrap__ZN4absl7debian35Mutex7TryLockEv(Mutex* mu) {
  __tsan_mutex_pre_lock(mu, __tsan_mutex_try_lock);
  const bool locked = __real__ZN4absl7debian35Mutex7TryLockEv(mu);
  __tsan_mutex_post_lock(
      mu, __tsan_mutex_try_lock | (locked ? 0 : __tsan_mutex_try_lock_failed), 0);
  return locked;
}

bool __wrap__ZN4absl7debian35Mutex13ReaderTryLockEv(Mutex* mu) {
  const unsigned flags = __tsan_mutex_read_lock | __tsan_mutex_try_lock;
  __tsan_mutex_pre_lock(mu, flags);
  const bool locked = __real__ZN4absl7debian35Mutex13ReaderTryLockEv(mu);
  __tsan_mutex_post_lock(mu, flags | (locked ? 0 : __tsan_mutex_try_lock_failed), 0);
  return locked;
}

void __wrap__ZN4absl7debian35MutexD1Ev(Mutex* mu) {
  __real__ZN4absl7debian35MutexD1Ev(mu);
  __tsan_mutex_destroy(mu, 0);
}

// --- CondVar: the wait releases the mutex and takes it again ------------------------
void __real__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(CondVar* cv, Mutex* mu);
bool __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(
    CondVar* cv, Mutex* mu, absl::Duration timeout);
bool __real__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(
    CondVar* cv, Mutex* mu, absl::Time deadline);

namespace {
void BeforeWait(Mutex* mu) {
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
}
void AfterWait(Mutex* mu) {
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
}
}  // namespace

void __wrap__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(CondVar* cv, Mutex* mu) {
  BeforeWait(mu);
  __real__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(cv, mu);
  AfterWait(mu);
}

bool __wrap__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(
    CondVar* cv, Mutex* mu, absl::Duration timeout) {
  BeforeWait(mu);
  const bool timed_out =
      __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(
          cv, mu, timeout);
  AfterWait(mu);
  return timed_out;
}

bool __wrap__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(
    CondVar* cv, Mutex* mu, absl::Time deadline) {
  BeforeWait(mu);
  const bool timed_out =
      __real__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(
          cv, mu, deadline);
  AfterWait(mu);
  return timed_out;
}

// --- Notification: Notify happens before a wait that sees it -------------------------
void __real__ZN4absl7debian312Notification6NotifyEv(Notification* n);
void __real__ZNK4absl7debian312Notification19WaitForNotificationEv(const Notification* n);
bool __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const Notification* n, absl::Duration timeout);
bool __real__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
    const Notification* n, absl::Time deadline);

void __wrap__ZN4absl7debian312Notification6NotifyEv(Notification* n) {
  __tsan_release(n);
  __real__ZN4absl7debian312Notification6NotifyEv(n);
}

void __wrap__ZNK4absl7debian312Notification19WaitForNotificationEv(const Notification* n) {
  __real__ZNK4absl7debian312Notification19WaitForNotificationEv(n);
  __tsan_acquire(const_cast<Notification*>(n));
}

bool __wrap__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const Notification* n, absl::Duration timeout) {
  const bool notified =
      __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
          n, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(n));
  return notified;
}

bool __wrap__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
    const Notification* n, absl::Time deadline) {
  const bool notified =
      __real__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
          n, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(n));
  return notified;
}

}  // extern "C"

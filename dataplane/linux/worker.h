// Dataplane worker threads. Each of N threads (default: one per core) owns a
// veb::WorkerContext (ids 0..N-1, so bridges are created with num_workers =
// N), an epoll set and the ports attached to it. A thread blocks in
// epoll_wait (an idle switch uses no CPU), and for every ready port drains one
// batch (up to kMaxBatch frames) into Bridge::Input; level-triggered epoll
// brings it back to ports with more frames, so busy ports share the thread
// fairly.
//
// Attach/Detach come from the control thread as commands: queued under a
// mutex, signalled through an eventfd, applied by the worker between batches.
// Detach waits until the worker has applied it, so when it returns the worker
// no longer touches the port (nor its bridge for it). A port whose fd reports
// that its interface is gone (ReceiveResult::kDead) is taken out of the epoll
// set by its worker (it stays attached until Detach) and reported through the
// optional dead-port callback (from the worker thread; it must not block or
// call Detach itself).
//
// Thread-safety: Attach/Detach/Stop may be called from any
// thread except a worker thread; not concurrently with the destructor.
#ifndef VEB_DATAPLANE_LINUX_WORKER_H_
#define VEB_DATAPLANE_LINUX_WORKER_H_

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/bridge.h"
#include "dataplane/linux/linux_port.h"
#include "dataplane/qsbr.h"

namespace veb {

class WorkerPool {
 public:
  using DeadPortFn = std::function<void(LinuxPort* port)>;

  // 1..kMaxWorkers workers (vebd's --workers=0, one per CPU, is resolved by
  // server/workers.h before the bridges and the pool are sized).
  // Starts the threads. `qsbr` must outlive the pool and be the one the
  // bridges use. `fifo_priority` 1..99 runs the workers under SCHED_FIFO at
  // that priority (a woken worker preempts ordinary threads at once: lower
  // latency, measured in docs/benchmarks.md; needs CAP_SYS_NICE, and the
  // kernel's RT throttling still leaves others 5% of each CPU); 0 keeps the
  // normal scheduler. INVALID_ARGUMENT out of range, PERMISSION_DENIED when
  // the kernel refuses.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Create(
      Qsbr* qsbr, int num_workers, DeadPortFn on_dead = nullptr, int fifo_priority = 0);
  ~WorkerPool();  // Stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int num_workers() const { return static_cast<int>(workers_.size()); }

  // Starts passing frames received on `port` to bridge->Input(ctx, ref, ...)
  // on the least loaded worker; returns its id. `bridge` must stay valid until
  // Detach returns. ALREADY_EXISTS if the port is attached; FAILED_PRECONDITION
  // after Stop.
  absl::StatusOr<int> Attach(std::shared_ptr<LinuxPort> port, Bridge* bridge,
                             PortRef ref);
  // Stops polling `port`; afterwards no worker uses it. NOT_FOUND if unknown.
  absl::Status Detach(const LinuxPort* port);
  // Stops and joins the threads; attached ports are dropped. Idempotent.
  void Stop();

 private:
  struct Worker;
  explicit WorkerPool(DeadPortFn on_dead);

  const DeadPortFn on_dead_;
  std::vector<std::unique_ptr<Worker>> workers_;
  mutable absl::Mutex mu_;  // serialises control operations
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // Attached port -> worker id.
  absl::flat_hash_map<const LinuxPort*, int> attached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_WORKER_H_

#include "dataplane/linux/worker.h"

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace veb {
namespace {

constexpr uint64_t kEventFdKey = 0;

struct Entry {
  std::shared_ptr<LinuxPort> port;
  Bridge* bridge = nullptr;
  PortRef ref;
  bool dead = false;
};

struct Command {
  enum class Op { kAttach, kDetach, kStop };
  explicit Command(Op o) : op(o) {}
  Op op;
  std::unique_ptr<Entry> entry;       // kAttach
  const LinuxPort* port = nullptr;    // kDetach
  absl::Status* status = nullptr;
  absl::Notification* done = nullptr;
};

}  // namespace

struct WorkerPool::Worker {
  Worker(Qsbr* qsbr, int id, const DeadPortFn* on_dead)
      : ctx(qsbr, id), on_dead(on_dead) {}
  ~Worker() {
    if (epfd >= 0) close(epfd);
    if (evfd >= 0) close(evfd);
  }

  // Control side: queue a command and wake the thread.
  void Post(Command cmd) {
    {
      absl::MutexLock lock(&mu);
      cmds.push_back(std::move(cmd));
    }
    has_commands.store(true, std::memory_order_release);
    const uint64_t one = 1;
    (void)!write(evfd, &one, sizeof(one));
  }
  // Queues and waits until the worker applied it.
  absl::Status Call(Command cmd) {
    absl::Status status;
    absl::Notification done;
    cmd.status = &status;
    cmd.done = &done;
    Post(std::move(cmd));
    done.WaitForNotification();
    return status;
  }

  // Worker side. Returns false on kStop.
  bool ApplyCommands() {
    std::vector<Command> todo;
    {
      absl::MutexLock lock(&mu);
      todo.swap(cmds);
      has_commands.store(false, std::memory_order_relaxed);
    }
    bool keep_running = true;
    for (Command& c : todo) {
      absl::Status st;
      switch (c.op) {
        case Command::Op::kAttach: {
          const uint64_t key = next_key++;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = key;
          if (epoll_ctl(epfd, EPOLL_CTL_ADD, c.entry->port->fd(), &ev) != 0) {
            st = absl::InternalError(absl::StrCat(
                "port \"", c.entry->port->name(), "\": attach: epoll: ",
                std::strerror(errno)));
          } else {
            keys[c.entry->port.get()] = key;
            entries[key] = std::move(c.entry);
          }
          break;
        }
        case Command::Op::kDetach: {
          auto k = keys.find(c.port);
          if (k != keys.end()) {
            auto e = entries.find(k->second);
            if (!e->second->dead) {
              epoll_ctl(epfd, EPOLL_CTL_DEL, e->second->port->fd(), nullptr);
            }
            entries.erase(e);
            keys.erase(k);
          }
          break;
        }
        case Command::Op::kStop:
          keep_running = false;
          break;
      }
      if (c.status != nullptr) *c.status = st;
      if (c.done != nullptr) c.done->Notify();
    }
    return keep_running;
  }

  void MarkDead(Entry& e) {
    e.dead = true;
    epoll_ctl(epfd, EPOLL_CTL_DEL, e.port->fd(), nullptr);
    if (on_dead != nullptr && *on_dead) (*on_dead)(e.port.get());
  }

  void Run() {
    epoll_event events[64];
    for (;;) {
      const int n = epoll_wait(epfd, events, 64, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;  // EBADF/EINVAL: cannot happen while the pool lives
      }
      for (int i = 0; i < n; ++i) {
        const uint64_t key = events[i].data.u64;
        // Commands first, also while every port is busy: epoll hands the
        // eventfd out in turn with up to thousands of ready ports, which
        // under a flood would delay a Detach or Stop by seconds.
        if (key == kEventFdKey || has_commands.load(std::memory_order_acquire)) {
          uint64_t v;
          (void)!read(evfd, &v, sizeof(v));
          if (!ApplyCommands()) return;
          if (key == kEventFdKey) continue;
        }
        auto it = entries.find(key);
        if (it == entries.end() || it->second->dead) continue;
        Entry& e = *it->second;
        ReceiveResult r = ReceiveResult::kOk;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) r = e.port->OnPollError();
        if (r != ReceiveResult::kDead && (events[i].events & EPOLLIN)) {
          r = e.port->Receive(kMaxBatch, [&](absl::Span<const RxFrame> frames) {
            e.bridge->Input(ctx, e.ref, frames);
          });
        }
        if (r == ReceiveResult::kDead) MarkDead(e);
      }
    }
  }

  WorkerContext ctx;
  const DeadPortFn* const on_dead;
  int epfd = -1;
  int evfd = -1;
  std::thread thread;
  absl::Mutex mu;
  std::vector<Command> cmds ABSL_GUARDED_BY(mu);
  std::atomic<bool> has_commands{false};
  // Worker-thread state.
  uint64_t next_key = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Entry>> entries;
  absl::flat_hash_map<const LinuxPort*, uint64_t> keys;
  // Control-side view (under WorkerPool::mu_).
  int attached = 0;
};

WorkerPool::WorkerPool(DeadPortFn on_dead) : on_dead_(std::move(on_dead)) {}

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Create(
    Qsbr* qsbr, int num_workers, DeadPortFn on_dead, int fifo_priority) {
  if (fifo_priority < 0 || fifo_priority > 99) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker priority ", fifo_priority, " out of range 0..99"));
  }
  if (num_workers < 1 || num_workers > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "workers ", num_workers, " out of range 1..", kMaxWorkers));
  }
  std::unique_ptr<WorkerPool> pool(new WorkerPool(std::move(on_dead)));
  for (int i = 0; i < num_workers; ++i) {
    auto w = std::make_unique<Worker>(qsbr, i, &pool->on_dead_);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kEventFdKey;
    if (w->epfd < 0 || w->evfd < 0 ||
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) != 0) {
      const int err = errno;
      pool->Stop();  // joins the workers started so far
      return absl::InternalError(
          absl::StrCat("worker ", i, ": epoll/eventfd: ", std::strerror(err)));
    }
    Worker* raw = w.get();
    w->thread = std::thread([raw] { raw->Run(); });
    if (fifo_priority > 0) {
      sched_param sp{};
      sp.sched_priority = fifo_priority;
      if (const int err = pthread_setschedparam(w->thread.native_handle(), SCHED_FIFO, &sp);
          err != 0) {
        pool->workers_.push_back(std::move(w));
        pool->Stop();
        return absl::PermissionDeniedError(absl::StrCat(
            "worker ", i, ": SCHED_FIFO priority ", fifo_priority, ": ", std::strerror(err),
            err == EPERM ? " (needs CAP_SYS_NICE)" : ""));
      }
    }
    pool->workers_.push_back(std::move(w));
  }
  return pool;
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Stop() {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  stopped_ = true;
  for (auto& w : workers_) {
    if (w->thread.joinable()) {
      w->Post(Command(Command::Op::kStop));
      w->thread.join();
    }
  }
}

absl::StatusOr<int> WorkerPool::Attach(std::shared_ptr<LinuxPort> port,
                                       Bridge* bridge, PortRef ref) {
  absl::MutexLock lock(&mu_);
  const std::string name = port->name();
  if (stopped_) {
    return absl::FailedPreconditionError(
        absl::StrCat("port \"", name, "\": attach: workers stopped"));
  }
  Worker* best = nullptr;
  for (auto& w : workers_) {
    if (best == nullptr || w->attached < best->attached) best = w.get();
  }
  Command c(Command::Op::kAttach);
  c.entry = std::make_unique<Entry>();
  c.entry->port = std::move(port);
  c.entry->bridge = bridge;
  c.entry->ref = ref;
  const LinuxPort* key = c.entry->port.get();
  if (attached_.contains(key)) {
    return absl::AlreadyExistsError(
        absl::StrCat("port \"", name, "\": attach: already attached"));
  }
  if (absl::Status s = best->Call(std::move(c)); !s.ok()) return s;
  ++best->attached;
  attached_[key] = best->ctx.id();
  return best->ctx.id();
}

absl::Status WorkerPool::Detach(const LinuxPort* port) {
  absl::MutexLock lock(&mu_);
  auto it = attached_.find(port);
  if (it == attached_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "port \"", port == nullptr ? "" : port->name(), "\": detach: not attached"));
  }
  Worker& w = *workers_[it->second];
  attached_.erase(it);
  --w.attached;
  if (stopped_) return absl::OkStatus();  // the thread is gone
  Command c(Command::Op::kDetach);
  c.port = port;
  return w.Call(std::move(c));
}

}  // namespace veb

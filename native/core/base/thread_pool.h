// A fixed pool of worker threads for data-parallel loops. The calling thread takes part, so a pool of
// `threads` runs `threads - 1` workers; Run() blocks until every task index is done. One Run() at a time
// per pool (callers serialise, e.g. under their model's mutex); tasks must not throw past their own body
// (an exception is caught, the remaining tasks still run, and the first one is rethrown by Run()).
//
// Run() waits for the task indices, never for the workers: a worker that wakes late (on a VM, waking a
// halted vCPU takes an IPI and a VM entry, tens of µs) finds the indices taken and does nothing, so it
// adds nothing to a Run() whose tasks the others finished. After each job a worker spins for the next one
// for a bounded time (`spin`, base/spin_wait.h: it gives up at once when descheduled) before it sleeps,
// so back-to-back Runs find it awake; while no worker sleeps, Run() makes no system call. An idle pool
// sleeps: no thread spins longer than `spin` after the last Run().
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice {

class ThreadPool {
 public:
  static constexpr std::chrono::microseconds kDefaultSpin{50};

  // threads: total threads including the caller; 0 means the machine's hardware concurrency. When the OS
  // refuses a thread, throws CoreError ERR_OUT_OF_MEMORY (never a smaller pool: the caller asked for a size).
  // spin: how long a worker looks for the next job before it sleeps (and Run()'s caller for the workers'
  // last tasks). onWake (tests only: a worker slow to wake) runs on a worker each time it finds a new
  // job, before it looks for a task.
  explicit ThreadPool(size_t threads = 0, std::chrono::microseconds spin = kDefaultSpin,
                      std::function<void(size_t thread)> onWake = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t threads() const { return workers_.size() + 1; }

  // Calls task(i, thread) for every i in [0, count), spread over the pool; returns when all are done.
  // Threads take the next index as they become free, so a thread the OS delays does not hold back the
  // others. `thread` in [0, threads()) names the calling thread (0: the caller), for per-thread scratch.
  // count == 1 (or a one-thread pool) runs inline with no synchronisation at all.
  using Task = std::function<void(size_t index, size_t thread)>;
  void Run(size_t count, const Task& task);

  static size_t HardwareThreads();

 private:
  void WorkerLoop(size_t thread);
  void StopWorkers();  // joins every started worker
  void Drain(size_t thread);

  std::vector<std::thread> workers_;
  const std::chrono::microseconds spin_;
  const std::function<void(size_t)> onWake_;
  std::mutex mutex_;
  std::condition_variable wake_;  // sleeping workers
  std::condition_variable done_;  // Run()'s caller, waiting for the workers' last tasks
  // The current job. Written by Run() before it publishes unclaimed_; read by a thread only once it has
  // claimed an index, and the job cannot finish (nor Run() return and rewrite them) before that index does.
  const Task* task_ = nullptr;
  size_t count_ = 0;
  std::atomic<size_t> unclaimed_{0};   // indices no thread has taken yet; the next is count_ - unclaimed_
  std::atomic<size_t> unfinished_{0};  // indices not done yet: Run() returns at 0
  std::atomic<uint64_t> generation_{0};  // bumped per Run(): what a spinning worker looks for
  std::atomic<size_t> sleepers_{0};      // workers asleep on wake_ (or about to be): only then Run() notifies
  std::atomic<bool> stopping_{false};
  std::atomic<bool> callerWaiting_{false};  // Run()'s caller sleeps on done_ (set under mutex_)
  std::exception_ptr error_;  // the job's first error: written under mutex_, read by Run() once all are done
};

// Exclusive use of the process-wide pool (hardware-concurrency threads, created on first use, never torn
// down), if no one else holds it now; otherwise pool() is null and the caller should work alone: waiting
// would only queue work the caller can do itself, and windows on many threads must not oversubscribe.
class SharedPoolLease {
 public:
  SharedPoolLease();
  SharedPoolLease(const SharedPoolLease&) = delete;
  SharedPoolLease& operator=(const SharedPoolLease&) = delete;
  ThreadPool* pool() const { return lock_.owns_lock() ? pool_ : nullptr; }

 private:
  std::unique_lock<std::mutex> lock_;
  ThreadPool* pool_ = nullptr;
};

}  // namespace sluice

// A fixed pool of worker threads for data-parallel loops. The calling thread takes part, so a pool of
// `threads` runs `threads - 1` workers; Run() blocks until every task index is done. One Run() at a time
// per pool (callers serialise, e.g. under their model's mutex); tasks must not throw past their own body
// (an exception is caught, the remaining tasks still run, and the first one is rethrown by Run()).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice {

class ThreadPool {
 public:
  // threads: total threads including the caller; 0 means the machine's hardware concurrency. When the OS
  // refuses a thread, throws CoreError ERR_OUT_OF_MEMORY (never a smaller pool: the caller asked for a size).
  explicit ThreadPool(size_t threads = 0);
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
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const Task* task_ = nullptr;
  size_t count_ = 0;
  std::atomic<size_t> next_{0};
  size_t active_ = 0;        // workers still inside the current generation
  uint64_t generation_ = 0;  // bumped per Run() so a worker joins each job once
  bool stopping_ = false;
  std::exception_ptr error_;
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

#include "base/thread_pool.h"

#include <string>
#include <system_error>

#include "base/error.h"

namespace sluice {

size_t ThreadPool::HardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) threads = HardwareThreads();
  try {
    workers_.reserve(threads - 1);
    for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
  } catch (const std::system_error& e) {
    // The OS refused a thread (EAGAIN: a limit on threads or memory): the workers already started must be
    // joined here (no destructor runs for a half-built pool; a joinable std::thread would terminate).
    StopWorkers();
    Fail(codes::kOutOfMemory, "out of memory: the system refused thread " + std::to_string(workers_.size() + 1) +
                                  " of " + std::to_string(threads) + " (" + e.what() + "); ask for fewer threads");
  } catch (...) {
    StopWorkers();
    throw;
  }
}

ThreadPool::~ThreadPool() { StopWorkers(); }

void ThreadPool::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::Drain(size_t thread) {
  for (;;) {
    const size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= count_) return;
    try {
      (*task_)(i, thread);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::WorkerLoop(size_t thread) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    Drain(thread);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_ == 0) done_.notify_one();
    }
  }
}

void ThreadPool::Run(size_t count, const Task& task) {
  if (count == 0) return;
  if (count == 1 || workers_.empty()) {
    for (size_t i = 0; i < count; ++i) task(i, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    count_ = count;
    next_.store(0, std::memory_order_relaxed);
    active_ = workers_.size();
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  Drain(0);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return active_ == 0; });
    task_ = nullptr;
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

namespace {
std::mutex sharedPoolMutex;
}  // namespace

SharedPoolLease::SharedPoolLease() : lock_(sharedPoolMutex, std::try_to_lock) {
  if (!lock_.owns_lock()) return;
  // Leaked on purpose: joining workers during static destruction can deadlock when the process exits
  // from inside a Node environment's teardown; the threads simply end with the process.
  static ThreadPool* const pool = new ThreadPool(0);
  pool_ = pool;
}

}  // namespace sluice

#include "base/thread_pool.h"

#include <string>
#include <system_error>
#include <utility>

#include "base/error.h"
#include "base/spin_wait.h"

namespace sluice {

size_t ThreadPool::HardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

ThreadPool::ThreadPool(size_t threads, std::chrono::microseconds spin, std::function<void(size_t)> onWake)
    : spin_(spin), onWake_(std::move(onWake)) {
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
    stopping_.store(true, std::memory_order_relaxed);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

// Takes indices until none is left. The claim is a compare-exchange on unclaimed_, never a blind
// decrement, so a thread that comes late (after the job) takes nothing and never reads task_; a claim it
// wins belongs to whichever job is current, whose fields its acquire makes visible (Run() publishes them
// with a release store, and only claims modify unclaimed_ until the job is done).
void ThreadPool::Drain(size_t thread) {
  size_t left = unclaimed_.load(std::memory_order_relaxed);
  while (left != 0) {
    if (!unclaimed_.compare_exchange_weak(left, left - 1, std::memory_order_acquire, std::memory_order_relaxed)) {
      continue;
    }
    try {
      (*task_)(count_ - left, thread);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    // The last index done: wake the caller if it sleeps. seq_cst with Run(): either this sees its flag, or
    // its check sees unfinished_ at 0 and it does not sleep. The lock orders the notify after its wait();
    // a notify meant for an earlier Run() finds the next one's check false, and it sleeps on.
    if (unfinished_.fetch_sub(1, std::memory_order_seq_cst) == 1 && thread != 0 &&
        callerWaiting_.load(std::memory_order_seq_cst)) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      done_.notify_one();
    }
    left = unclaimed_.load(std::memory_order_relaxed);
  }
}

void ThreadPool::WorkerLoop(size_t thread) {
  uint64_t seen = 0;
  for (;;) {
    const auto news = [&] {
      return stopping_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_seq_cst) != seen;
    };
    if (!SpinUntil(news, std::chrono::steady_clock::now() + spin_)) {
      std::unique_lock<std::mutex> lock(mutex_);
      // seq_cst with Run(): either it sees this sleeper and notifies, or the predicate sees its generation.
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(lock, news);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (stopping_.load(std::memory_order_relaxed)) return;
    seen = generation_.load(std::memory_order_relaxed);
    if (onWake_) onWake_(thread);
    Drain(thread);
  }
}

void ThreadPool::Run(size_t count, const Task& task) {
  if (count == 0) return;
  if (count == 1 || workers_.empty()) {
    for (size_t i = 0; i < count; ++i) task(i, 0);
    return;
  }
  // The previous job is done (every index), so no thread reads these now, and none will before its claim.
  task_ = &task;
  count_ = count;
  unfinished_.store(count, std::memory_order_relaxed);
  unclaimed_.store(count, std::memory_order_release);
  // seq_cst with a worker going to sleep: either this sees it counted, or it sees the new generation.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) != 0) {  // else all spin (or are busy): no system call
    { std::lock_guard<std::mutex> lock(mutex_); }  // a sleeper counted is inside wait() once this is ours
    wake_.notify_all();
  }
  Drain(0);
  const auto done = [&] { return unfinished_.load(std::memory_order_seq_cst) == 0; };
  if (!SpinUntil(done, std::chrono::steady_clock::now() + spin_)) {
    std::unique_lock<std::mutex> lock(mutex_);
    callerWaiting_.store(true, std::memory_order_seq_cst);
    done_.wait(lock, done);
    callerWaiting_.store(false, std::memory_order_relaxed);
  }
  // No lock: each failing task stored its error before its decrement of unfinished_, which the load that
  // saw 0 acquired (the decrements form one release sequence).
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
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

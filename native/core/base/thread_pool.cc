#include "base/thread_pool.h"

#include <chrono>
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

namespace {

// How long a thread polls before it sleeps on a condition variable. Waking a sleeping thread took longer
// here (a 2-vCPU VM) than a whole 200 µs job: a model's 256 rows × 12 steps split over two threads ran with
// wall clock equal to CPU time, the caller doing both halves before the woken worker arrived. A worker that
// polls for the next job this long after each one is already running when a caller's next call comes
// (a pipeline calls its model once per batch, tens of µs apart), and the caller's wait for the workers'
// last tasks costs no sleep either. Bounded, so an idle pool burns at most this much per job.
constexpr auto kSpin = std::chrono::microseconds(100);

// Gives the core away while polling: on a loaded machine a polling thread must not take a core's time from
// the thread it waits for (with pause, window mode under load average 6 ran 1.5× slower than sleeping).
inline void CpuRelax() { std::this_thread::yield(); }

// Polls done() until it returns true or kSpin has passed; returns its last answer.
template <class Done>
bool SpinUntil(Done done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 4; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() >= until) return done();
  }
}

}  // namespace

void ThreadPool::WorkerLoop(size_t thread) {
  uint64_t seen = 0;
  for (;;) {
    SpinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; });
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Run() bumps generation_ under mutex_, so checking it here under the lock loses no wake-up.
      ++sleeping_;
      wake_.wait(lock, [&] { return stopping_ || generation_.load(std::memory_order_relaxed) != seen; });
      --sleeping_;
      if (stopping_) return;
      seen = generation_.load(std::memory_order_relaxed);
    }
    Drain(thread);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.notify_one();
    }
  }
}

void ThreadPool::Run(size_t count, const Task& task) {
  if (count == 0) return;
  if (count == 1 || workers_.empty()) {
    for (size_t i = 0; i < count; ++i) task(i, 0);
    return;
  }
  bool anySleeping;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    count_ = count;
    next_.store(0, std::memory_order_relaxed);
    active_.store(workers_.size(), std::memory_order_relaxed);
    error_ = nullptr;
    generation_.fetch_add(1, std::memory_order_release);
    anySleeping = sleeping_ > 0;
  }
  if (anySleeping) wake_.notify_all();  // spinning workers see the new generation by themselves
  Drain(0);
  SpinUntil([&] { return active_.load(std::memory_order_acquire) == 0; });
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return active_.load(std::memory_order_relaxed) == 0; });
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

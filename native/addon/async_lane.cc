#include "async_lane.h"

#include <pthread.h>
#include <sched.h>

#include <utility>

#include "base/spin_wait.h"

void AsyncLane::JobList::Push(Job* job) {
  job->next_ = nullptr;
  if (tail) tail->next_ = job;
  else head = job;
  tail = job;
}

AsyncLane::Job* AsyncLane::JobList::Pop() {
  Job* job = head;
  if (!job) return nullptr;
  head = job->next_;
  if (!head) tail = nullptr;
  return job;
}

void AsyncLane::JobList::DeleteAll() {
  while (Job* job = Pop()) delete job;
}

AsyncLane::~AsyncLane() { Stop(); }

void AsyncLane::EnsureStarted() {
  if (started_ || stopped_) return;
  napi_value name;
  NAPI_THROW_IF_FAILED_VOID(env_, napi_create_string_utf8(env_, "sluice", NAPI_AUTO_LENGTH, &name));
  NAPI_THROW_IF_FAILED_VOID(env_, napi_create_threadsafe_function(env_, nullptr, nullptr, name, 0, 1, nullptr, nullptr,
                                                                  this, OnCompletions, &wake_));
  napi_unref_threadsafe_function(env_, wake_);  // ref'd only while jobs are in flight
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (...) {
    napi_release_threadsafe_function(wake_, napi_tsfn_release);
    wake_ = nullptr;
    throw;
  }
  // Registered after the threadsafe function's own hook, so it runs first (hooks run in reverse order):
  // the thread is joined before the threadsafe function goes. Async, so that Node runs the loop until
  // the poller's handle is closed (Stop()).
  napi_add_async_cleanup_hook(env_, OnEnvCleanup, this, &cleanupHook_);
  started_ = true;
}

void AsyncLane::Queue(Job* job) noexcept {
  if (stopped_ || !started_) {
    delete job;
    return;
  }
  bool blocked;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.Push(job);
    mayHaveWork_.store(true, std::memory_order_release);
    blocked = workerBlocked_;
  }
  if (blocked) work_.notify_one();  // a spinning thread finds the job by itself
  if (inFlight_++ == 0) napi_ref_threadsafe_function(env_, wake_);
  const int cpu = sched_getcpu();
  jsCpu_.store(cpu, std::memory_order_relaxed);
  // No poll when the lane's thread last ran on this CPU (the poll would keep it off the core, and waking
  // the JS thread there costs little), nor when the last job ran longer than the poll (the poll would end
  // first, and a wake-up costs little beside such a job).
  if (loopSpin_.count() > 0 && workerCpu_.load(std::memory_order_relaxed) != cpu &&
      lastJobUs_.load(std::memory_order_relaxed) < loopSpin_.count()) {
    if (!poller_) poller_ = LoopPoller::New(env_);
    if (poller_) poller_->PollUntil(LoopPoller::Clock::now() + loopSpin_);
  }
}

void AsyncLane::SetSpin(Spin spin) {
  workerSpinUs_.store(spin.worker.count());
  loopSpin_ = spin.loop;
  if (poller_ && loopSpin_.count() == 0) poller_->Stop();
}

AsyncLane::Job* AsyncLane::NextJob() {
  // No spin on the JS thread's CPU: it would keep the JS thread off the core, and waking this thread there
  // costs little.
  const std::chrono::microseconds spin(workerSpinUs_.load(std::memory_order_relaxed));
  if (spin.count() > 0 && jsCpu_.load(std::memory_order_relaxed) != workerCpu_.load(std::memory_order_relaxed)) {
    sluice::SpinUntil([this] { return mayHaveWork_.load(std::memory_order_acquire); }, std::chrono::steady_clock::now() + spin);
  }
  std::unique_lock<std::mutex> lock(mutex_);
  workerBlocked_ = true;
  work_.wait(lock, [this] { return stopping_ || queued_.head != nullptr; });
  workerBlocked_ = false;
  if (stopping_) return nullptr;
  Job* job = queued_.Pop();
  mayHaveWork_.store(queued_.head != nullptr, std::memory_order_relaxed);
  return job;
}

void AsyncLane::Run() {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), "sluice-lane");  // names it in top, perf and /proc/<pid>/task
#endif
  while (Job* job = NextJob()) {
    const auto start = std::chrono::steady_clock::now();
    job->Execute();
    lastJobUs_.store(std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count(),
                     std::memory_order_relaxed);
    workerCpu_.store(sched_getcpu(), std::memory_order_relaxed);
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      completed_.Push(job);
      wake = !wakePending_;
      wakePending_ = true;
    }
    // One call per batch of completions; napi_closing (the environment is going) needs nothing: Stop() deletes them.
    if (wake) napi_call_threadsafe_function(wake_, nullptr, napi_tsfn_nonblocking);
  }
}

void AsyncLane::OnCompletions(napi_env env, napi_value, void* context, void*) {
  if (env == nullptr) return;  // the threadsafe function is being finalized: nothing to deliver to
  static_cast<AsyncLane*>(context)->DeliverCompletions();
}

void AsyncLane::DeliverCompletions() {
  JobList done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done = std::exchange(completed_, JobList{});
    wakePending_ = false;
  }
  Napi::Env env(env_);
  while (Job* job = done.Pop()) {
    --inFlight_;
    try {
      Napi::HandleScope scope(env);
      job->Complete(env);
    } catch (...) {
      // Nothing may throw out of a threadsafe-function callback (it would terminate the process). The only
      // failures left here are those of an environment that is stopping (JavaScript terminated).
    }
    delete job;
  }
  if (inFlight_ == 0 && !stopped_) {
    napi_unref_threadsafe_function(env_, wake_);
    if (poller_) poller_->Stop();
  }
}

void AsyncLane::OnEnvCleanup(napi_async_cleanup_hook_handle, void* lane) { static_cast<AsyncLane*>(lane)->Stop(); }

void AsyncLane::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!started_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    mayHaveWork_.store(true, std::memory_order_release);  // ends a spin
  }
  work_.notify_all();
  thread_.join();  // the job running now finishes first
  queued_.DeleteAll();
  completed_.DeleteAll();
  inFlight_ = 0;
  napi_release_threadsafe_function(wake_, napi_tsfn_release);
  wake_ = nullptr;
  // Whether the hook runs now or not yet, removing it ends it (Node then stops waiting for it); with a
  // poller, that waits until libuv has closed the poller's handle.
  if (poller_) poller_->Close(cleanupHook_);
  else napi_remove_async_cleanup_hook(cleanupHook_);
  poller_ = nullptr;
  cleanupHook_ = nullptr;
}

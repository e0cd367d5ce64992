#include "async_lane.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
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

namespace {
constexpr std::chrono::microseconds kTickSlice(50);  // the longest a loop tick holds the loop
}  // namespace

AsyncLane::~AsyncLane() { Stop(); }

void AsyncLane::EnsureStarted() {
  if (started_ || stopped_) return;
  napi_value name;
  NAPI_THROW_IF_FAILED_VOID(env_, napi_create_string_utf8(env_, "sluice", NAPI_AUTO_LENGTH, &name));
  NAPI_THROW_IF_FAILED_VOID(env_, napi_create_threadsafe_function(env_, nullptr, nullptr, name, 0, 1, nullptr, nullptr,
                                                                  this, OnCompletions, &wake_));
  napi_unref_threadsafe_function(env_, wake_);  // ref'd only while jobs are in flight
  const auto release = [this] {
    napi_release_threadsafe_function(wake_, napi_tsfn_release);
    wake_ = nullptr;
  };
  if (napi_status status = napi_async_init(env_, nullptr, name, &asyncContext_); status != napi_ok) {
    release();
    NAPI_THROW_IF_FAILED_VOID(env_, status);
  }
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (...) {
    release();
    napi_async_destroy(env_, asyncContext_);
    asyncContext_ = nullptr;
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
  queuedAt_ = std::chrono::steady_clock::now();
  const int cpu = sched_getcpu();
  jsCpu_.store(cpu, std::memory_order_relaxed);
  // No poll when the lane's thread last ran on this CPU (the poll would keep it off the core, and waking
  // the JS thread there costs little), nor when the last job ran longer than the poll (the poll would end
  // first, and a wake-up costs little beside such a job).
  bool poll = loopSpin_.count() > 0 && workerCpu_.load(std::memory_order_relaxed) != cpu &&
              lastJobUs_.load(std::memory_order_relaxed) < loopSpin_.count();
  if (poll && !poller_) poller_ = LoopPoller::New(env_, OnLoopTick, this);
  poll = poll && poller_ != nullptr;
  const bool startPoll = poll && !poller_->polling();
  bool blocked;
  {
    // One critical section for the job and the poll: the thread, spinning, takes the mutex as soon as it
    // sees the job, and a second one here would make it wait in the kernel.
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.Push(job);
    mayHaveWork_.store(true, std::memory_order_release);
    blocked = workerBlocked_;
    if (startPoll) jsPolling_ = true;
  }
  if (blocked) work_.notify_one();  // a spinning thread finds the job by itself
  if (inFlight_++ == 0) napi_ref_threadsafe_function(env_, wake_);
  if (poll) {
    // A later deadline extends a poll under way.
    if (startPoll || queuedAt_ + loopSpin_ > pollDeadline_) pollDeadline_ = queuedAt_ + loopSpin_;
    if (startPoll) {
      poller_->Start();
      if (!poller_->polling()) StopPolling();  // libuv refused: back to wake-ups
    }
  }
}

void AsyncLane::SetSpin(Spin spin) {
  workerSpinUs_.store(spin.worker.count());
  loopSpin_ = spin.loop;
  if (loopSpin_.count() == 0) StopPolling();
}

void AsyncLane::StopPolling() {
  if (!poller_) return;
  poller_->Stop();
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!jsPolling_) return;
    jsPolling_ = false;
    // Jobs the thread finished while the loop polled were left for the loop: wake it for them as the
    // thread would have.
    wake = completed_.head != nullptr && !wakePending_;
    if (wake) wakePending_ = true;
  }
  if (wake) napi_call_threadsafe_function(wake_, nullptr, napi_tsfn_nonblocking);
}

void AsyncLane::OnLoopTick(void* context) {
  auto* lane = static_cast<AsyncLane*>(context);
  // Waits for the jobs in flight here, in user space, for one slice at most, completing each as it
  // finishes (their continuations may queue the next: a caller awaiting one call after another), and only
  // then lets the loop go round (timers, I/O: one epoll call, which costs ~1 µs on this project's virtual
  // machines and, made back to back, slows the lane's own thread on the other CPU).
  const auto sliceEnd = std::chrono::steady_clock::now() + kTickSlice;
  for (;;) {
    const auto until = std::min(sliceEnd, lane->pollDeadline_);
    if (lane->inFlight_ > 0) {
      sluice::SpinUntil([lane] { return lane->mayHaveCompletions_.load(std::memory_order_acquire); }, until);
    }
    if (!lane->mayHaveCompletions_.load(std::memory_order_acquire)) break;
    lane->DeliverFromLoop();
    if (lane->stopped_ || lane->inFlight_ == 0) break;
  }
  if (lane->inFlight_ == 0 || std::chrono::steady_clock::now() >= lane->pollDeadline_) lane->StopPolling();
}

void AsyncLane::DeliverFromLoop() {
  // A libuv callback runs outside JavaScript: the callback scope gives the completions what Node gives a
  // threadsafe-function call (async context; microtasks and process.nextTick run when it closes; an
  // exception thrown from them is reported as uncaught).
  napi_handle_scope handles;
  if (napi_open_handle_scope(env_, &handles) != napi_ok) return;
  napi_callback_scope scope;
  if (napi_open_callback_scope(env_, nullptr, asyncContext_, &scope) == napi_ok) {
    DeliverCompletions(deliveries_.byLoop);
    napi_close_callback_scope(env_, scope);
  } else {
    StopPolling();  // the environment is going: leave the completions to a wake-up or to Stop()
  }
  napi_close_handle_scope(env_, handles);
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
      mayHaveCompletions_.store(true, std::memory_order_release);
      wake = !wakePending_ && !jsPolling_;  // a polling loop takes it itself
      if (wake) wakePending_ = true;
    }
    // One call per batch of completions; napi_closing (the environment is going) needs nothing: Stop() deletes them.
    if (wake) napi_call_threadsafe_function(wake_, nullptr, napi_tsfn_nonblocking);
  }
}

void AsyncLane::OnCompletions(napi_env env, napi_value, void* context, void*) {
  if (env == nullptr) return;  // the threadsafe function is being finalized: nothing to deliver to
  auto* lane = static_cast<AsyncLane*>(context);
  lane->DeliverCompletions(lane->deliveries_.byWake);
  if (lane->inFlight_ == 0 && !lane->stopped_) lane->StopPolling();
}

void AsyncLane::DeliverCompletions(uint64_t& counter) {
  JobList done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done = std::exchange(completed_, JobList{});
    wakePending_ = false;
    mayHaveCompletions_.store(false, std::memory_order_relaxed);
  }
  Napi::Env env(env_);
  while (Job* job = done.Pop()) {
    --inFlight_;
    ++counter;
    try {
      Napi::HandleScope scope(env);
      job->Complete(env);
    } catch (...) {
      // Nothing may throw out of a threadsafe-function callback (it would terminate the process). The only
      // failures left here are those of an environment that is stopping (JavaScript terminated).
    }
    delete job;
  }
  // Polling stops with the last job's delivery, after its continuations ran (OnCompletions, OnLoopTick).
  if (inFlight_ == 0 && !stopped_) napi_unref_threadsafe_function(env_, wake_);
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
  napi_async_destroy(env_, asyncContext_);
  asyncContext_ = nullptr;
  // Whether the hook runs now or not yet, removing it ends it (Node then stops waiting for it); with a
  // poller, that waits until libuv has closed the poller's handle.
  if (poller_) poller_->Close(cleanupHook_);
  else napi_remove_async_cleanup_hook(cleanupHook_);
  poller_ = nullptr;
  cleanupHook_ = nullptr;
}

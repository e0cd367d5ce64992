// A persistent native worker for one Node environment: one thread takes jobs from a queue and runs them,
// and the JS thread completes every job finished meanwhile, either from its own event loop while it polls
// (below) or woken by one napi_threadsafe_function call per batch of completions. This replaces a libuv
// work request per call (a pool hand-off each way) with a queue push and, at most, a condition variable and
// one threadsafe-function call.
// Lifetime: the thread and the threadsafe function start with the first job (an environment that never
// queues one pays nothing). An environment cleanup hook (a Worker that exits, is terminated or throws, or
// the main thread at exit) stops the lane: the job running now finishes, jobs not yet run and completions
// not yet delivered are deleted without touching JavaScript (their Promises never settle: nothing is left
// to see them), the thread is joined and the threadsafe function released. While jobs are in flight the
// threadsafe function is ref'd, so the event loop waits for them as it would for libuv work.
//
// Why the lane spins a little (Spin): a thread blocked in the kernel leaves its CPU idle, and on a virtual
// machine an idle vCPU halts; waking a thread on a halted vCPU took ~30 µs on this project's KVM machines
// (perf sched: 28 µs median from sched_waking to the switch-in, against 1 µs for a wake-up on a running
// CPU). An awaited call wakes two threads (the lane's, then the JS thread), so whenever the scheduler kept
// them on different CPUs an empty round trip cost ~80 µs instead of ~3. Hence two bounded spins:
//  - the lane's thread, after a job, looks for the next one for `Spin::worker` before it blocks (a caller
//    that awaits each call queues the next within a few µs of its completion);
//  - the JS thread's event loop, while jobs are in flight, polls instead of sleeping for at most
//    `Spin::loop` after each Queue (loop_poller.h), so the completion finds it awake; not when the last job
//    ran longer than that (the poll would end before the job, and a wake-up costs little beside it).
//    While it polls, the loop takes finished jobs itself and the lane's thread does not call the
//    threadsafe function: that call is an eventfd write on one side and an epoll wake-up and read on the
//    other, three system calls of about 1 µs each on this project's virtual machines. Each loop tick waits
//    for the jobs in flight in user space (a spin) for up to 50 µs, completing each as it finishes (its
//    continuations may queue the next: a caller awaiting one call after another), and only then lets the
//    loop go round (timers, I/O). So the loop still looks at its I/O at least every 50 µs, as often as a
//    synchronous call of that length would let it; polling through the loop's own iterations instead
//    (epoll calls back to back) cost ~1 µs per look and measurably slowed the lane's thread on the other
//    CPU (predictAsync added 8–21 µs instead of 2–6). A mutex hand-off makes sure no job is missed: the
//    thread reads `jsPolling_` under the mutex that it pushes the job under, and the loop, when it stops
//    polling (no job in flight once the continuations ran, or the poll's deadline), clears `jsPolling_`
//    under the same mutex and makes the threadsafe-function call itself for any job already there.
// Neither spins when the two threads last ran on the same CPU (a wake-up there is a cheap switch, and a
// spinner would keep the other thread off the core: a spin measured that way slowed the round trip from
// 2.5 to 8–20 µs), the thread's spin gives up when it is descheduled (base/spin_wait.h), and nothing spins
// while nothing is in flight: an idle lane uses no CPU.
#pragma once
#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "loop_poller.h"

class AsyncLane {
 public:
  class Job {
   public:
    virtual ~Job() = default;
    // On the lane's thread; touches no JS value and must not throw.
    virtual void Execute() noexcept = 0;
    // On the JS thread inside a handle scope, only while the environment is alive; an exception it throws
    // is dropped (the lane has nowhere to report it). The job is deleted afterwards, on the JS thread.
    virtual void Complete(Napi::Env env) = 0;

   private:
    friend class AsyncLane;
    Job* next_ = nullptr;  // intrusive queue link: the lane's thread never allocates
  };

  // How long each side spins before it sleeps (see above); zero: never.
  struct Spin {
    std::chrono::microseconds worker{0};
    std::chrono::microseconds loop{0};
  };

  AsyncLane(napi_env env, Spin spin) : env_(env) { SetSpin(spin); }
  ~AsyncLane();
  AsyncLane(const AsyncLane&) = delete;
  AsyncLane& operator=(const AsyncLane&) = delete;

  // Starts the thread and the threadsafe function if not yet started (JS thread). Throws (std::system_error
  // when the OS refuses a thread, Napi::Error) and leaves the lane unstarted; callers translate.
  void EnsureStarted();

  // Takes ownership of `job` and runs it (JS thread; after EnsureStarted; does not throw). After the
  // environment's cleanup the job is deleted at once instead.
  void Queue(Job* job) noexcept;

  // JS thread; for the benchmark that compares spinning with not spinning in one run (testing.setLaneSpin).
  Spin spin() const { return {std::chrono::microseconds(workerSpinUs_.load()), loopSpin_}; }
  void SetSpin(Spin spin);

  // How many jobs were completed by the polling loop itself and how many after a wake-up (JS thread; for
  // the tests and the benchmark: testing.laneDeliveries).
  struct Deliveries {
    uint64_t byLoop = 0;
    uint64_t byWake = 0;
  };
  Deliveries deliveries() const { return deliveries_; }

 private:
  // A FIFO of jobs linked through Job::next_.
  struct JobList {
    Job* head = nullptr;
    Job* tail = nullptr;
    void Push(Job* job);
    Job* Pop();
    void DeleteAll();
  };

  void Run();                    // the thread
  Job* NextJob();                // the thread: null when stopping
  void DeliverCompletions(uint64_t& counter);  // JS thread, inside a callback scope; counts the jobs
  void StopPolling();            // JS thread
  void DeliverFromLoop();        // JS thread, from a loop tick (outside JavaScript)
  void Stop();                   // JS thread; idempotent
  static void OnCompletions(napi_env env, napi_value, void* context, void*);
  static void OnLoopTick(void* lane);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* lane);

  napi_env env_;
  std::atomic<std::chrono::microseconds::rep> workerSpinUs_{0};  // read by the thread
  std::chrono::microseconds loopSpin_{0};
  std::atomic<std::chrono::microseconds::rep> lastJobUs_{0};  // how long the last job ran (written by the thread)
  std::atomic<int> jsCpu_{-1};      // the CPU of the JS thread at its last Queue
  std::atomic<int> workerCpu_{-1};  // the CPU of the lane's thread when it finished its last job
  napi_threadsafe_function wake_ = nullptr;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable work_;
  JobList queued_;     // under mutex_
  JobList completed_;  // under mutex_
  bool wakePending_ = false;  // under mutex_: a wake-up is on its way to the JS thread
  bool stopping_ = false;     // under mutex_
  bool workerBlocked_ = false;  // under mutex_: the thread waits on work_ (Queue notifies only then)
  bool jsPolling_ = false;      // under mutex_: the loop polls and takes completions itself (no wake-up)
  std::atomic<bool> mayHaveWork_{false};  // a job was queued or the lane stops: ends the thread's spin
  std::atomic<bool> mayHaveCompletions_{false};  // a job finished: the loop's tick looks without the mutex
  // JS thread only:
  LoopPoller* poller_ = nullptr;  // made by the first Queue with loopSpin_ > 0 (null if the loop cannot be had)
  std::chrono::steady_clock::time_point pollDeadline_{};
  std::chrono::steady_clock::time_point queuedAt_{};  // when the last job was queued
  napi_async_context asyncContext_ = nullptr;  // for the callback scope a loop tick completes jobs in
  napi_async_cleanup_hook_handle cleanupHook_ = nullptr;
  Deliveries deliveries_;
  bool started_ = false;
  bool stopped_ = false;
  size_t inFlight_ = 0;  // jobs queued and not yet completed; the threadsafe function is ref'd while > 0
};

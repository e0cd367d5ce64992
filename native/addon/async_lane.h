// A persistent native worker for one Node environment: one thread takes jobs from a queue and runs them,
// and one napi_threadsafe_function wakes the JS thread to complete every job finished meanwhile. This
// replaces a libuv work request per call (a pool hand-off each way) with a queue push, a condition variable
// and one threadsafe-function call per batch of completions.
// Lifetime: the thread and the threadsafe function start with the first job (an environment that never
// queues one pays nothing). An environment cleanup hook (a Worker that exits, is terminated or throws, or
// the main thread at exit) stops the lane: the job running now finishes, jobs not yet run and completions
// not yet delivered are deleted without touching JavaScript (their Promises never settle: nothing is left
// to see them), the thread is joined and the threadsafe function released. While jobs are in flight the
// threadsafe function is ref'd, so the event loop waits for them as it would for libuv work.
// No spin before sleeping: measured on a 2-core machine, a 30 µs spin made an awaited round trip slower
// (2.5 µs → 8–20 µs), the spinning thread taking the core the JS thread needed.
#pragma once
#include <napi.h>

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

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

  explicit AsyncLane(napi_env env) : env_(env) {}
  ~AsyncLane();
  AsyncLane(const AsyncLane&) = delete;
  AsyncLane& operator=(const AsyncLane&) = delete;

  // Starts the thread and the threadsafe function if not yet started (JS thread). Throws (std::system_error
  // when the OS refuses a thread, Napi::Error) and leaves the lane unstarted; callers translate.
  void EnsureStarted();

  // Takes ownership of `job` and runs it (JS thread; after EnsureStarted; does not throw). After the
  // environment's cleanup the job is deleted at once instead.
  void Queue(Job* job) noexcept;

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
  void DeliverCompletions();     // JS thread
  void Stop();                   // JS thread; idempotent
  static void OnCompletions(napi_env env, napi_value, void* context, void*);
  static void OnEnvCleanup(void* lane);

  napi_env env_;
  napi_threadsafe_function wake_ = nullptr;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable work_;
  JobList queued_;     // under mutex_
  JobList completed_;  // under mutex_
  bool wakePending_ = false;  // under mutex_: a wake-up is on its way to the JS thread
  bool stopping_ = false;     // under mutex_
  // JS thread only:
  bool started_ = false;
  bool stopped_ = false;
  size_t inFlight_ = 0;  // jobs queued and not yet completed; the threadsafe function is ref'd while > 0
};

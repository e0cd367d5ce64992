#include "async_lane.h"

#include <utility>

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
  // the thread is joined before the threadsafe function goes.
  napi_add_env_cleanup_hook(env_, OnEnvCleanup, this);
  started_ = true;
}

void AsyncLane::Queue(Job* job) noexcept {
  if (stopped_ || !started_) {
    delete job;
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.Push(job);
  }
  work_.notify_one();
  if (inFlight_++ == 0) napi_ref_threadsafe_function(env_, wake_);
}

void AsyncLane::Run() {
  for (;;) {
    Job* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_.wait(lock, [this] { return stopping_ || queued_.head != nullptr; });
      if (stopping_) return;
      job = queued_.Pop();
    }
    job->Execute();
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
  if (inFlight_ == 0 && !stopped_) napi_unref_threadsafe_function(env_, wake_);
}

void AsyncLane::OnEnvCleanup(void* lane) { static_cast<AsyncLane*>(lane)->Stop(); }

void AsyncLane::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!started_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();  // the job running now finishes first
  napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);  // harmless when it is the hook running now
  queued_.DeleteAll();
  completed_.DeleteAll();
  inFlight_ = 0;
  napi_release_threadsafe_function(wake_, napi_tsfn_release);
  wake_ = nullptr;
}

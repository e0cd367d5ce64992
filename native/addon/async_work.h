// Promise-returning native work: QueuePromiseWork(env, pinned, work, finish) runs `work()` on the
// environment's AsyncLane (a persistent native thread, async_lane.h) and settles a Promise on the JS thread:
// resolved with `finish(env, pinned)` (pinned: the references below, in the order given), or rejected with
// SluiceError (DescribeCurrentException's code for whatever `work` threw; a Napi::Error thrown by `finish`
// rejects with that error). `pinned` JS values (the owning object) are held by references until the
// Promise settles.
// `work` must touch no JS value and no memory JavaScript can detach or resize: it reads copies (AsyncInput)
// and writes memory it owns (AsyncOutput, delivered by `finish`; async_buffers.h), and holds shared_ptrs to
// the native objects it needs. An optional `settled()` runs on the JS thread just before the Promise settles
// either way (e.g. to mark the owner idle again: the continuations of the Promise run later, as microtasks,
// so they already see it). If the environment is torn down first (a Worker that exits or is terminated),
// neither `finish` nor `settled` runs: the work is dropped, or completes and is deleted without touching JS.
// QueuePromiseWorkOn names the lane: QueuePromiseWork uses the lane of calls (short, one batch each);
// training epochs have a lane of their own so that they never hold up a predictAsync behind them.
#pragma once
#include <napi.h>

#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "addon.h"
#include "async_lane.h"
#include "errors.h"

struct NothingOnSettle {
  void operator()() const {}
};

template <class Work, class Finish, class Settled>
class PromiseJob final : public AsyncLane::Job {
 public:
  PromiseJob(Napi::Env env, std::initializer_list<Napi::Value> pinned, Work work, Finish finish, Settled settled)
      : deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        finish_(std::move(finish)),
        settled_(std::move(settled)) {
    for (const Napi::Value& value : pinned) {
      if (value.IsObject()) pinned_.push_back(Napi::Persistent(value.As<Napi::Object>()));
    }
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() noexcept override {
    try {
      work_();
    } catch (...) {
      failure_ = DescribeCurrentException();
      failed_ = true;
    }
  }

  void Complete(Napi::Env env) override {
    settled_();
    if (failed_) {
      deferred_.Reject(MakeSluiceError(env, failure_.code, failure_.message).Value());
      return;
    }
    try {
      deferred_.Resolve(finish_(env, pinned_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  Finish finish_;
  Settled settled_;
  std::vector<Napi::ObjectReference> pinned_;
  bool failed_ = false;
  NativeFailure failure_{sluice::codes::kInvalidState, {}};
};

// Queues the work on `lane` and returns its Promise. Throws (before anything is queued) when the lane's
// thread cannot start: callers run inside TranslateErrors, which makes that ERR_OUT_OF_MEMORY.
template <class Work, class Finish, class Settled = NothingOnSettle>
Napi::Promise QueuePromiseWorkOn(AsyncLane& lane, Napi::Env env, std::initializer_list<Napi::Value> pinned, Work work,
                                 Finish finish, Settled settled = Settled()) {
  lane.EnsureStarted();
  auto job = std::make_unique<PromiseJob<Work, Finish, Settled>>(env, pinned, std::move(work), std::move(finish),
                                                                 std::move(settled));
  Napi::Promise promise = job->Promise();
  lane.Queue(job.release());
  return promise;
}

template <class Work, class Finish, class Settled = NothingOnSettle>
Napi::Promise QueuePromiseWork(Napi::Env env, std::initializer_list<Napi::Value> pinned, Work work, Finish finish,
                               Settled settled = Settled()) {
  return QueuePromiseWorkOn(SluiceAddon::From(env).callLane(), env, pinned, std::move(work), std::move(finish),
                            std::move(settled));
}

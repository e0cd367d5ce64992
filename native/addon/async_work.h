// Promise-returning native work: QueuePromiseWork(env, pinned, work, finish) runs `work()` on a libuv worker
// thread and settles a Promise on the JS thread: resolved with `finish(env, pinned)` (pinned: the references
// below, in the order given, so a call can resolve with its output array), or rejected with SluiceError
// (the CoreError's code, ERR_OUT_OF_MEMORY for bad_alloc). `pinned` JS values (input and output typed
// arrays, the owning object) are held by references until the Promise settles, so the memory the worker
// reads and writes stays alive even if the caller drops it. `work` must touch no JS value; it captures
// plain pointers/spans and shared_ptrs to the native objects it needs. An optional `settled()` runs on the JS
// thread just before the Promise settles either way (e.g. to mark the owner idle again: the continuations of
// the Promise run later, as microtasks, so they already see it).
#pragma once
#include <napi.h>

#include <exception>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"

struct NothingOnSettle {
  void operator()() const {}
};

template <class Work, class Finish, class Settled = NothingOnSettle>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::initializer_list<Napi::Value> pinned, Work work, Finish finish, Settled settled)
      : Napi::AsyncWorker(env, "sluice"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        finish_(std::move(finish)),
        settled_(std::move(settled)) {
    for (const Napi::Value& value : pinned) {
      if (value.IsObject()) pinned_.push_back(Napi::Persistent(value.As<Napi::Object>()));
    }
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const sluice::CoreError& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = sluice::codes::kOutOfMemory;
      SetError("out of memory");
    } catch (const std::exception& e) {
      code_ = sluice::codes::kInvalidState;
      SetError(e.what());
    }
  }
  void OnOK() override {
    settled_();
    Napi::Env env = Env();
    try {
      deferred_.Resolve(finish_(env, pinned_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& error) override {
    settled_();
    deferred_.Reject(MakeSluiceError(Env(), code_, error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  Finish finish_;
  Settled settled_;
  std::vector<Napi::ObjectReference> pinned_;
  const char* code_ = sluice::codes::kInvalidState;
};

// Queues the work and returns its Promise. The worker deletes itself after settling (node-addon-api).
template <class Work, class Finish, class Settled = NothingOnSettle>
Napi::Promise QueuePromiseWork(Napi::Env env, std::initializer_list<Napi::Value> pinned, Work work, Finish finish,
                               Settled settled = Settled()) {
  auto* worker = new PromiseWorker<Work, Finish, Settled>(env, pinned, std::move(work), std::move(finish), std::move(settled));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

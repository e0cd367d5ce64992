// One binding for the per-key LSTM state of every backend: new (model, capacity); step(keys, x, out) →
// floats written; stepAsync(keys, x, out) → Promise of `out`, stepped on a libuv worker thread; reset(keys?);
// snapshot() → Uint8Array; restore(bytes); info(); close(). The host memory the state holds
// (State::HostBytes()) is reported to V8 as external memory.
// stepAsync checks everything (closed, lengths, keys) on the JS thread before queuing, and steps a copy of
// the keys (the caller may reuse its array; x and out are pinned). While it is in flight the state is busy:
// step, stepAsync, reset, snapshot and restore are ERR_INVALID_STATE; close() closes the state for JS at
// once, and the worker's shared_ptr keeps the table (and, through it, the model) until the step ends.
// A Backend names the rest:
//   using State = sluice::LstmState;                  // or sluice::CudaLstmState
//   static constexpr const char* kClassName = "NativeLstmState";
//   static std::shared_ptr<Model> UnwrapModel(Napi::Env, const Napi::Value&);  // ERR_INVALID_TYPE, _STATE
//   static size_t ParseCapacity(Napi::Env, const Napi::Value&);
#pragma once
#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "async_work.h"
#include "errors.h"
#include "typed_array.h"

template <class Backend>
class LstmStateWrap : public Napi::ObjectWrap<LstmStateWrap<Backend>> {
  using Base = Napi::ObjectWrap<LstmStateWrap<Backend>>;
  using State = typename Backend::State;

 public:
  static Napi::Function Define(Napi::Env env) {
    return Base::DefineClass(env, Backend::kClassName,
                             {Base::InstanceMethod("step", &LstmStateWrap::Step),
                              Base::InstanceMethod("stepAsync", &LstmStateWrap::StepAsync),
                              Base::InstanceMethod("reset", &LstmStateWrap::Reset),
                              Base::InstanceMethod("snapshot", &LstmStateWrap::Snapshot),
                              Base::InstanceMethod("restore", &LstmStateWrap::Restore),
                              Base::InstanceMethod("info", &LstmStateWrap::Info),
                              Base::InstanceMethod("close", &LstmStateWrap::Close)});
  }

  LstmStateWrap(const Napi::CallbackInfo& info) : Base(info) {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      auto model = Backend::UnwrapModel(env, info[0]);  // the model first: its errors come before the capacity's
      const size_t capacity = Backend::ParseCapacity(env, info[1]);
      state_ = std::make_shared<State>(std::move(model), capacity);
      externalBytes_ = static_cast<int64_t>(state_->HostBytes());
      Napi::MemoryManagement::AdjustExternalMemory(env, externalBytes_);
    });
  }

  void Finalize(Napi::Env env) override { Release(env); }

 private:
  // For info(): the capacity and sizes never change, so it may run while a stepAsync is in flight.
  State& OpenState(Napi::Env env) {
    if (!state_) ThrowSluiceError(env, sluice::codes::kInvalidState, "the LstmState is closed");
    return *state_;
  }
  // For every call that reads or writes the table.
  State& GetState(Napi::Env env) {
    State& state = OpenState(env);
    if (stepping_) {
      ThrowSluiceError(env, sluice::codes::kInvalidState, "a stepAsync is in flight on this LstmState: await it first");
    }
    return state;
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      State& state = GetState(env);
      auto keys = ToSpan<uint32_t>(env, info[0], "keys");
      auto x = ToSpan<float>(env, info[1], "x");
      auto out = ToSpan<float>(env, info[2], "out");
      state.Step(keys, x, out);
      return Napi::Number::New(env, static_cast<double>(keys.size * state.model().outputSize()));
    });
  }

  // The keys are copied (their values index the table: the caller must not be able to change them after the
  // check); x and out are pinned with the state object until the Promise settles.
  Napi::Value StepAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      GetState(env);
      auto keySpan = ToSpan<uint32_t>(env, info[0], "keys");
      auto x = ToSpan<float>(env, info[1], "x");
      auto out = ToSpan<float>(env, info[2], "out");
      std::vector<uint32_t> keys(keySpan.data, keySpan.data + keySpan.size);
      std::shared_ptr<State> state = state_;
      state->CheckStep({keys.data(), keys.size()}, x, out);
      Napi::Promise promise = QueuePromiseWork(
          env, {info[1], info[2], info.This()},
          [state, keys = std::move(keys), x, out] { state->Step({keys.data(), keys.size()}, x, out); },
          [](Napi::Env, const std::vector<Napi::ObjectReference>& pinned) -> Napi::Value { return pinned[1].Value(); },
          [this] { stepping_ = false; });  // `this` lives: the state object is pinned until then
      stepping_ = true;
      return promise;
    });
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      State& state = GetState(env);
      if (info[0].IsUndefined()) state.ResetAll();
      else state.Reset(ToSpan<uint32_t>(env, info[0], "keys"));
      return env.Undefined();
    });
  }

  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      const std::vector<uint8_t> bytes = GetState(env).Snapshot();
      Napi::Uint8Array array = Napi::Uint8Array::New(env, bytes.size());
      std::copy(bytes.begin(), bytes.end(), array.Data());
      return array;
    });
  }

  Napi::Value Restore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      State& state = GetState(env);
      auto bytes = ToSpan<uint8_t>(env, info[0], "bytes");
      state.Restore(sluice::Span<const uint8_t>(bytes.data, bytes.size));
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    State& state = OpenState(env);
    Napi::Object result = Napi::Object::New(env);
    result.Set("capacity", static_cast<double>(state.capacity()));
    result.Set("bytesPerKey", static_cast<double>(state.BytesPerKey()));
    result.Set("bytes", static_cast<double>(state.Bytes()));
    return result;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release(info.Env());
    return info.Env().Undefined();
  }

  // An in-flight stepAsync holds its own shared_ptr: the table goes when it ends.
  void Release(Napi::Env env) {
    if (!state_) return;
    state_.reset();
    Napi::MemoryManagement::AdjustExternalMemory(env, -externalBytes_);
    externalBytes_ = 0;
  }

  std::shared_ptr<State> state_;
  bool stepping_ = false;  // a stepAsync is queued or running (set and cleared on the JS thread)
  int64_t externalBytes_ = 0;
};

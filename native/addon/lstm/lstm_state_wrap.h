// One binding for the per-key LSTM state of every backend: new (model, capacity); step(keys, x, out) →
// floats written; stepAsync(keys, x, out) → Promise of `out`, stepped on the async lane (async_work.h); reset(keys?);
// snapshot() → Uint8Array; restore(bytes); info(); close(). The host memory the state holds
// (State::HostBytes()) is reported to V8 as external memory.
// stepAsync checks everything (closed, lengths, keys) on the JS thread before queuing, and steps copies of
// keys and x into memory of its own (the caller may reuse its arrays). While it is in flight the state is busy:
// step, stepAsync, reset, snapshot and restore are ERR_INVALID_STATE; close() closes the state for JS at
// once, and the worker's shared_ptr keeps the table (and, through it, the model) until the step ends.
// A Backend names the rest:
//   using State = sluice::LstmState;                  // or sluice::CudaLstmState
//   static constexpr const char* kClassName = "NativeLstmState";
//   static std::shared_ptr<Model> UnwrapModel(Napi::Env, const Napi::Value&);  // ERR_INVALID_TYPE, _STATE
//   static size_t ParseCapacity(Napi::Env, const Napi::Value&);
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "async_buffers.h"
#include "native_handle.h"
#include "typed_array.h"

template <class Backend>
class LstmStateWrap : public NativeHandle<LstmStateWrap<Backend>, typename Backend::State> {
  using State = typename Backend::State;
  using Handle = NativeHandle<LstmStateWrap<Backend>, State>;

 public:
  static Napi::Function Define(Napi::Env env) {
    return Handle::DefineHandleClass(env, Backend::kClassName,
                                     {Handle::InstanceMethod("step", &LstmStateWrap::Step),
                                      Handle::InstanceMethod("stepAsync", &LstmStateWrap::StepAsync),
                                      Handle::InstanceMethod("reset", &LstmStateWrap::Reset),
                                      Handle::InstanceMethod("snapshot", &LstmStateWrap::Snapshot),
                                      Handle::InstanceMethod("restore", &LstmStateWrap::Restore),
                                      Handle::InstanceMethod("info", &LstmStateWrap::Info)});
  }

  LstmStateWrap(const Napi::CallbackInfo& info)
      : Handle(info, "the LstmState is closed", "a stepAsync is in flight on this LstmState: await it first") {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      auto model = Backend::UnwrapModel(env, info[0]);  // the model first: its errors come before the capacity's
      const size_t capacity = Backend::ParseCapacity(env, info[1]);
      const State& state = this->Attach(std::make_shared<State>(std::move(model), capacity));
      this->ReportMemory(env, state.HostBytes());
    });
  }

 private:
  // step(keys, x, out) and stepAsync's arguments.
  struct StepArgs {
    sluice::Span<uint32_t> keys;
    sluice::Span<float> x, out;
  };
  static StepArgs ParseStepArgs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return {ToSpan<uint32_t>(env, info[0], "keys"), ToSpan<float>(env, info[1], "x"), ToSpan<float>(env, info[2], "out")};
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      State& state = this->Ready(env);
      const StepArgs args = ParseStepArgs(info);
      const StableColumn<uint32_t> keys(env, info[0], "keys");  // keys index the table: checked, then used
      state.Step(keys.span(), args.x, args.out);
      return Napi::Number::New(env, static_cast<double>(args.keys.size * state.model().outputSize()));
    });
  }

  // Steps copies of keys and x (the keys index the table: checked once, on the copy) into memory of its own,
  // copied into out when it ends (async_buffers.h: ERR_INVALID_STATE if out was detached or shrunk meanwhile).
  Napi::Value StepAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      this->Ready(env);
      const StepArgs args = ParseStepArgs(info);
      auto keys = std::make_shared<const AsyncInput<uint32_t>>(args.keys);
      auto x = std::make_shared<const AsyncInput<float>>(args.x);
      auto out = std::make_shared<AsyncOutput<float>>(info[2], args.out.size, "out");
      std::shared_ptr<State> state = this->SharedCore(env);
      state->CheckStep(keys->span(), x->span(), out->span());
      return this->QueueWhileBusy(
          env, {info.This()}, [state, keys, x, out] { state->Step(keys->span(), x->span(), out->span()); },
          [out](Napi::Env env, const std::vector<Napi::ObjectReference>&) { return out->Deliver(env); });
    });
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      State& state = this->Ready(env);
      if (info[0].IsUndefined()) state.ResetAll();
      else state.Reset(StableColumn<uint32_t>(env, info[0], "keys").span());
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const State& state = this->Opened(env);  // the capacity and sizes never change: allowed while busy
    Napi::Object result = Napi::Object::New(env);
    result.Set("capacity", static_cast<double>(state.capacity()));
    result.Set("bytesPerKey", static_cast<double>(state.BytesPerKey()));
    result.Set("bytes", static_cast<double>(state.Bytes()));
    return result;
  }
};

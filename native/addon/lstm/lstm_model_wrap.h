// What the CPU and CUDA model bindings (NativeLstmModel, NativeCudaLstmModel) share, over any core model with
// LstmModel's Predict/OutputLength and shape accessors: predict(x, steps, batch, batchFirst, sequence, out)
// → floats written; predictAsync(…) → Promise of `out`, computed on the async lane (async_work.h); info(); close().
// Derived (CRTP) defines the JS class (DefineLstmModelClass, with any methods of its own), builds the model
// in its constructor (Attach: NativeHandle) and adds its backend's fields to info() with a static
// AddBackendInfo(Napi::Object&, const CoreModel&). In-flight predictAsync calls and states hold their own
// shared_ptr to the model: its memory goes with the last.
#pragma once
#include <napi.h>

#include <memory>
#include <vector>

#include "arguments.h"
#include "async_buffers.h"
#include "lstm/lstm_model.h"
#include "native_handle.h"
#include "typed_array.h"

template <class Derived, class CoreModel>
class LstmModelWrapBase : public NativeHandle<Derived, CoreModel> {
  using Handle = NativeHandle<Derived, CoreModel>;

 protected:
  // The JS class: predict, predictAsync, then `extra` (Derived's own methods), info, close.
  static Napi::Function DefineLstmModelClass(Napi::Env env, const char* name, const typename Handle::Methods& extra = {}) {
    typename Handle::Methods methods = {Handle::InstanceMethod("predict", &Derived::Predict),
                                        Handle::InstanceMethod("predictAsync", &Derived::PredictAsync)};
    methods.insert(methods.end(), extra.begin(), extra.end());
    methods.push_back(Handle::InstanceMethod("info", &Derived::Info));
    return Handle::DefineHandleClass(env, name, methods);
  }

  explicit LstmModelWrapBase(const Napi::CallbackInfo& info) : Handle(info, "the LstmModel is closed") {}

  Napi::Value Predict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      CoreModel& model = this->Ready(env);
      const Call call = ParseCall(info);
      model.Predict(call.x, call.shape, call.out);
      return Napi::Number::New(env, static_cast<double>(model.OutputLength(call.shape)));
    });
  }

  // Reads a copy of x and writes memory of its own, copied into out when it ends (async_buffers.h:
  // ERR_INVALID_STATE if out was detached or shrunk meanwhile). On CUDA the lane's thread also waits for the
  // GPU: the event loop never does.
  Napi::Value PredictAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      std::shared_ptr<CoreModel> model = this->SharedCore(env);
      const Call call = ParseCall(info);
      model->OutputLength(call.shape);  // checks the shape's size before queuing
      auto x = std::make_shared<const AsyncInput<float>>(call.x);
      auto out = std::make_shared<AsyncOutput<float>>(info[5], call.out.size, "out");
      // Resolves with `out` itself: no extra microtask on the JS side.
      return QueuePromiseWork(
          env, {info.This()}, [model, x, shape = call.shape, out] { model->Predict(x->span(), shape, out->span()); },
          [out](Napi::Env env, const std::vector<Napi::ObjectReference>&) { return out->Deliver(env); });
    });
  }

  // The shape first, then Derived::AddBackendInfo's fields.
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      const CoreModel& model = this->Ready(env);
      Napi::Object result = Napi::Object::New(env);
      result.Set("inputSize", static_cast<double>(model.inputSize()));
      result.Set("hiddenSize", static_cast<double>(model.hiddenSize()));
      result.Set("numLayers", static_cast<double>(model.numLayers()));
      result.Set("outputSize", static_cast<double>(model.outputSize()));
      result.Set("hasHead", model.hasHead());
      Derived::AddBackendInfo(result, model);
      return result;
    });
  }

 private:
  struct Call {
    sluice::Span<const float> x;
    sluice::LstmRunShape shape;
    sluice::Span<float> out;
  };
  static Call ParseCall(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Call call;
    call.x = ToSpan<float>(env, info[0], "x");
    call.shape.steps = SizeArg(env, info[1], "steps");
    call.shape.batch = SizeArg(env, info[2], "batch");
    call.shape.batchFirst = info[3].ToBoolean();
    call.shape.sequence = info[4].ToBoolean();
    call.out = ToSpan<float>(env, info[5], "out");
    return call;
  }
};

// What the CPU and CUDA model bindings (NativeLstmModel, NativeCudaLstmModel) share, over any core model with
// LstmModel's Predict/OutputLength and shape accessors: predict(x, steps, batch, batchFirst, sequence, out)
// → floats written; predictAsync(…) → Promise of `out`, computed on a libuv worker thread; info(); close().
// Derived (CRTP) defines the JS class (DefineLstmModelClass, with any methods of its own), builds the model
// in its constructor (Attach) and adds its backend's fields to info() with a static
// AddBackendInfo(Napi::Object&, const CoreModel&).
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "async_work.h"
#include "errors.h"
#include "lstm/lstm_model.h"
#include "lstm/lstm_model_binding.h"
#include "typed_array.h"

template <class Derived, class CoreModel>
class LstmModelWrapBase : public Napi::ObjectWrap<Derived> {
 public:
  // ERR_INVALID_STATE once closed.
  std::shared_ptr<CoreModel> Model(Napi::Env env) const {
    if (!model_) ThrowSluiceError(env, sluice::codes::kInvalidState, "the LstmModel is closed");
    return model_;
  }

  void Finalize(Napi::Env env) override { Release(env); }

 protected:
  using Base = Napi::ObjectWrap<Derived>;
  using Methods = std::vector<typename Base::PropertyDescriptor>;

  // The JS class: predict, predictAsync, then `extra` (Derived's own methods), info, close.
  static Napi::Function DefineLstmModelClass(Napi::Env env, const char* name, const Methods& extra = {}) {
    Methods methods = {Base::InstanceMethod("predict", &Derived::Predict),
                       Base::InstanceMethod("predictAsync", &Derived::PredictAsync)};
    methods.insert(methods.end(), extra.begin(), extra.end());
    methods.push_back(Base::InstanceMethod("info", &Derived::Info));
    methods.push_back(Base::InstanceMethod("close", &Derived::Close));
    return Base::DefineClass(env, name, methods);
  }

  explicit LstmModelWrapBase(const Napi::CallbackInfo& info) : Base(info) {}

  // Keeps the model, reporting `hostBytes` to V8 as external memory until close() or finalization.
  void Attach(Napi::Env env, std::shared_ptr<CoreModel> model, int64_t hostBytes) {
    model_ = std::move(model);
    externalBytes_ = hostBytes;
    if (externalBytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, externalBytes_);
  }

  Napi::Value Predict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      auto model = Model(env);
      const Call call = ParseCall(info);
      model->Predict(call.x, call.shape, call.out);
      return Napi::Number::New(env, static_cast<double>(model->OutputLength(call.shape)));
    });
  }

  // On CUDA the worker thread also waits for the GPU: the event loop never does.
  Napi::Value PredictAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      auto model = Model(env);
      const Call call = ParseCall(info);
      model->OutputLength(call.shape);  // checks the shape's size before queuing
      // Resolves with `out` itself (pinned[1]): no extra microtask on the JS side.
      return QueuePromiseWork(
          env, {info[0], info[5], info.This()}, [model, call] { model->Predict(call.x, call.shape, call.out); },
          [](Napi::Env, const std::vector<Napi::ObjectReference>& pinned) -> Napi::Value { return pinned[1].Value(); });
    });
  }

  // The shape first, then Derived::AddBackendInfo's fields.
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      auto model = Model(env);
      Napi::Object result = Napi::Object::New(env);
      result.Set("inputSize", static_cast<double>(model->inputSize()));
      result.Set("hiddenSize", static_cast<double>(model->hiddenSize()));
      result.Set("numLayers", static_cast<double>(model->numLayers()));
      result.Set("outputSize", static_cast<double>(model->outputSize()));
      result.Set("hasHead", model->hasHead());
      Derived::AddBackendInfo(result, *model);
      return result;
    });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release(info.Env());
    return info.Env().Undefined();
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
    call.shape.steps = ParseSizeArg(env, info[1], "steps");
    call.shape.batch = ParseSizeArg(env, info[2], "batch");
    call.shape.batchFirst = info[3].ToBoolean();
    call.shape.sequence = info[4].ToBoolean();
    call.out = ToSpan<float>(env, info[5], "out");
    return call;
  }

  // In-flight predictAsync calls and states hold their own shared_ptr: the memory goes with the last.
  void Release(Napi::Env env) {
    if (!model_) return;
    model_.reset();
    if (externalBytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -externalBytes_);
    externalBytes_ = 0;
  }

  std::shared_ptr<CoreModel> model_;
  int64_t externalBytes_ = 0;
};

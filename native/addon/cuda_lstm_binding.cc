// NativeCudaLstmModel: new (weights, algorithm?) → the GPU twin of NativeLstmModel (same predict,
// predictAsync, info, close) plus setAlgorithm(name). NativeCudaLstmState: new (model, capacity) → the twin
// of NativeLstmState with the table in device memory. Constructing a model where CUDA is unusable throws
// ERR_NOT_SUPPORTED naming backends().cuda.reason; lib/lstm_model.ts decides whether to fall back to CPU.
#include <memory>
#include <string>

#include "addon.h"
#include "async_work.h"
#include "cuda_lstm.h"
#include "cuda_lstm_binding.h"
#include "lstm_model_binding.h"
#include "typed_array.h"

namespace {

constexpr napi_type_tag kCudaLstmModelTag = {0x5c1e7a11c0da1511ULL, 0x2b6f0e9d4a7c3e15ULL};

class CudaLstmModelWrap : public Napi::ObjectWrap<CudaLstmModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeCudaLstmModel",
                       {InstanceMethod("predict", &CudaLstmModelWrap::Predict),
                        InstanceMethod("predictAsync", &CudaLstmModelWrap::PredictAsync),
                        InstanceMethod("setAlgorithm", &CudaLstmModelWrap::SetAlgorithm),
                        InstanceMethod("info", &CudaLstmModelWrap::Info),
                        InstanceMethod("close", &CudaLstmModelWrap::Close)});
  }

  CudaLstmModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaLstmModelWrap>(info) {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      const sluice::LstmModelSpec spec = ParseLstmModelSpec(env, info[0]);
      model_ = std::make_shared<sluice::CudaLstmModel>(SluiceAddon::From(env).cuda(), spec);
      if (info[1].IsString()) model_->SetAlgorithm(sluice::ParseCudaLstmAlgorithm(info[1].As<Napi::String>().Utf8Value()));
    });
    info.This().As<Napi::Object>().TypeTag(&kCudaLstmModelTag);
  }

  std::shared_ptr<sluice::CudaLstmModel> Model(Napi::Env env) const {
    if (!model_) ThrowSluiceError(env, sluice::codes::kInvalidState, "the LstmModel is closed");
    return model_;
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

  Napi::Value Predict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      auto model = Model(env);
      const Call call = ParseCall(info);
      model->Predict(call.x, call.shape, call.out);
      return Napi::Number::New(env, static_cast<double>(model->OutputLength(call.shape)));
    });
  }

  // The worker thread copies into pinned memory, queues the GPU work on the model's stream and waits for
  // it there: the event loop never waits on the GPU.
  Napi::Value PredictAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      auto model = Model(env);
      const Call call = ParseCall(info);
      model->OutputLength(call.shape);
      return QueuePromiseWork(
          env, {info[0], info[5], info.This()}, [model, call] { model->Predict(call.x, call.shape, call.out); },
          [](Napi::Env, const std::vector<Napi::ObjectReference>& pinned) -> Napi::Value { return pinned[1].Value(); });
    });
  }

  Napi::Value SetAlgorithm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      if (!info[0].IsString()) ThrowSluiceError(env, sluice::codes::kInvalidType, "algorithm must be a string");
      Model(env)->SetAlgorithm(sluice::ParseCudaLstmAlgorithm(info[0].As<Napi::String>().Utf8Value()));
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      auto model = Model(env);
      const sluice::CudaLstmModel::Info gpu = model->GetInfo();
      Napi::Object result = Napi::Object::New(env);
      result.Set("inputSize", static_cast<double>(model->inputSize()));
      result.Set("hiddenSize", static_cast<double>(model->hiddenSize()));
      result.Set("numLayers", static_cast<double>(model->numLayers()));
      result.Set("outputSize", static_cast<double>(model->outputSize()));
      result.Set("hasHead", model->hasHead());
      result.Set("threads", 1.0);
      result.Set("simd", "cuda");
      result.Set("weightBytes", 0.0);  // the weights live in device memory
      result.Set("deviceBytes", static_cast<double>(gpu.deviceBytes));
      result.Set("pinnedBytes", static_cast<double>(gpu.pinnedBytes));
      result.Set("algorithm", sluice::CudaLstmAlgorithmName(gpu.lastAlgorithm));
      result.Set("device", gpu.deviceName);
      return result;
    });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    model_.reset();  // in-flight work and states hold their own references
    return info.Env().Undefined();
  }

  std::shared_ptr<sluice::CudaLstmModel> model_;
};

class CudaLstmStateWrap : public Napi::ObjectWrap<CudaLstmStateWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeCudaLstmState",
                       {InstanceMethod("step", &CudaLstmStateWrap::Step), InstanceMethod("reset", &CudaLstmStateWrap::Reset),
                        InstanceMethod("snapshot", &CudaLstmStateWrap::Snapshot),
                        InstanceMethod("restore", &CudaLstmStateWrap::Restore),
                        InstanceMethod("info", &CudaLstmStateWrap::Info), InstanceMethod("close", &CudaLstmStateWrap::Close)});
  }

  CudaLstmStateWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaLstmStateWrap>(info) {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      if (!info[0].IsObject() || !info[0].As<Napi::Object>().CheckTypeTag(&kCudaLstmModelTag)) {
        ThrowSluiceError(env, sluice::codes::kInvalidType, "model must be a native CUDA LstmModel");
      }
      auto model = CudaLstmModelWrap::Unwrap(info[0].As<Napi::Object>())->Model(env);
      const size_t capacity = ParseSizeArg(env, info[1], "capacity");
      state_ = std::make_unique<sluice::CudaLstmState>(std::move(model), capacity);
      hostBytes_ = static_cast<int64_t>(state_->capacity() * sizeof(uint32_t));
      Napi::MemoryManagement::AdjustExternalMemory(env, hostBytes_);
    });
  }

  void Finalize(Napi::Env env) override { Release(env); }

 private:
  sluice::CudaLstmState& State(Napi::Env env) {
    if (!state_) ThrowSluiceError(env, sluice::codes::kInvalidState, "the LstmState is closed");
    return *state_;
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      sluice::CudaLstmState& state = State(env);
      auto keys = ToSpan<uint32_t>(env, info[0], "keys");
      auto x = ToSpan<float>(env, info[1], "x");
      auto out = ToSpan<float>(env, info[2], "out");
      state.Step(keys, x, out);
      return Napi::Number::New(env, static_cast<double>(keys.size * state.model().outputSize()));
    });
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      sluice::CudaLstmState& state = State(env);
      if (info[0].IsUndefined()) state.ResetAll();
      else state.Reset(ToSpan<uint32_t>(env, info[0], "keys"));
      return env.Undefined();
    });
  }

  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      const std::vector<uint8_t> bytes = State(env).Snapshot();
      Napi::Uint8Array array = Napi::Uint8Array::New(env, bytes.size());
      std::copy(bytes.begin(), bytes.end(), array.Data());
      return array;
    });
  }

  Napi::Value Restore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      sluice::CudaLstmState& state = State(env);
      auto bytes = ToSpan<uint8_t>(env, info[0], "bytes");
      state.Restore(sluice::Span<const uint8_t>(bytes.data, bytes.size));
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    sluice::CudaLstmState& state = State(env);
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

  void Release(Napi::Env env) {
    if (!state_) return;
    state_.reset();
    Napi::MemoryManagement::AdjustExternalMemory(env, -hostBytes_);
    hostBytes_ = 0;
  }

  std::unique_ptr<sluice::CudaLstmState> state_;
  int64_t hostBytes_ = 0;
};

}  // namespace

std::shared_ptr<sluice::CudaLstmModel> UnwrapCudaLstmModel(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kCudaLstmModelTag)) return nullptr;
  return CudaLstmModelWrap::Unwrap(value.As<Napi::Object>())->Model(env);
}

void InitCudaLstm(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeCudaLstmModel", CudaLstmModelWrap::Define(env));
  exports.Set("NativeCudaLstmState", CudaLstmStateWrap::Define(env));
}

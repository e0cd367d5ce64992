// NativeCudaLstmModel: new (weights, algorithm?) → NativeLstmModel's binding over the GPU model (same
// predict, predictAsync, info, close) plus setAlgorithm(name). Constructing a model where CUDA is unusable
// throws ERR_NOT_SUPPORTED naming backends().cuda.reason; lib/lstm/lstm_model.ts decides whether to fall
// back to CPU.
#include <memory>
#include <string>

#include "addon.h"
#include "lstm/cuda_lstm.h"
#include "lstm/cuda_lstm_model_binding.h"
#include "lstm/lstm_model_binding.h"
#include "lstm/lstm_model_wrap.h"

namespace {

constexpr napi_type_tag kCudaLstmModelTag = {0x5c1e7a11c0da1511ULL, 0x2b6f0e9d4a7c3e15ULL};

class CudaLstmModelWrap : public LstmModelWrapBase<CudaLstmModelWrap, sluice::CudaLstmModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineLstmModelClass(env, "NativeCudaLstmModel",
                                {InstanceMethod("setAlgorithm", &CudaLstmModelWrap::SetAlgorithm)});
  }

  CudaLstmModelWrap(const Napi::CallbackInfo& info) : LstmModelWrapBase(info) {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      const sluice::LstmModelSpec spec = ParseLstmModelSpec(env, info[0]);
      auto model = std::make_shared<sluice::CudaLstmModel>(SluiceAddon::From(env).cuda(), spec);
      if (info[1].IsString()) model->SetAlgorithm(sluice::ParseCudaLstmAlgorithm(info[1].As<Napi::String>().Utf8Value()));
      Attach(std::move(model));  // the weights live in device memory: no host bytes to report
    });
    info.This().As<Napi::Object>().TypeTag(&kCudaLstmModelTag);
  }

  static void AddBackendInfo(Napi::Object& result, const sluice::CudaLstmModel& model) {
    const sluice::CudaLstmModel::Info gpu = model.GetInfo();
    result.Set("threads", 1.0);
    result.Set("simd", "cuda");
    result.Set("weightBytes", 0.0);  // the weights live in device memory
    result.Set("deviceBytes", static_cast<double>(gpu.deviceBytes));
    result.Set("pinnedBytes", static_cast<double>(gpu.pinnedBytes));
    result.Set("algorithm", sluice::CudaLstmAlgorithmName(gpu.lastAlgorithm));
    result.Set("device", gpu.deviceName);
  }

 private:
  Napi::Value SetAlgorithm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      if (!info[0].IsString()) ThrowSluiceError(env, sluice::codes::kInvalidType, "algorithm must be a string");
      Ready(env).SetAlgorithm(sluice::ParseCudaLstmAlgorithm(info[0].As<Napi::String>().Utf8Value()));
      return env.Undefined();
    });
  }
};

}  // namespace

std::shared_ptr<sluice::CudaLstmModel> UnwrapCudaLstmModel(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kCudaLstmModelTag)) return nullptr;
  return CudaLstmModelWrap::Unwrap(value.As<Napi::Object>())->SharedCore(env);
}

void InitCudaLstmModel(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeCudaLstmModel", CudaLstmModelWrap::Define(env));
}

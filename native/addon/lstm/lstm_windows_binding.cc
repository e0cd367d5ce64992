// NativeLstmWindows: new (model, capacity, steps) over a CPU or a CUDA native model; push(keys, x, outKeys,
// out) → k, the number of distinct keys evaluated; reset(); info(); close(). The host bookkeeping (and,
// on the CPU, the rings) is reported to V8 as external memory.
#include <memory>
#include <string>

#include "addon.h"
#include "lstm/cuda_lstm.h"
#include "lstm/cuda_lstm_binding.h"
#include "lstm/lstm_model_binding.h"
#include "lstm/lstm_windows.h"
#include "typed_array.h"

namespace {

class LstmWindowsWrap : public Napi::ObjectWrap<LstmWindowsWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeLstmWindows",
                       {InstanceMethod("push", &LstmWindowsWrap::Push), InstanceMethod("reset", &LstmWindowsWrap::Reset),
                        InstanceMethod("info", &LstmWindowsWrap::Info), InstanceMethod("close", &LstmWindowsWrap::Close)});
  }

  LstmWindowsWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LstmWindowsWrap>(info) {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      const size_t capacity = ParseSizeArg(env, info[1], "capacity");
      const size_t steps = ParseSizeArg(env, info[2], "steps");
      if (auto gpu = UnwrapCudaLstmModel(env, info[0])) {
        cuda_ = std::make_unique<sluice::CudaLstmWindows>(std::move(gpu), capacity, steps);
        externalBytes_ = static_cast<int64_t>(capacity * 16);
      } else {
        cpu_ = std::make_unique<sluice::LstmWindows>(UnwrapLstmModel(env, info[0]), capacity, steps);
        externalBytes_ = static_cast<int64_t>(capacity * cpu_->BytesPerKey());
      }
      Napi::MemoryManagement::AdjustExternalMemory(env, externalBytes_);
    });
  }

  void Finalize(Napi::Env env) override { Release(env); }

 private:
  void CheckOpen(Napi::Env env) const {
    if (!cpu_ && !cuda_) ThrowSluiceError(env, sluice::codes::kInvalidState, "the LstmWindows is closed");
  }

  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      CheckOpen(env);
      auto keys = ToSpan<uint32_t>(env, info[0], "keys");
      auto x = ToSpan<float>(env, info[1], "x");
      auto outKeys = ToSpan<uint32_t>(env, info[2], "outKeys");
      auto out = ToSpan<float>(env, info[3], "out");
      const size_t k = cuda_ ? cuda_->Push(keys, x, outKeys, out) : cpu_->Push(keys, x, outKeys, out);
      return Napi::Number::New(env, static_cast<double>(k));
    });
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      CheckOpen(env);
      if (cuda_) cuda_->Reset();
      else cpu_->Reset();
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    Napi::Object result = Napi::Object::New(env);
    result.Set("capacity", static_cast<double>(cuda_ ? cuda_->capacity() : cpu_->capacity()));
    result.Set("steps", static_cast<double>(cuda_ ? cuda_->steps() : cpu_->steps()));
    result.Set("bytesPerKey", static_cast<double>(cuda_ ? cuda_->BytesPerKey() : cpu_->BytesPerKey()));
    result.Set("backend", cuda_ ? "cuda" : "cpu");
    return result;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release(info.Env());
    return info.Env().Undefined();
  }

  void Release(Napi::Env env) {
    if (!cpu_ && !cuda_) return;
    cpu_.reset();
    cuda_.reset();
    Napi::MemoryManagement::AdjustExternalMemory(env, -externalBytes_);
    externalBytes_ = 0;
  }

  std::unique_ptr<sluice::LstmWindows> cpu_;
  std::unique_ptr<sluice::CudaLstmWindows> cuda_;
  int64_t externalBytes_ = 0;
};

}  // namespace

void InitLstmWindows(Napi::Env env, Napi::Object exports) { exports.Set("NativeLstmWindows", LstmWindowsWrap::Define(env)); }

// NativeLstmWindows: new (model, capacity, steps) over a CPU or a CUDA native model; push(keys, x, outKeys,
// out) → k, the number of distinct keys evaluated; reset(); info(); close(). The host bookkeeping (and,
// on the CPU, the rings) is reported to V8 as external memory.
#include <memory>
#include <utility>
#include <variant>

#include "addon.h"
#include "arguments.h"
#include "lstm/cuda_lstm.h"
#include "lstm/cuda_lstm_model_binding.h"
#include "lstm/lstm_model_binding.h"
#include "lstm/lstm_windows.h"
#include "native_handle.h"
#include "typed_array.h"

namespace {

// The engine of the model's backend; both have the same methods.
using Windows = std::variant<sluice::LstmWindows, sluice::CudaLstmWindows>;

class LstmWindowsWrap : public NativeHandle<LstmWindowsWrap, Windows> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineHandleClass(env, "NativeLstmWindows",
                             {InstanceMethod("push", &LstmWindowsWrap::Push), InstanceMethod("reset", &LstmWindowsWrap::Reset),
                              InstanceMethod("info", &LstmWindowsWrap::Info)});
  }

  LstmWindowsWrap(const Napi::CallbackInfo& info) : NativeHandle(info, "the LstmWindows is closed") {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      const size_t capacity = SizeArg(env, info[1], "capacity");
      const size_t steps = SizeArg(env, info[2], "steps");
      if (auto gpu = UnwrapCudaLstmModel(env, info[0])) {
        Attach(std::make_shared<Windows>(std::in_place_type<sluice::CudaLstmWindows>, std::move(gpu), capacity, steps));
        ReportMemory(env, capacity * 16);  // the WindowBook's; the rings are in device memory
      } else {
        const Windows& windows = Attach(std::make_shared<Windows>(std::in_place_type<sluice::LstmWindows>,
                                                                  UnwrapLstmModel(env, info[0]), capacity, steps));
        ReportMemory(env, capacity * std::get<sluice::LstmWindows>(windows).BytesPerKey());
      }
    });
  }

 private:
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      Windows& windows = Ready(env);
      const StableColumn<uint32_t> keys(env, info[0], "keys");  // keys index the rings: checked, then used
      auto x = ToSpan<float>(env, info[1], "x");
      auto outKeys = ToSpan<uint32_t>(env, info[2], "outKeys");
      auto out = ToSpan<float>(env, info[3], "out");
      const size_t k = std::visit([&](auto& engine) { return engine.Push(keys.span(), x, outKeys, out); }, windows);
      return Napi::Number::New(env, static_cast<double>(k));
    });
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      std::visit([](auto& engine) { engine.Reset(); }, Ready(env));
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Windows& windows = Ready(env);
    Napi::Object result = Napi::Object::New(env);
    std::visit(
        [&](const auto& engine) {
          result.Set("capacity", static_cast<double>(engine.capacity()));
          result.Set("steps", static_cast<double>(engine.steps()));
          result.Set("bytesPerKey", static_cast<double>(engine.BytesPerKey()));
        },
        windows);
    result.Set("backend", std::holds_alternative<sluice::CudaLstmWindows>(windows) ? "cuda" : "cpu");
    return result;
  }
};

}  // namespace

void InitLstmWindows(Napi::Env env, Napi::Object exports) { exports.Set("NativeLstmWindows", LstmWindowsWrap::Define(env)); }

// NativeLstmWindows: new (model, capacity, steps) over a CPU or a CUDA native model; push(keys, x, outKeys,
// out) → k, the number of distinct keys evaluated; reset(); info(); close(). The host bookkeeping (and,
// on the CPU, the rings) is reported to V8 as external memory.
// CPU windows may be keyed: new (model, capacity, steps, { keys, maxKeys }); push then takes 64-bit ids or
// { bytes, offsets } (interned in the same call) or ids of live keys, outKeys gets ids; intern(keys, ids),
// undoIntern(), expire(ids | keys), keysOf(ids) serve lib (string keys are translated there).
#include <memory>
#include <utility>
#include <variant>

#include "addon.h"
#include "arguments.h"
#include "keys/key_column.h"
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
                              InstanceMethod("info", &LstmWindowsWrap::Info), InstanceMethod("intern", &LstmWindowsWrap::Intern),
                              InstanceMethod("undoIntern", &LstmWindowsWrap::UndoIntern),
                              InstanceMethod("expire", &LstmWindowsWrap::Expire), InstanceMethod("keysOf", &LstmWindowsWrap::KeysOf)});
  }

  LstmWindowsWrap(const Napi::CallbackInfo& info) : NativeHandle(info, "the LstmWindows is closed") {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      const size_t capacity = SizeArg(env, info[1], "capacity");
      const size_t steps = SizeArg(env, info[2], "steps");
      const bool keyed = info[3].IsObject();
      sluice::KeySpaceOptions space;
      if (keyed) {
        const Napi::Object o = info[3].As<Napi::Object>();
        space.kind = KeyKindArg(env, o.Get("keys"), "keys");
        const double maxKeys = NumberOption(env, o, "maxKeys", 0);
        if (!(maxKeys >= 0 && maxKeys <= 4294967295.0)) ThrowSluiceError(env, sluice::codes::kOutOfRange, "maxKeys must be a positive integer");
        if (maxKeys > 0) space.maxKeys = static_cast<uint32_t>(maxKeys);
      }
      if (auto gpu = UnwrapCudaLstmModel(env, info[0])) {
        if (keyed) ThrowSluiceError(env, sluice::codes::kNotSupported, "CUDA LstmWindows take dense ids only (no `keys` option)");
        Attach(std::make_shared<Windows>(std::in_place_type<sluice::CudaLstmWindows>, std::move(gpu), capacity, steps));
        ReportMemory(env, capacity * 16);  // the WindowBook's; the rings are in device memory
      } else {
        const Windows& windows = Attach(std::make_shared<Windows>(std::in_place_type<sluice::LstmWindows>,
                                                                  UnwrapLstmModel(env, info[0]), capacity, steps,
                                                                  keyed ? &space : nullptr));
        ReportMemory(env, std::get<sluice::LstmWindows>(windows).Bytes());
      }
    });
  }

 private:
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      Windows& windows = Ready(env);
      if (auto* cpu = std::get_if<sluice::LstmWindows>(&windows); cpu && cpu->keySpace() && !IsUint32Array(info[0])) {
        const KeyColumn keys(env, info[0], "keys");  // interned and pushed in one call
        const size_t k = cpu->PushKeys(keys.batch(), ToSpan<float>(env, info[1], "x"), ToSpan<uint32_t>(env, info[2], "outKeys"),
                                       ToSpan<float>(env, info[3], "out"));
        ReportMemory(env, cpu->Bytes());
        return Napi::Number::New(env, static_cast<double>(k));
      }
      const StableColumn<uint32_t> keys(env, info[0], "keys");  // keys index the rings: checked, then used
      auto x = ToSpan<float>(env, info[1], "x");
      auto outKeys = ToSpan<uint32_t>(env, info[2], "outKeys");
      auto out = ToSpan<float>(env, info[3], "out");
      const size_t k = std::visit([&](auto& engine) { return engine.Push(keys.span(), x, outKeys, out); }, windows);
      return Napi::Number::New(env, static_cast<double>(k));
    });
  }

  // A keyed CPU engine, else ERR_INVALID_ARGUMENT.
  sluice::LstmWindows& Keyed(Napi::Env env) {
    auto* cpu = std::get_if<sluice::LstmWindows>(&Ready(env));
    if (!cpu || !cpu->keySpace()) ThrowSluiceError(env, sluice::codes::kInvalidArgument, "these LstmWindows take dense Uint32Array ids (no `keys` kind was set)");
    return *cpu;
  }

  // intern(keys, ids): the ids of keys (new ones added; all or nothing), for lib's string keys, which then
  // pushes the ids (undoIntern() if that push is refused).
  Napi::Value Intern(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      sluice::LstmWindows& engine = Keyed(env);
      const KeyColumn keys(env, info[0], "keys");
      const auto ids = ToSpan<uint32_t>(env, info[1], "ids");
      sluice::Require(ids.size >= keys.batch().size(), sluice::codes::kInvalidLength, "ids must have one entry per key");
      // Through PushKeys' own path: intern, grow, and push nothing.
      engine.InternOnly(keys.batch(), ids);
      ReportMemory(env, engine.Bytes());
      return env.Undefined();
    });
  }

  Napi::Value UndoIntern(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      Keyed(env).UndoIntern();
      return env.Undefined();
    });
  }

  // expire(ids | keys) → how many keys were freed (their rows forgotten, ids reused); unknown keys skipped.
  Napi::Value Expire(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      sluice::LstmWindows& engine = Keyed(env);
      std::vector<uint32_t> found;
      StableColumn<uint32_t> idColumn;
      sluice::Span<const uint32_t> ids;
      if (IsUint32Array(info[0])) {
        idColumn = StableColumn<uint32_t>(env, info[0], "ids");
        ids = idColumn.span();
      } else {
        const KeyColumn keys(env, info[0], "keys");
        found = HeldIds(engine.keySpace()->dictionary(), keys.batch());
        ids = sluice::Span<const uint32_t>(found.data(), found.size());
      }
      const size_t freed = engine.Expire(ids);
      ReportMemory(env, engine.Bytes());
      return Napi::Number::New(env, static_cast<double>(freed));
    });
  }

  Napi::Value KeysOf(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      sluice::LstmWindows& engine = Keyed(env);
      const StableColumn<uint32_t> ids(env, info[0], "ids");
      return KeysOfIds(env, engine.keySpace()->dictionary(), ids.span());
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
    if (const auto* cpu = std::get_if<sluice::LstmWindows>(&windows); cpu && cpu->keySpace()) {
      result.Set("liveKeys", static_cast<double>(cpu->keySpace()->live()));
      result.Set("expiredKeys", cpu->keySpace()->expiredTotal());
      result.Set("bytes", static_cast<double>(cpu->Bytes()));
    }
    return result;
  }
};

}  // namespace

void InitLstmWindows(Napi::Env env, Napi::Object exports) { exports.Set("NativeLstmWindows", LstmWindowsWrap::Define(env)); }

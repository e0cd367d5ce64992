// NativeLstmState: new (model, capacity); step(keys, x, out) → floats written; reset(keys?); snapshot() →
// Uint8Array; restore(bytes); close(); info(). The table is reported to V8 as external memory.
#include <memory>
#include <string>

#include "addon.h"
#include "lstm_model_binding.h"
#include "lstm_state.h"
#include "typed_array.h"

namespace {

class LstmStateWrap : public Napi::ObjectWrap<LstmStateWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeLstmState",
                       {InstanceMethod("step", &LstmStateWrap::Step), InstanceMethod("reset", &LstmStateWrap::Reset),
                        InstanceMethod("snapshot", &LstmStateWrap::Snapshot),
                        InstanceMethod("restore", &LstmStateWrap::Restore), InstanceMethod("info", &LstmStateWrap::Info),
                        InstanceMethod("close", &LstmStateWrap::Close)});
  }

  LstmStateWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LstmStateWrap>(info) {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      auto model = UnwrapLstmModel(env, info[0]);
      if (!info[1].IsNumber()) ThrowSluiceError(env, sluice::codes::kInvalidType, "capacity must be a number");
      const double capacity = info[1].As<Napi::Number>().DoubleValue();
      if (!(capacity >= 1 && capacity <= 4294967295.0) || capacity != static_cast<double>(static_cast<int64_t>(capacity))) {
        ThrowSluiceError(env, sluice::codes::kOutOfRange, "capacity must be an integer in [1, 4294967295]");
      }
      state_ = std::make_unique<sluice::LstmState>(std::move(model), static_cast<size_t>(capacity));
      externalBytes_ = static_cast<int64_t>(state_->Bytes());
      Napi::MemoryManagement::AdjustExternalMemory(env, externalBytes_);
    });
  }

  void Finalize(Napi::Env env) override { Release(env); }

 private:
  sluice::LstmState& State(Napi::Env env) {
    if (!state_) ThrowSluiceError(env, sluice::codes::kInvalidState, "the LstmState is closed");
    return *state_;
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      sluice::LstmState& state = State(env);
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
      sluice::LstmState& state = State(env);
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
      sluice::LstmState& state = State(env);
      auto bytes = ToSpan<uint8_t>(env, info[0], "bytes");
      state.Restore(sluice::Span<const uint8_t>(bytes.data, bytes.size));
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    sluice::LstmState& state = State(env);
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
    Napi::MemoryManagement::AdjustExternalMemory(env, -externalBytes_);
    externalBytes_ = 0;
  }

  std::unique_ptr<sluice::LstmState> state_;
  int64_t externalBytes_ = 0;
};

}  // namespace

void InitLstmState(Napi::Env env, Napi::Object exports) { exports.Set("NativeLstmState", LstmStateWrap::Define(env)); }

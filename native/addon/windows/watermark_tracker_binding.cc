// WatermarkTracker for JS. Processing time (`now`) always comes from lib/watermark_tracker.ts, which takes
// it from the caller or from the injectable clock.
#include <memory>

#include "addon.h"
#include "arguments.h"
#include "native_handle.h"
#include "typed_array.h"
#include "windows/watermark_tracker.h"

namespace {

using sluice::WatermarkTracker;

uint32_t InputArg(Napi::Env env, const Napi::Value& v) {
  const double x = NumberArg(env, v, "input");
  if (!(x >= 0 && x <= 4294967295.0) || x != static_cast<double>(static_cast<uint32_t>(x))) {
    ThrowSluiceError(env, sluice::codes::kOutOfRange, "input must be an input index");
  }
  return static_cast<uint32_t>(x);
}

class WatermarkTrackerBinding : public NativeHandle<WatermarkTrackerBinding, WatermarkTracker> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineHandleClass(env, "WatermarkTracker",
                             {InstanceMethod("observe", &WatermarkTrackerBinding::Observe),
                              InstanceMethod("markIdle", &WatermarkTrackerBinding::MarkIdle),
                              InstanceMethod("markActive", &WatermarkTrackerBinding::MarkActive),
                              InstanceMethod("update", &WatermarkTrackerBinding::Update),
                              InstanceMethod("idle", &WatermarkTrackerBinding::Idle),
                              InstanceMethod("input", &WatermarkTrackerBinding::Input),
                              InstanceMethod("snapshot", &WatermarkTrackerBinding::Snapshot),
                              InstanceMethod("restore", &WatermarkTrackerBinding::Restore)});
  }

  // new WatermarkTracker(inputs, bound, idleTimeout, now)
  explicit WatermarkTrackerBinding(const Napi::CallbackInfo& info) : NativeHandle(info, "WatermarkTracker is closed") {
    Napi::Env env = info.Env();
    sluice::WatermarkTrackerOptions options;
    const double inputs = NumberArg(env, info[0], "inputs");
    if (!(inputs >= 1 && inputs <= 4294967295.0)) ThrowSluiceError(env, sluice::codes::kOutOfRange, "inputs out of range");
    options.inputs = static_cast<uint32_t>(inputs);
    options.bound = NumberArg(env, info[1], "bound");
    options.idleTimeout = NumberArg(env, info[2], "idleTimeout");
    const double now = NumberArg(env, info[3], "now");
    TranslateErrors(env, [&] { Attach(std::make_shared<WatermarkTracker>(options, now)); });
  }

 private:
  // observe(input, timestamps, now) → combined watermark
  Napi::Value Observe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    WatermarkTracker& tracker = Ready(env);
    const uint32_t input = InputArg(env, info[0]);
    const auto timestamps = ToSpan<double>(env, info[1], "timestamps");
    const double now = NumberArg(env, info[2], "now");
    return TranslateErrors(env, [&] {
      tracker.Observe(input, sluice::Span<const double>(timestamps.data, timestamps.size), now);
      return Napi::Number::New(env, tracker.watermark());
    });
  }

  Napi::Value MarkIdle(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    WatermarkTracker& tracker = Ready(env);
    const uint32_t input = InputArg(env, info[0]);
    return TranslateErrors(env, [&] {
      tracker.MarkIdle(input);
      return Napi::Number::New(env, tracker.watermark());
    });
  }

  Napi::Value MarkActive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    WatermarkTracker& tracker = Ready(env);
    const uint32_t input = InputArg(env, info[0]);
    const double now = NumberArg(env, info[1], "now");
    return TranslateErrors(env, [&] {
      tracker.MarkActive(input, now);
      return Napi::Number::New(env, tracker.watermark());
    });
  }

  // update(now) → combined watermark after idleness timeouts at `now`
  Napi::Value Update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    WatermarkTracker& tracker = Ready(env);
    const double now = NumberArg(env, info[0], "now");
    return TranslateErrors(env, [&] { return Napi::Number::New(env, tracker.Update(now)); });
  }

  Napi::Value Idle(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Ready(info.Env()).idle()); }

  // input(i) → { watermark, idle, aligned }
  Napi::Value Input(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    WatermarkTracker& tracker = Ready(env);
    const uint32_t input = InputArg(env, info[0]);
    return TranslateErrors(env, [&] {
      Napi::Object o = Napi::Object::New(env);
      o.Set("watermark", tracker.InputWatermark(input));
      o.Set("idle", tracker.InputIdle(input));
      o.Set("aligned", tracker.InputAligned(input));
      return o;
    });
  }
};

}  // namespace

void InitWatermarkTracker(Napi::Env env, Napi::Object exports) {
  exports.Set("WatermarkTracker", WatermarkTrackerBinding::Define(env));
}

// EventTimeWindows for JS: keyed tumbling / sliding / session windows driven by event time. Inputs are the
// caller's typed arrays (zero-copy); fired windows are staged natively and copied out by readFired into
// arrays that lib/event_time_windows.ts reuses.
#include <memory>

#include "addon.h"
#include "arguments.h"
#include "native_handle.h"
#include "typed_array.h"
#include "windows/aggregates_option.h"
#include "windows/event_time_windows.h"

namespace {

using sluice::EventTimeWindows;

sluice::EventTimeWindowsOptions ParseOptions(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) ThrowSluiceError(env, sluice::codes::kInvalidType, "options must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  sluice::EventTimeWindowsOptions options;
  const std::string kind = o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : "";
  if (kind == "tumbling") options.kind = sluice::WindowKind::kTumbling;
  else if (kind == "sliding") options.kind = sluice::WindowKind::kSliding;
  else if (kind == "session") options.kind = sluice::WindowKind::kSession;
  else ThrowSluiceError(env, sluice::codes::kInvalidArgument, "kind must be tumbling, sliding or session");
  options.size = NumberOption(env, o, "size", 0);
  options.slide = NumberOption(env, o, "slide", options.kind == sluice::WindowKind::kTumbling ? options.size : 0);
  options.gap = NumberOption(env, o, "gap", 0);
  options.offset = NumberOption(env, o, "offset", 0);
  options.allowedLateness = NumberOption(env, o, "allowedLateness", 0);
  options.horizon = NumberOption(env, o, "horizon", 0);
  const double keyCount = NumberOption(env, o, "keyCount", 1), channels = NumberOption(env, o, "channels", 1);
  if (!(keyCount >= 1 && keyCount <= 4294967295.0) || !(channels >= 1 && channels <= 4294967295.0)) {
    ThrowSluiceError(env, sluice::codes::kOutOfRange, "keyCount and channels must be positive integers");
  }
  options.keyCount = static_cast<uint32_t>(keyCount);
  options.channels = static_cast<uint32_t>(channels);
  options.aggregates = AggregatesOption(env, o);
  return options;
}

class EventTimeWindowsBinding : public NativeHandle<EventTimeWindowsBinding, EventTimeWindows> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineHandleClass(env, "EventTimeWindows",
                             {InstanceMethod("push", &EventTimeWindowsBinding::Push),
                              InstanceMethod("advance", &EventTimeWindowsBinding::Advance),
                              InstanceMethod("flush", &EventTimeWindowsBinding::Flush),
                              InstanceMethod("firing", &EventTimeWindowsBinding::Firing),
                              InstanceMethod("readFired", &EventTimeWindowsBinding::ReadFired),
                              InstanceMethod("watermark", &EventTimeWindowsBinding::Watermark),
                              InstanceMethod("metrics", &EventTimeWindowsBinding::Metrics),
                              InstanceMethod("info", &EventTimeWindowsBinding::Info),
                              InstanceMethod("snapshot", &EventTimeWindowsBinding::Snapshot),
                              InstanceMethod("restore", &EventTimeWindowsBinding::Restore)});
  }

  explicit EventTimeWindowsBinding(const Napi::CallbackInfo& info) : NativeHandle(info, "EventTimeWindows is closed") {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      ReportEngineMemory(env, Attach(std::make_shared<EventTimeWindows>(ParseOptions(env, info[0]))));
    });
  }

 private:
  // After a call that adds or frees panes.
  void ReportEngineMemory(Napi::Env env, const EventTimeWindows& engine) {
    ReportMemory(env, engine.MemoryBytes());
  }

  // advance() and flush(): `fire` fires windows of `engine` → the number fired.
  template <class Fire>
  Napi::Value FiredCount(Napi::Env env, const EventTimeWindows& engine, Fire fire) {
    return TranslateErrors(env, [&] {
      const size_t fired = fire();
      ReportEngineMemory(env, engine);
      return Napi::Number::New(env, static_cast<double>(fired));
    });
  }

  // push(timestamps, keys | undefined, values, lateOut) → number of late events written to lateOut.
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    // Timestamps and keys are checked in one pass and index panes in the next: StableColumn copies them
    // when another thread can change them meanwhile (a SharedArrayBuffer).
    const StableColumn<double> timestamps(env, info[0], "timestamps");
    const auto keys = StableColumn<uint32_t>::Optional(env, info[1], "keys");
    const FloatSpan values = ToFloatSpan(env, info[2], "values");
    const auto lateOut = ToSpan<uint32_t>(env, info[3], "lateOut");
    return TranslateErrors(env, [&] {
      const size_t late = values.isFloat32
                              ? engine.Push<float>(timestamps.span(), keys.span(), values.f32, lateOut)
                              : engine.Push<double>(timestamps.span(), keys.span(), values.f64, lateOut);
      return Napi::Number::New(env, static_cast<double>(late));
    });
  }

  Napi::Value Advance(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    const double watermark = NumberArg(env, info[0], "watermark");
    return FiredCount(env, engine, [&] { return engine.AdvanceWatermark(watermark); });
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    EventTimeWindows& engine = Ready(info.Env());
    return FiredCount(info.Env(), engine, [&] { return engine.Flush(); });
  }

  // firing(watermark) → how many windows advance(watermark) would fire now (+Infinity: flush()); fires none.
  Napi::Value Firing(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    const double watermark = NumberArg(env, info[0], "watermark");
    return TranslateErrors(env, [&] { return Napi::Number::New(env, static_cast<double>(engine.FiringCount(watermark))); });
  }

  // readFired(keys, starts, ends, counts, updates, values): copies the windows fired by the last call.
  Napi::Value ReadFired(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const sluice::FiredWindows& fired = Ready(env).fired();
    const size_t n = fired.size();
    auto keys = ToSpan<uint32_t>(env, info[0], "key");
    auto starts = ToSpan<double>(env, info[1], "start");
    auto ends = ToSpan<double>(env, info[2], "end");
    auto counts = ToSpan<double>(env, info[3], "count");
    auto updates = ToSpan<uint8_t>(env, info[4], "updated");
    auto values = ToSpan<double>(env, info[5], "values");
    if (keys.size < n || starts.size < n || ends.size < n || counts.size < n || updates.size < n ||
        values.size < fired.values.size()) {
      ThrowSluiceError(env, sluice::codes::kInvalidLength, "output arrays are too small for the fired windows");
    }
    std::copy(fired.keys.begin(), fired.keys.end(), keys.data);
    std::copy(fired.starts.begin(), fired.starts.end(), starts.data);
    std::copy(fired.ends.begin(), fired.ends.end(), ends.data);
    std::copy(fired.counts.begin(), fired.counts.end(), counts.data);
    std::copy(fired.updates.begin(), fired.updates.end(), updates.data);
    std::copy(fired.values.begin(), fired.values.end(), values.data);
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value Watermark(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Ready(info.Env()).watermark()); }

  Napi::Value Metrics(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const sluice::WindowMetrics& m = Ready(env).metrics();
    Napi::Object o = Napi::Object::New(env);
    o.Set("onTime", m.onTime);
    o.Set("updating", m.updating);
    o.Set("late", m.late);
    o.Set("firedWindows", m.firedWindows);
    o.Set("updateFirings", m.updateFirings);
    o.Set("ignoredWatermarks", m.ignoredWatermarks);
    return o;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("ringPanes", engine.ringPanes());
    o.Set("memoryBytes", static_cast<double>(engine.MemoryBytes()));
    return o;
  }

  Napi::Value Restore(const Napi::CallbackInfo& info) {
    ReportEngineMemory(info.Env(), RestoreFrom(info));
    return info.Env().Undefined();
  }
};

}  // namespace

void InitEventTimeWindows(Napi::Env env, Napi::Object exports) {
  exports.Set("EventTimeWindows", EventTimeWindowsBinding::Define(env));
}

// EventTimeWindows for JS: keyed tumbling / sliding / session windows driven by event time. Inputs are the
// caller's typed arrays (zero-copy); fired windows are staged natively and copied out by readFired into
// arrays that lib/event_time_windows.ts reuses.
#include <memory>
#include <vector>

#include "addon.h"
#include "arguments.h"
#include "keys/key_column.h"
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
  // Key spaces: keys of another kind (a dictionary), or dense ids that grow up to maxKeys.
  const Napi::Value keys = o.Get("keys");
  const double maxKeys = NumberOption(env, o, "maxKeys", 0), keyTtl = NumberOption(env, o, "keyTtl", 0);
  if (!(maxKeys >= 0 && maxKeys <= 4294967295.0)) ThrowSluiceError(env, sluice::codes::kOutOfRange, "maxKeys must be a positive integer");
  if (!keys.IsUndefined() && !(keys.IsString() && keys.As<Napi::String>().Utf8Value() == "dense")) {
    sluice::KeySpaceOptions space;
    space.kind = KeyKindArg(env, keys, "keys");
    if (maxKeys > 0) space.maxKeys = static_cast<uint32_t>(maxKeys);
    space.keyTtl = keyTtl;
    options.keySpace = space;
  } else {
    if (keyTtl != 0) ThrowSluiceError(env, sluice::codes::kInvalidArgument, "keyTtl needs keys of a kind (string, bigint, bytes)");
    options.maxKeys = static_cast<uint32_t>(maxKeys);
  }
  AggregateColumns columns = AggregateColumnsOption(env, o, /*distinct=*/true);
  options.aggregates = std::move(columns.aggregates);
  options.quantiles = std::move(columns.quantiles);
  const SketchOptions sketches = SketchOptionsOf(env, o);
  options.accuracy = sketches.accuracy;
  options.distinctPrecision = sketches.distinctPrecision;
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
                              InstanceMethod("intern", &EventTimeWindowsBinding::Intern),
                              InstanceMethod("undoIntern", &EventTimeWindowsBinding::UndoIntern),
                              InstanceMethod("expire", &EventTimeWindowsBinding::Expire),
                              InstanceMethod("expired", &EventTimeWindowsBinding::Expired),
                              InstanceMethod("keysOf", &EventTimeWindowsBinding::KeysOf),
                              InstanceMethod("held", &EventTimeWindowsBinding::Held),
                              InstanceMethod("liveIds", &EventTimeWindowsBinding::LiveIds),
                              InstanceMethod("snapshot", &EventTimeWindowsBinding::Snapshot),
                              InstanceMethod("restore", &EventTimeWindowsBinding::Restore),
                              InstanceMethod("snapshotDelta", &EventTimeWindowsBinding::SnapshotDelta),
                              InstanceMethod("applyDelta", &EventTimeWindowsBinding::ApplyDelta),
                              InstanceMethod("changedKeys", &EventTimeWindowsBinding::ChangedKeys)});
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

  // push(timestamps, keys | undefined, values, lateOut) → number of late events written to lateOut. keys:
  // dense ids (Uint32Array), or for a key space 64-bit ids or { bytes, offsets }, interned here first.
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    // Timestamps and keys are checked in one pass and index panes in the next: StableColumn / KeyColumn
    // copy them when another thread can change them meanwhile (a SharedArrayBuffer).
    const StableColumn<double> timestamps(env, info[0], "timestamps");
    StableColumn<uint32_t> keys;
    KeyColumn keyColumn;
    const bool interned = !info[1].IsUndefined() && !IsUint32Array(info[1]);
    if (interned) keyColumn = KeyColumn(env, info[1], "keys");
    else keys = StableColumn<uint32_t>::Optional(env, info[1], "keys");
    const FloatSpan values = ToFloatSpan(env, info[2], "values");
    const auto lateOut = ToSpan<uint32_t>(env, info[3], "lateOut");
    return TranslateErrors(env, [&] {
      size_t late;
      if (interned) {
        late = values.isFloat32 ? engine.PushKeys<float>(timestamps.span(), keyColumn.batch(), values.f32, lateOut)
                                : engine.PushKeys<double>(timestamps.span(), keyColumn.batch(), values.f64, lateOut);
      } else {
        late = values.isFloat32 ? engine.Push<float>(timestamps.span(), keys.span(), values.f32, lateOut)
                                : engine.Push<double>(timestamps.span(), keys.span(), values.f64, lateOut);
      }
      return Napi::Number::New(env, static_cast<double>(late));
    });
  }

  static bool IsUint32Array(const Napi::Value& value) {
    return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array;
  }

  // intern(keys, ids) → undefined: the ids of keys (packed bytes or 64-bit ids), new keys added; all or
  // nothing. For callers that translate keys themselves (lib's string cache) and push the ids after.
  Napi::Value Intern(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    const KeyColumn keys(env, info[0], "keys");
    const sluice::KeyBatch& batch = keys.batch();
    const auto ids = ToSpan<uint32_t>(env, info[1], "ids");
    TranslateErrors(env, [&] { engine.Intern(batch, ids); });
    return env.Undefined();
  }

  // undoIntern(): forgets the keys the last intern() created (the push that was to use them failed).
  Napi::Value UndoIntern(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    TranslateErrors(env, [&] { engine.UndoIntern(); });
    return env.Undefined();
  }

  // expire(ids | keys) → number of keys freed now (with their open windows). Keys (64-bit ids or packed
  // bytes) that the windows do not hold are skipped.
  Napi::Value Expire(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    const bool byId = IsUint32Array(info[0]);
    StableColumn<uint32_t> idColumn;
    KeyColumn keys;
    if (byId) idColumn = StableColumn<uint32_t>(env, info[0], "ids");
    else keys = KeyColumn(env, info[0], "keys");
    sluice::Span<const uint32_t> ids = idColumn.span();
    const sluice::KeyBatch& batch = keys.batch();
    return TranslateErrors(env, [&] {
      std::vector<uint32_t> found;
      if (!byId) {
        sluice::Require(engine.keySpace() != nullptr, sluice::codes::kInvalidArgument, "expire() needs a key space (the `keys` option)");
        found = HeldIds(engine.keySpace()->dictionary(), batch);
        ids = sluice::Span<const uint32_t>(found.data(), found.size());
      }
      const size_t freed = engine.Expire(ids).size();
      ReportEngineMemory(env, engine);
      return Napi::Number::New(env, static_cast<double>(freed));
    });
  }

  // expired() → Uint32Array: the ids freed by the last advance / flush (keyTtl) or expire().
  Napi::Value Expired(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return CopyToTypedArray(env, Ready(env).expiredIds());
  }

  // keysOf(ids) → the keys of live ids: BigUint64Array / BigInt64Array, or { bytes, offsets }.
  Napi::Value KeysOf(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    if (!engine.keySpace()) ThrowSluiceError(env, sluice::codes::kInvalidArgument, "keysOf() needs a key space (the `keys` option)");
    const StableColumn<uint32_t> ids(env, info[0], "ids");  // checked live, then read: one read each
    return KeysOfIds(env, engine.keySpace()->dictionary(), ids.span());
  }

  // held(keys, out): out[i] = 1 when key i (64-bit ids or { bytes, offsets }) is live, else 0.
  Napi::Value Held(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    if (!engine.keySpace()) ThrowSluiceError(env, sluice::codes::kInvalidArgument, "held() needs a key space (the `keys` option)");
    const KeyColumn keys(env, info[0], "keys");
    const auto held = ToSpan<uint8_t>(env, info[1], "held");
    TranslateErrors(env, [&] { HeldKeys(engine.keySpace()->dictionary(), keys.batch(), held); });
    return env.Undefined();
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

  // liveIds() → Uint32Array: every live key's id, ascending (to rebuild lib's string map after a restore).
  Napi::Value LiveIds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const sluice::KeySpace* space = Ready(env).keySpace();
    return LiveIdsOf(env, space ? &space->dictionary() : nullptr);
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
    if (Ready(env).keySpace()) {  // interned keys only: dense ids have no key count to report
      o.Set("liveKeys", m.liveKeys);
      o.Set("expiredKeys", m.expiredKeys);
    }
    return o;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EventTimeWindows& engine = Ready(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("ringPanes", engine.ringPanes());
    o.Set("memoryBytes", static_cast<double>(engine.MemoryBytes()));
    o.Set("keyCapacity", engine.options().keyCount);
    if (const sluice::KeySpace* space = engine.keySpace()) {
      o.Set("keyBytes", static_cast<double>(space->dictionary().KeyBytes()));
      o.Set("dictionaryBytes", static_cast<double>(space->MemoryBytes()));
    }
    return o;
  }

  Napi::Value Restore(const Napi::CallbackInfo& info) {
    ReportEngineMemory(info.Env(), RestoreFrom(info));
    return info.Env().Undefined();
  }

  // applyDelta(bytes) → { changed, live } (NativeHandle::ApplyDeltaFrom).
  Napi::Value ApplyDelta(const Napi::CallbackInfo& info) {
    Napi::Value out = ApplyDeltaFrom(info);
    ReportEngineMemory(info.Env(), Ready(info.Env()));
    return out;
  }

  Napi::Value ChangedKeys(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(Ready(info.Env()).changedKeys()));
  }
};

}  // namespace

void InitEventTimeWindows(Napi::Env env, Napi::Object exports) {
  exports.Set("EventTimeWindows", EventTimeWindowsBinding::Define(env));
}

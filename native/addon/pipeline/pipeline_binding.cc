// NativePipeline: the Pipeline's native pass (native/core/pipeline/pipeline_core.h) for lib/pipeline/pipeline.ts.
//   new (options, model: NativeLstmModel | undefined, now)
//   process(input, timestamps, keys?, values, labels?, now, modelOpen, status) → ArrayBuffer of the result's columns
//   advanceTo(watermark, modelOpen, status), finish(modelOpen, status) → the same
//   processAsync / advanceToAsync / finishAsync(…same arguments) → Promise of it: the whole pass is one
//     queued work item over copies of the inputs (the caller may change or detach its arrays meanwhile);
//     the object is busy until it settles
//   metrics() → counters, watermark, firedWindows, liveKeys, expiredKeys, keyCapacity, memoryBytes (as of
//     the last settled call: allowed while busy)
//   With a key space (options.keys of a kind): process()'s keys are 64-bit ids or { bytes, offsets }
//     (interned in the pass) or ids of live keys (Uint32Array, from intern()); intern(keys, ids),
//     undoIntern() → whether it forgot keys, expire(ids | keys) → freed, expired() → ids freed by the last
//     call, keysOf(ids), liveIds()
//   snapshot(), restore(bytes), snapshotDelta(), applyDelta(bytes) → { changed, live }, close()
// `status` (Float64Array of 3) receives rows, late events and the watermark of the result: one typed array
// write instead of a result object per call. The buffer's layout is ResultLayout's; options.reuseResults:
// every call returns the same buffer (rewritten) while it is large enough.
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "arguments.h"
#include "keys/key_column.h"
#include "lstm/lstm_model_binding.h"
#include "native_handle.h"
#include "pipeline/pipeline_core.h"
#include "typed_array.h"
#include "windows/aggregates_option.h"

namespace {

using sluice::NumberColumn;
using sluice::PipelineCore;

uint32_t Uint32Option(Napi::Env env, const Napi::Object& o, const char* name, double fallback) {
  const double value = NumberOption(env, o, name, fallback);
  if (!(value >= 0 && value <= 4294967295.0) || value != static_cast<double>(static_cast<int64_t>(value))) {
    ThrowSluiceError(env, sluice::codes::kOutOfRange, std::string(name) + " must be an integer in [0, 4294967295]");
  }
  return static_cast<uint32_t>(value);
}

sluice::FeatureScaler ScalerOption(Napi::Env env, const Napi::Object& o, const char* name) {
  sluice::FeatureScaler scaler;
  const Napi::Value value = o.Get(name);
  if (value.IsUndefined()) return scaler;
  if (!value.IsObject()) ThrowSluiceError(env, sluice::codes::kInvalidType, std::string(name) + " must be { offset, scale }");
  const Napi::Object s = value.As<Napi::Object>();
  const sluice::Span<double> offset = ToSpan<double>(env, s.Get("offset"), "offset");
  const sluice::Span<double> scale = ToSpan<double>(env, s.Get("scale"), "scale");
  scaler.offset.assign(offset.begin(), offset.end());
  scaler.scale.assign(scale.begin(), scale.end());
  return scaler;
}

sluice::PipelineCoreOptions ParseOptions(Napi::Env env, const Napi::Value& value, const Napi::Value& model) {
  if (!value.IsObject()) ThrowSluiceError(env, sluice::codes::kInvalidType, "options must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  sluice::PipelineCoreOptions options;
  options.inputs = Uint32Option(env, o, "inputs", 1);
  options.keyCount = Uint32Option(env, o, "keyCount", 1);
  const Napi::Value keys = o.Get("keys");
  const double keyTtl = NumberOption(env, o, "keyTtl", 0);
  if (!keys.IsUndefined() && !(keys.IsString() && keys.As<Napi::String>().Utf8Value() == "dense")) {
    sluice::KeySpaceOptions space;
    space.kind = KeyKindArg(env, keys, "keys");
    space.maxKeys = Uint32Option(env, o, "maxKeys", sluice::kMaxDictionaryKeys);
    space.keyTtl = keyTtl;
    options.keySpace = space;
  } else if (keyTtl != 0 || !o.Get("maxKeys").IsUndefined()) {
    ThrowSluiceError(env, sluice::codes::kInvalidArgument, "maxKeys and keyTtl need keys of a kind (string, bigint, bytes)");
  }
  options.channels = Uint32Option(env, o, "channels", 1);
  options.size = NumberOption(env, o, "size", 1);
  options.slide = NumberOption(env, o, "slide", options.size);
  options.offset = NumberOption(env, o, "offset", 0);
  options.horizon = NumberOption(env, o, "horizon", 0);
  options.bound = NumberOption(env, o, "bound", 0);
  options.idleTimeout = NumberOption(env, o, "idleTimeout", options.idleTimeout);
  options.labels = o.Get("labels").ToBoolean();
  options.maxFill = Uint32Option(env, o, "maxFill", 120);
  // The features' columns as the windows take them: aggregates (sketches included), then `quantiles`.
  AggregateColumns features = AggregateColumnsOption(env, o, /*distinct=*/true);
  options.features = std::move(features.aggregates);
  options.quantiles = std::move(features.quantiles);
  const SketchOptions sketches = SketchOptionsOf(env, o);
  options.accuracy = sketches.accuracy;
  options.distinctPrecision = sketches.distinctPrecision;
  const std::string mode = o.Get("mode").IsString() ? o.Get("mode").As<Napi::String>().Utf8Value() : "none";
  options.mode = mode == "window" ? sluice::ForecastMode::kWindow : mode == "state" ? sluice::ForecastMode::kState : sluice::ForecastMode::kNone;
  if (options.mode != sluice::ForecastMode::kNone) options.model = UnwrapLstmModel(env, model);
  options.steps = Uint32Option(env, o, "steps", 1);
  options.changeTarget = o.Get("changeTarget").ToBoolean();
  options.inputScaler = ScalerOption(env, o, "inputScaler");
  options.targetScaler = ScalerOption(env, o, "targetScaler");
  options.scoreColumns = o.Get("scoreColumns").ToBoolean();
  options.anomaly = o.Get("anomaly").ToBoolean();
  if (options.anomaly) {
    options.zscore.window = Uint32Option(env, o, "zWindow", 60);
    options.zscore.warmup = Uint32Option(env, o, "zWarmup", 10);
    options.zscore.minStd = NumberOption(env, o, "zMinStd", 1e-9);
    options.zscore.excludeFlagged = o.Get("zExcludeFlagged").ToBoolean();
    options.zscore.threshold = NumberOption(env, o, "zThreshold", 4);
  }
  return options;
}

// A Float64Array, Float32Array or Uint8Array argument (over an ArrayBuffer or a SharedArrayBuffer).
NumberColumn ColumnArg(Napi::Env env, const Napi::Value& value, const char* name) {
  NumberColumn column;
  if (value.IsUndefined()) return column;
  auto take = [&](NumberColumn::Type type, auto span) {
    column.type = type;
    column.data = span.data;
    column.size = span.size;
  };
  const napi_typedarray_type type = value.IsTypedArray() ? value.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
  if (type == napi_float64_array) take(NumberColumn::Type::kFloat64, ToSpan<double>(env, value, name));
  else if (type == napi_float32_array) take(NumberColumn::Type::kFloat32, ToSpan<float>(env, value, name));
  else if (type == napi_uint8_array) take(NumberColumn::Type::kUint8, ToSpan<uint8_t>(env, value, name));
  else ThrowSluiceError(env, sluice::codes::kInvalidType, std::string(name) + " must be a Float64Array, Float32Array or Uint8Array");
  return column;
}

// process()'s arguments as spans over the caller's arrays; keys of a kind other than ids go to `keyColumn`
// (keep it alive while the batch is used).
sluice::PipelineBatch BatchArgs(const Napi::CallbackInfo& info, KeyColumn& keyColumn) {
  Napi::Env env = info.Env();
  sluice::PipelineBatch batch;
  const size_t input = SizeArg(env, info[0], "input");
  if (input > UINT32_MAX) ThrowSluiceError(env, sluice::codes::kOutOfRange, "input is out of range");
  batch.input = static_cast<uint32_t>(input);
  batch.timestamps = ToSpan<double>(env, info[1], "timestamps");
  if (IsUint32Array(info[2])) {
    batch.keys = ToSpan<uint32_t>(env, info[2], "keys");
  } else if (!info[2].IsUndefined()) {
    keyColumn = KeyColumn(env, info[2], "keys");
    batch.keyBatch = &keyColumn.batch();
  }
  batch.values = ColumnArg(env, info[3], "values");
  batch.labels = ColumnArg(env, info[4], "labels");
  batch.now = NumberArg(env, info[5], "now");
  return batch;
}

// A copy of one column in memory the async work owns.
struct OwnedColumn {
  std::vector<uint8_t> bytes;
  NumberColumn Take(const NumberColumn& column) {
    const size_t width = column.type == NumberColumn::Type::kFloat64 ? 8 : column.type == NumberColumn::Type::kFloat32 ? 4 : 1;
    bytes.resize(column.size * width + 8);  // + 8: keeps data() valid and aligned for an empty column
    if (column.size > 0) std::memcpy(bytes.data(), column.data, column.size * width);
    NumberColumn owned = column;
    owned.data = bytes.data();
    return owned;
  }
};

// What one async call owns: its inputs (copied on the JS thread) and the result buffer the worker fills.
struct AsyncCall {
  std::vector<double> timestamps;
  std::vector<uint32_t> keys;
  std::vector<uint64_t> keyWords;  // keys of a kind: the batch's words, or its bytes and offsets
  std::vector<uint8_t> keyBytes;
  std::vector<uint32_t> keyOffsets;
  sluice::KeyBatch keyBatch;
  OwnedColumn values, labels;
  sluice::PipelineBatch batch;
  double watermark = 0;
  std::vector<uint8_t> out;
  // A result buffer made on the JS thread before the call, the size of the last result (a steady stream's
  // next one is usually the same): no JavaScript sees it before the call completes, so the worker writes
  // the result into it directly, instead of into `out` and copied over on the JS thread.
  uint8_t* ready = nullptr;
  size_t readyBytes = 0;
  bool wroteReady = false;
  sluice::PipelineResult result;

  void Own(const sluice::PipelineBatch& from) {
    batch = from;
    timestamps.assign(from.timestamps.begin(), from.timestamps.end());
    keys.assign(from.keys.begin(), from.keys.end());
    batch.timestamps = {timestamps.data(), timestamps.size()};
    batch.keys = {keys.data(), keys.size()};
    if (from.keyBatch != nullptr) {
      const sluice::KeyBatch& k = *from.keyBatch;
      keyWords.assign(k.words.begin(), k.words.end());
      keyBytes.assign(k.bytes.begin(), k.bytes.end());
      keyOffsets.assign(k.offsets.begin(), k.offsets.end());
      keyBatch.packed = k.packed;
      keyBatch.words = {keyWords.data(), keyWords.size()};
      keyBatch.bytes = {keyBytes.data(), keyBytes.size()};
      keyBatch.offsets = {keyOffsets.data(), keyOffsets.size()};
      batch.keyBatch = &keyBatch;
    }
    batch.values = values.Take(from.values);
    batch.labels = labels.Take(from.labels);
  }
  PipelineCore::Allocate Allocator() {
    return [this](size_t bytes) {
      wroteReady = ready != nullptr && bytes == readyBytes;
      if (wroteReady) return ready;
      out.resize(bytes);
      return out.data();
    };
  }
};

class PipelineBinding : public NativeHandle<PipelineBinding, PipelineCore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineHandleClass(env, "NativePipeline",
                             {InstanceMethod("process", &PipelineBinding::Process),
                              InstanceMethod("processAsync", &PipelineBinding::ProcessAsync),
                              InstanceMethod("advanceTo", &PipelineBinding::AdvanceTo),
                              InstanceMethod("advanceToAsync", &PipelineBinding::AdvanceToAsync),
                              InstanceMethod("finish", &PipelineBinding::Finish),
                              InstanceMethod("finishAsync", &PipelineBinding::FinishAsync),
                              InstanceMethod("metrics", &PipelineBinding::Metrics),
                              InstanceMethod("snapshot", &PipelineBinding::Snapshot),
                              InstanceMethod("restore", &PipelineBinding::Restore),
                              InstanceMethod("snapshotDelta", &PipelineBinding::SnapshotDelta),
                              InstanceMethod("applyDelta", &PipelineBinding::ApplyDelta),
                              InstanceMethod("intern", &PipelineBinding::Intern),
                              InstanceMethod("undoIntern", &PipelineBinding::UndoIntern),
                              InstanceMethod("expire", &PipelineBinding::Expire),
                              InstanceMethod("expired", &PipelineBinding::Expired),
                              InstanceMethod("keysOf", &PipelineBinding::KeysOf),
                              InstanceMethod("held", &PipelineBinding::Held),
                              InstanceMethod("liveIds", &PipelineBinding::LiveIds)});
  }

  explicit PipelineBinding(const Napi::CallbackInfo& info)
      : NativeHandle(info, "the Pipeline is closed", "the Pipeline is busy with an async batch (one at a time)") {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      const sluice::PipelineCoreOptions options = ParseOptions(env, info[0], info[1]);
      reuseResults_ = info[0].As<Napi::Object>().Get("reuseResults").ToBoolean();
      Settle(env, Attach(std::make_shared<PipelineCore>(options, NumberArg(env, info[2], "now"))));
    });
  }

  Napi::Value Restore(const Napi::CallbackInfo& info) {
    Settle(info.Env(), RestoreFrom(info));
    return info.Env().Undefined();
  }

  // applyDelta(bytes) → { changed, live } (NativeHandle::ApplyDeltaFrom).
  Napi::Value ApplyDelta(const Napi::CallbackInfo& info) {
    Napi::Value out = ApplyDeltaFrom(info);
    Settle(info.Env(), Ready(info.Env()));
    return out;
  }

 private:
  // After every call, on the JS thread: what metrics() reports and the memory V8 is told about.
  void Settle(Napi::Env env, const PipelineCore& core) {
    counters_ = core.counters();
    watermark_ = core.watermark();
    firedWindows_ = core.firedWindows();
    liveKeys_ = core.liveKeys();
    expiredKeys_ = core.expiredKeys();
    keyCapacity_ = core.keyCapacity();
    memoryBytes_ = static_cast<double>(core.MemoryBytes());
    ReportMemory(env, core.MemoryBytes());
  }

  static void WriteStatus(Napi::Env env, const Napi::Value& status, const sluice::PipelineResult& result) {
    const sluice::Span<double> s = ToSpan<double>(env, status, "status", 3);
    s[0] = static_cast<double>(result.rows);
    s[1] = static_cast<double>(result.late);
    s[2] = result.watermark;
  }

  // Where a result's columns go: a new ArrayBuffer per result, or with `reuseResults` the pipeline's one
  // buffer, rewritten by each call (a fresh result buffer is memory no cache holds: writing it costs more
  // than the rows path). A buffer the caller detached (transferred) is replaced; one too small grows.
  Napi::ArrayBuffer ResultBuffer(Napi::Env env, size_t bytes) {
    if (!reuseResults_) return Napi::ArrayBuffer::New(env, bytes);
    if (!reused_.IsEmpty()) {
      Napi::ArrayBuffer buffer = reused_.Value();
      if (!buffer.IsDetached() && buffer.ByteLength() >= bytes) return buffer;
    }
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, bytes + bytes / 2);  // room for somewhat larger batches
    reused_ = Napi::Persistent(buffer);
    return buffer;
  }

  // A synchronous pass: `run(core, allocate)` → PipelineResult; the core writes the result directly into
  // ResultBuffer's buffer.
  template <class Run>
  Napi::Value RunSync(const Napi::CallbackInfo& info, const Napi::Value& status, Run run) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      PipelineCore& core = Ready(env);
      Napi::ArrayBuffer buffer;
      const PipelineCore::Allocate allocate = [&](size_t bytes) {
        buffer = ResultBuffer(env, bytes);
        return static_cast<uint8_t*>(buffer.Data());
      };
      sluice::PipelineResult result;
      try {
        result = run(core, allocate);
      } catch (...) {
        Settle(env, core);
        throw;
      }
      Settle(env, core);
      WriteStatus(env, status, result);
      return buffer;
    });
  }

  // The same pass as one queued work item; `run(core, call)` runs on the worker over what `call` owns.
  template <class Run>
  Napi::Value RunAsync(const Napi::CallbackInfo& info, const Napi::Value& status, std::shared_ptr<AsyncCall> call, Run run) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      Ready(env);
      ToSpan<double>(env, status, "status", 3);
      std::shared_ptr<PipelineCore> core = SharedCore(env);
      Napi::Value ready = env.Undefined();  // pinned below while the call runs (not with reuseResults: its buffer is the user's)
      call->ready = nullptr;
      call->readyBytes = 0;
      call->wroteReady = false;
      if (!reuseResults_ && lastAsyncBytes_ > 0) {
        Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, lastAsyncBytes_);
        call->ready = static_cast<uint8_t*>(buffer.Data());
        call->readyBytes = lastAsyncBytes_;
        ready = buffer;
      }
      return QueueWhileBusy(
          env, {status, info.This(), ready},
          [core, call, run] { call->result = run(*core, *call); },
          [this, call](Napi::Env env, const std::vector<Napi::ObjectReference>& pinned) -> Napi::Value {
            Napi::ArrayBuffer buffer;
            if (call->wroteReady) {
              buffer = pinned[2].Value().As<Napi::ArrayBuffer>();
            } else {
              buffer = ResultBuffer(env, call->out.size());
              if (!call->out.empty()) std::memcpy(buffer.Data(), call->out.data(), call->out.size());
            }
            lastAsyncBytes_ = buffer.ByteLength();
            WriteStatus(env, pinned[0].Value(), call->result);
            return buffer;
          },
          [this, env, core] { Settle(env, *core); });
    });
  }

  Napi::Value Process(const Napi::CallbackInfo& info) {
    KeyColumn keys;
    return RunSync(info, info[7], [&](PipelineCore& core, const PipelineCore::Allocate& allocate) {
      return core.Process(BatchArgs(info, keys), info[6].ToBoolean(), allocate);
    });
  }
  // The async call's buffers: the last call's when its job is gone (one call at a time, so usually), which
  // keeps their capacity, instead of allocating inputs, the result and the call anew per batch.
  std::shared_ptr<AsyncCall> NextCall() {
    if (!spareCall_ || spareCall_.use_count() > 1) spareCall_ = std::make_shared<AsyncCall>();
    return spareCall_;
  }

  Napi::Value ProcessAsync(const Napi::CallbackInfo& info) {
    std::shared_ptr<AsyncCall> call = NextCall();
    TranslateErrors(info.Env(), [&] {
      KeyColumn keys;
      call->Own(BatchArgs(info, keys));
    });
    const bool modelOpen = info[6].ToBoolean();
    return RunAsync(info, info[7], call, [modelOpen](PipelineCore& core, AsyncCall& c) {
      return core.Process(c.batch, modelOpen, c.Allocator());
    });
  }
  Napi::Value AdvanceTo(const Napi::CallbackInfo& info) {
    const double watermark = NumberArg(info.Env(), info[0], "watermark");
    return RunSync(info, info[2], [&](PipelineCore& core, const PipelineCore::Allocate& allocate) {
      return core.AdvanceTo(watermark, info[1].ToBoolean(), allocate);
    });
  }
  Napi::Value AdvanceToAsync(const Napi::CallbackInfo& info) {
    std::shared_ptr<AsyncCall> call = NextCall();
    call->watermark = NumberArg(info.Env(), info[0], "watermark");
    const bool modelOpen = info[1].ToBoolean();
    return RunAsync(info, info[2], call, [modelOpen](PipelineCore& core, AsyncCall& c) {
      return core.AdvanceTo(c.watermark, modelOpen, c.Allocator());
    });
  }
  Napi::Value Finish(const Napi::CallbackInfo& info) {
    return RunSync(info, info[1], [&](PipelineCore& core, const PipelineCore::Allocate& allocate) {
      return core.Finish(info[0].ToBoolean(), allocate);
    });
  }
  Napi::Value FinishAsync(const Napi::CallbackInfo& info) {
    const bool modelOpen = info[0].ToBoolean();
    return RunAsync(info, info[1], NextCall(), [modelOpen](PipelineCore& core, AsyncCall& c) {
      return core.Finish(modelOpen, c.Allocator());
    });
  }

  Napi::Value Metrics(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Opened(env);
    const sluice::PipelineCounters& c = counters_;
    Napi::Object result = Napi::Object::New(env);
    result.Set("events", c.events);
    result.Set("windowedEvents", c.windowedEvents);
    result.Set("lateEvents", c.lateEvents);
    result.Set("windowsFired", firedWindows_);
    result.Set("filledRows", c.filledRows);
    result.Set("flaggedRows", c.flaggedRows);
    result.Set("batchesIn", c.batchesIn);
    result.Set("batchesOut", c.batchesOut);
    result.Set("busyMs", c.busyMs);
    result.Set("latencySumMs", c.latencySumMs);
    result.Set("latencyMaxMs", c.latencyMaxMs);
    result.Set("latencyLastMs", c.latencyLastMs);
    result.Set("watermark", watermark_);
    result.Set("liveKeys", liveKeys_);
    result.Set("expiredKeys", expiredKeys_);
    result.Set("keyCapacity", keyCapacity_);
    result.Set("memoryBytes", memoryBytes_);
    return result;
  }

  // intern(keys, ids): the ids of keys (64-bit ids or { bytes, offsets }), new keys added; all or nothing.
  Napi::Value Intern(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    PipelineCore& core = Ready(env);
    const KeyColumn keys(env, info[0], "keys");
    const auto ids = ToSpan<uint32_t>(env, info[1], "ids");
    TranslateErrors(env, [&] {
      try {
        core.Intern(keys.batch(), ids);
      } catch (...) {
        Settle(env, core);
        throw;
      }
      Settle(env, core);
    });
    return env.Undefined();
  }

  // undoIntern() → whether the keys of the last intern() were forgotten (not when a batch used them).
  Napi::Value UndoIntern(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    PipelineCore& core = Ready(env);
    return TranslateErrors(env, [&] {
      const bool undone = core.UndoIntern();
      Settle(env, core);
      return Napi::Boolean::New(env, undone);
    });
  }

  // expire(ids | keys) → keys freed now. Keys (64-bit ids or packed bytes) that the pipeline does not hold
  // are skipped; ids must be live.
  Napi::Value Expire(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    PipelineCore& core = Ready(env);
    const bool byId = IsUint32Array(info[0]);
    StableColumn<uint32_t> idColumn;
    KeyColumn keys;
    if (byId) idColumn = StableColumn<uint32_t>(env, info[0], "ids");
    else keys = KeyColumn(env, info[0], "keys");
    return TranslateErrors(env, [&] {
      sluice::Span<const uint32_t> ids = idColumn.span();
      std::vector<uint32_t> found;
      if (!byId) {
        const sluice::KeySpace* space = core.keySpace();
        sluice::Require(space != nullptr, sluice::codes::kInvalidArgument, "expire() needs interned keys (the `keys` option)");
        found = HeldIds(space->dictionary(), keys.batch());
        ids = sluice::Span<const uint32_t>(found.data(), found.size());
      }
      const size_t freed = core.Expire(ids);
      Settle(env, core);
      return Napi::Number::New(env, static_cast<double>(freed));
    });
  }

  // expired() → Uint32Array: the ids freed by the last process / advanceTo / finish (keyTtl) or expire().
  Napi::Value Expired(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return CopyToTypedArray(env, Ready(env).expiredIds());
  }

  // keysOf(ids) → the keys of live ids: BigUint64Array / BigInt64Array, or { bytes, offsets }.
  Napi::Value KeysOf(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    PipelineCore& core = Ready(env);
    if (!core.keySpace()) ThrowSluiceError(env, sluice::codes::kInvalidArgument, "keysOf() needs interned keys (the `keys` option)");
    const StableColumn<uint32_t> ids(env, info[0], "ids");  // checked live, then read: one read each
    return KeysOfIds(env, core.keySpace()->dictionary(), ids.span());
  }

  // held(keys, out): out[i] = 1 when key i (64-bit ids or { bytes, offsets }) is live, else 0.
  Napi::Value Held(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    PipelineCore& core = Ready(env);
    if (!core.keySpace()) ThrowSluiceError(env, sluice::codes::kInvalidArgument, "held() needs interned keys (the `keys` option)");
    const KeyColumn keys(env, info[0], "keys");
    const auto held = ToSpan<uint8_t>(env, info[1], "held");
    TranslateErrors(env, [&] { HeldKeys(core.keySpace()->dictionary(), keys.batch(), held); });
    return env.Undefined();
  }

  // liveIds() → Uint32Array: every live key's id, ascending (to rebuild lib's string map after a restore).
  Napi::Value LiveIds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const sluice::KeySpace* space = Ready(env).keySpace();
    return LiveIdsOf(env, space ? &space->dictionary() : nullptr);
  }

  sluice::PipelineCounters counters_;
  double watermark_ = 0, firedWindows_ = 0, liveKeys_ = 0, expiredKeys_ = 0, keyCapacity_ = 0, memoryBytes_ = 0;
  std::shared_ptr<AsyncCall> spareCall_;  // JS thread only
  bool reuseResults_ = false;
  size_t lastAsyncBytes_ = 0;  // the last async result's size: the next async call's ready buffer (AsyncCall)
  Napi::Reference<Napi::ArrayBuffer> reused_;  // with reuseResults: the buffer every result is written into
};

}  // namespace

void InitPipeline(Napi::Env env, Napi::Object exports) {
  exports.Set("NativePipeline", PipelineBinding::Define(env));
}

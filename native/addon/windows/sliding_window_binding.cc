// SlidingWindow for JS: a thin wrapper over sluice::SlidingWindow. lib/sliding_window.ts validates first
// and computes the output size; everything is checked again here (and in the core) before any state changes.
// pushAsync runs the push on the async lane (async_work.h) after the same checks on the JS thread; while it is in
// flight the window is busy (every other call but memoryBytes and close is ERR_INVALID_STATE), and close()
// releases the window when the push ends (the worker holds it).
#include <memory>

#include "addon.h"
#include "arguments.h"
#include "async_buffers.h"
#include "native_handle.h"
#include "typed_array.h"
#include "windows/aggregates_option.h"
#include "windows/sliding_window.h"

namespace {

class SlidingWindowBinding : public NativeHandle<SlidingWindowBinding, sluice::SlidingWindow> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineHandleClass(env, "SlidingWindow",
                             {InstanceMethod("push", &SlidingWindowBinding::Push),
                              InstanceMethod("pushAsync", &SlidingWindowBinding::PushAsync),
                              InstanceMethod("windowsFor", &SlidingWindowBinding::WindowsFor),
                              InstanceMethod("snapshot", &SlidingWindowBinding::Snapshot),
                              InstanceMethod("restore", &SlidingWindowBinding::Restore),
                              InstanceMethod("reset", &SlidingWindowBinding::Reset),
                              InstanceAccessor("rowsSeen", &SlidingWindowBinding::RowsSeen, nullptr),
                              InstanceAccessor("memoryBytes", &SlidingWindowBinding::MemoryBytes, nullptr)});
  }

  // new SlidingWindow({ size, slide, channels, aggregates: string[], quantiles?: number[], emitPartial, threads })
  explicit SlidingWindowBinding(const Napi::CallbackInfo& info)
      : NativeHandle(info, "the SlidingWindow is closed", "a pushAsync is in flight on this SlidingWindow: await it first") {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) ThrowSluiceError(env, sluice::codes::kInvalidType, "options must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    sluice::SlidingWindowOptions options;
    options.size = SizeArg(env, o.Get("size"), "size");
    options.slide = SizeArg(env, o.Get("slide"), "slide");
    const uint64_t channels = SizeArg(env, o.Get("channels"), "channels");
    if (channels > sluice::SlidingWindow::kMaxChannels) ThrowSluiceError(env, sluice::codes::kOutOfRange, "channels is too large");
    options.channels = static_cast<uint32_t>(channels);
    options.emitPartial = o.Get("emitPartial").ToBoolean();
    if (!o.Get("threads").IsUndefined()) {
      const uint64_t threads = SizeArg(env, o.Get("threads"), "threads");
      if (threads > sluice::SlidingWindow::kMaxThreads) ThrowSluiceError(env, sluice::codes::kOutOfRange, "threads is too large");
      options.threads = static_cast<uint32_t>(threads);
    }
    AggregateColumns columns = AggregateColumnsOption(env, o);
    options.aggregates = std::move(columns.aggregates);
    options.quantiles = std::move(columns.quantiles);
    TranslateErrors(env, [&] {
      TrackMemory(env, Attach(std::make_shared<sluice::SlidingWindow>(std::move(options))));
    });
  }

 private:
  // Tells V8 the window's native bytes, and remembers them for memoryBytes. Called on the JS thread while no
  // push runs (a parallel push may create helpers, so MemoryBytes() is not read during one).
  void TrackMemory(Napi::Env env, const sluice::SlidingWindow& window) {
    ReportMemory(env, window.MemoryBytes());
  }

  // One napi_get_typedarray_info per array (the data pointer already includes the byteOffset): push is
  // the per-event path, and ToSpan's several queries per array cost more than the rest of a small push.
  static bool TypedArrayInfo(Napi::Env env, const Napi::Value& value, napi_typedarray_type* type, void** data,
                             size_t* length) {
    bool isTypedArray = false;
    if (napi_is_typedarray(env, value, &isTypedArray) != napi_ok || !isTypedArray) return false;
    return napi_get_typedarray_info(env, value, type, length, data, nullptr, nullptr) == napi_ok;
  }

  struct PushArgs {
    FloatSpan values;
    sluice::Span<double> out;
  };
  static PushArgs ParsePushArgs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    napi_typedarray_type valuesType, outType;
    void* valuesData = nullptr;
    void* outData = nullptr;
    size_t valuesLength = 0, outLength = 0;
    if (!TypedArrayInfo(env, info[0], &valuesType, &valuesData, &valuesLength) ||
        (valuesType != napi_float64_array && valuesType != napi_float32_array)) {
      ThrowSluiceError(env, sluice::codes::kInvalidType, "values must be a Float64Array or Float32Array");
    }
    if (!TypedArrayInfo(env, info[1], &outType, &outData, &outLength) || outType != napi_float64_array) {
      ThrowSluiceError(env, sluice::codes::kInvalidType, "out must be a Float64Array");
    }
    FloatSpan values;
    values.isFloat32 = valuesType == napi_float32_array;
    if (values.isFloat32) values.f32 = sluice::Span<const float>(static_cast<const float*>(valuesData), valuesLength);
    else values.f64 = sluice::Span<const double>(static_cast<const double*>(valuesData), valuesLength);
    return {values, sluice::Span<double>(static_cast<double*>(outData), outLength)};
  }

  static uint64_t PushRows(sluice::SlidingWindow& window, const PushArgs& args) {
    return args.values.isFloat32 ? window.Push(args.values.f32, args.out) : window.Push(args.values.f64, args.out);
  }

  // push(values: Float64Array | Float32Array, out: Float64Array) → number of windows written.
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    sluice::SlidingWindow& window = Ready(env);
    const PushArgs args = ParsePushArgs(info);
    const uint64_t windows = TranslateErrors(env, [&] { return PushRows(window, args); });
    TrackMemory(env, window);
    return Napi::Number::New(env, static_cast<double>(windows));
  }

  // pushAsync(values, out) → Promise of the number of windows written. The push reads a copy of values and
  // writes memory of its own, copied into out when it ends (async_buffers.h): ERR_INVALID_STATE then if out
  // was detached or shrunk meanwhile (the window has taken the rows; their windows are lost).
  Napi::Value PushAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Ready(env);
    const PushArgs args = ParsePushArgs(info);
    return TranslateErrors(env, [&]() -> Napi::Value {
      std::shared_ptr<sluice::SlidingWindow> window = SharedCore(env);
      if (args.values.isFloat32) window->CheckPush(args.values.f32, args.out);
      else window->CheckPush(args.values.f64, args.out);
      auto values = std::make_shared<const AsyncFloatInput>(args.values);
      auto out = std::make_shared<AsyncOutput<double>>(info[1], args.out.size, "out");
      auto windows = std::make_shared<uint64_t>(0);
      return QueueWhileBusy(
          env, {info.This()}, [window, values, out, windows] { *windows = PushRows(*window, {values->span(), out->span()}); },
          [window, out, windows](Napi::Env env, const std::vector<Napi::ObjectReference>&) -> Napi::Value {
            out->Deliver(env, *windows * window->windowWidth());
            return Napi::Number::New(env, static_cast<double>(*windows));
          },
          [this, window] {
            if (!closed()) TrackMemory(Env(), *window);
          });
    });
  }

  Napi::Value WindowsFor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    sluice::SlidingWindow& window = Ready(env);
    const uint64_t rows = SizeArg(env, info[0], "rows");
    return TranslateErrors(env, [&] { return Napi::Number::New(env, static_cast<double>(window.WindowsFor(rows))); });
  }

  // restore(bytes) → rowsSeen.
  Napi::Value Restore(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(RestoreFrom(info).rowsSeen()));
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Ready(info.Env()).Reset();
    return info.Env().Undefined();
  }

  Napi::Value RowsSeen(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(Ready(info.Env()).rowsSeen()));
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    // MemoryBytes() after the last push that ended; 0 once closed.
    return Napi::Number::New(info.Env(), static_cast<double>(reportedBytes()));
  }
};

}  // namespace

void InitSlidingWindow(Napi::Env env, Napi::Object exports) {
  exports.Set("SlidingWindow", SlidingWindowBinding::Define(env));
}

// SlidingWindow for JS: a thin wrapper over sluice::SlidingWindow. lib/sliding_window.ts validates first
// and computes the output size; everything is checked again here (and in the core) before any state changes.
// pushAsync runs the push on a libuv worker thread after the same checks on the JS thread; while it is in
// flight the window is busy (every other call but memoryBytes and close is ERR_INVALID_STATE), and close()
// releases the window when the push ends (the worker holds it).
#include <memory>

#include "addon.h"
#include "async_work.h"
#include "windows/sliding_window.h"
#include "typed_array.h"

namespace {

class SlidingWindowBinding : public Napi::ObjectWrap<SlidingWindowBinding> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SlidingWindow",
                       {InstanceMethod("push", &SlidingWindowBinding::Push),
                        InstanceMethod("pushAsync", &SlidingWindowBinding::PushAsync),
                        InstanceMethod("windowsFor", &SlidingWindowBinding::WindowsFor),
                        InstanceMethod("snapshot", &SlidingWindowBinding::Snapshot),
                        InstanceMethod("restore", &SlidingWindowBinding::Restore),
                        InstanceMethod("reset", &SlidingWindowBinding::Reset),
                        InstanceMethod("close", &SlidingWindowBinding::Close),
                        InstanceAccessor("rowsSeen", &SlidingWindowBinding::RowsSeen, nullptr),
                        InstanceAccessor("memoryBytes", &SlidingWindowBinding::MemoryBytes, nullptr)});
  }

  // new SlidingWindow({ size, slide, channels, aggregates: string[], emitPartial, threads })
  explicit SlidingWindowBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SlidingWindowBinding>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) ThrowSluiceError(env, sluice::codes::kInvalidType, "options must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    sluice::SlidingWindowOptions options;
    options.size = Integer(env, o.Get("size"), "size");
    options.slide = Integer(env, o.Get("slide"), "slide");
    const uint64_t channels = Integer(env, o.Get("channels"), "channels");
    if (channels > sluice::SlidingWindow::kMaxChannels) ThrowSluiceError(env, sluice::codes::kOutOfRange, "channels is too large");
    options.channels = static_cast<uint32_t>(channels);
    options.emitPartial = o.Get("emitPartial").ToBoolean();
    if (!o.Get("threads").IsUndefined()) {
      const uint64_t threads = Integer(env, o.Get("threads"), "threads");
      if (threads > sluice::SlidingWindow::kMaxThreads) ThrowSluiceError(env, sluice::codes::kOutOfRange, "threads is too large");
      options.threads = static_cast<uint32_t>(threads);
    }
    if (!o.Get("aggregates").IsArray()) ThrowSluiceError(env, sluice::codes::kInvalidType, "aggregates must be an array");
    Napi::Array names = o.Get("aggregates").As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      sluice::Aggregate aggregate;
      Napi::Value name = names.Get(i);
      if (!name.IsString() || !sluice::ParseAggregate(name.As<Napi::String>().Utf8Value(), &aggregate)) {
        ThrowSluiceError(env, sluice::codes::kInvalidArgument, "unknown aggregate");
      }
      options.aggregates.push_back(aggregate);
    }
    TranslateErrors(env, [&] { window_ = std::make_shared<sluice::SlidingWindow>(std::move(options)); });
    TrackMemory(env);
  }

  ~SlidingWindowBinding() override { Release(); }

 private:
  static uint64_t Integer(Napi::Env env, const Napi::Value& value, const char* name) {
    if (!value.IsNumber()) ThrowSluiceError(env, sluice::codes::kInvalidType, std::string(name) + " must be a number");
    const double x = value.As<Napi::Number>().DoubleValue();
    if (!(x >= 0 && x <= 9007199254740991.0) || x != static_cast<double>(static_cast<uint64_t>(x))) {
      ThrowSluiceError(env, sluice::codes::kOutOfRange, std::string(name) + " must be a non-negative integer");
    }
    return static_cast<uint64_t>(x);
  }

  sluice::SlidingWindow& Window(Napi::Env env) {
    if (!window_) ThrowSluiceError(env, sluice::codes::kInvalidState, "the SlidingWindow is closed");
    if (pushing_) ThrowSluiceError(env, sluice::codes::kInvalidState, "a pushAsync is in flight on this SlidingWindow: await it first");
    return *window_;
  }

  // Tells V8 the window's native bytes, and remembers them for memoryBytes. Called on the JS thread while no
  // push runs (a parallel push may create helpers, so MemoryBytes() is not read during one).
  void TrackMemory(Napi::Env env) {
    const int64_t bytes = static_cast<int64_t>(window_->MemoryBytes());
    if (bytes != external_) Napi::MemoryManagement::AdjustExternalMemory(env, bytes - external_);
    external_ = bytes;
  }

  void Release() {
    if (!window_) return;
    window_.reset();
    // Finalizers may run after the environment is torn down; adjusting then is neither possible nor needed.
    if (external_ != 0 && !Env().IsExceptionPending()) {
      Napi::MemoryManagement::AdjustExternalMemory(Env(), -external_);
    }
    external_ = 0;
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
    sluice::SlidingWindow& window = Window(env);
    const PushArgs args = ParsePushArgs(info);
    const uint64_t windows = TranslateErrors(env, [&] { return PushRows(window, args); });
    TrackMemory(env);
    return Napi::Number::New(env, static_cast<double>(windows));
  }

  // pushAsync(values, out) → Promise of the number of windows written. values and out are pinned (with this
  // object) until the Promise settles; the caller must not change them meanwhile.
  Napi::Value PushAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Window(env);
    const PushArgs args = ParsePushArgs(info);
    return TranslateErrors(env, [&]() -> Napi::Value {
      if (args.values.isFloat32) window_->CheckPush(args.values.f32, args.out);
      else window_->CheckPush(args.values.f64, args.out);
      std::shared_ptr<sluice::SlidingWindow> window = window_;
      auto windows = std::make_shared<uint64_t>(0);
      Napi::Promise promise = QueuePromiseWork(
          env, {info[0], info[1], info.This()}, [window, args, windows] { *windows = PushRows(*window, args); },
          [windows](Napi::Env env, const std::vector<Napi::ObjectReference>&) -> Napi::Value {
            return Napi::Number::New(env, static_cast<double>(*windows));
          },
          [this] {  // `this` lives: the object is pinned until then
            pushing_ = false;
            if (window_) TrackMemory(Env());
          });
      pushing_ = true;
      return promise;
    });
  }

  Napi::Value WindowsFor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    sluice::SlidingWindow& window = Window(env);
    const uint64_t rows = Integer(env, info[0], "rows");
    return TranslateErrors(env, [&] { return Napi::Number::New(env, static_cast<double>(window.WindowsFor(rows))); });
  }

  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    sluice::SlidingWindow& window = Window(env);
    return TranslateErrors(env, [&] {
      const std::vector<uint8_t> bytes = window.Snapshot();
      Napi::Uint8Array array = Napi::Uint8Array::New(env, bytes.size());
      std::copy(bytes.begin(), bytes.end(), array.Data());
      return array;
    });
  }

  Napi::Value Restore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    sluice::SlidingWindow& window = Window(env);
    const sluice::Span<uint8_t> bytes = ToSpan<uint8_t>(env, info[0], "bytes");
    TranslateErrors(env, [&] { window.Restore(bytes); });
    return Napi::Number::New(env, static_cast<double>(window.rowsSeen()));
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Window(info.Env()).Reset();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  Napi::Value RowsSeen(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(Window(info.Env()).rowsSeen()));
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(external_));  // as of the last push that ended
  }

  std::shared_ptr<sluice::SlidingWindow> window_;
  bool pushing_ = false;        // a pushAsync is queued or running (set and cleared on the JS thread)
  int64_t external_ = 0;         // MemoryBytes() after the last push that ended; 0 once closed
};

}  // namespace

void InitSlidingWindow(Napi::Env env, Napi::Object exports) {
  exports.Set("SlidingWindow", SlidingWindowBinding::Define(env));
}

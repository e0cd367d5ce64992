// Internal functions that let the tests prove the zero-copy conventions (they are not public API; the
// benchmarks' probes join them from their own domain's binding):
// fillIota writes 0, 1, 2, … through the native span, so the caller sees the writes in its own view.
// throwNative(kind, async) throws a C++ exception of the kind named ('system_error', 'length_error',
// 'bad_alloc', 'exception', 'int'), in the binding or (async) in lane work, to test the one translation.
// noopAsync() and noopLane(busyUs?) resolve with undefined after empty work: a bare libuv work request (one
// Napi::AsyncWorker) against the async lane every async call uses, for bench/call-overhead.bench.js;
// noopLane's work busy-waits busyUs µs first (jobs about as long as the event loop's poll, for the tests).
// laneDeliveries() → [byLoop, byWake]: how many lane jobs the polling event loop completed itself and how
// many after a wake-up (async_lane.h).
// setLaneSpin(workerUs, loopUs) sets how long the call lane's two sides spin (async_lane.h) and returns
// the previous [workerUs, loopUs], so that the benchmark compares spinning with not spinning in one run.
#include <cerrno>
#include <chrono>
#include <new>
#include <stdexcept>
#include <system_error>

#include "addon.h"
#include "async_work.h"
#include "typed_array.h"

namespace {

template <typename T>
void FillIota(sluice::Span<T> span) {
  for (size_t i = 0; i < span.size; ++i) span[i] = static_cast<T>(i);
}

// fillIota(array, expectedLength?) → number of elements written.
Napi::Value FillIotaBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool hasLength = info.Length() > 1 && !info[1].IsUndefined();
  if (hasLength && !info[1].IsNumber()) ThrowSluiceError(env, sluice::codes::kInvalidType, "expectedLength must be a number");
  const auto expected = hasLength ? static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()) : 0;
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    auto span = hasLength ? ToSpan<T>(env, info[0], "array", expected) : ToSpan<T>(env, info[0], "array");
    FillIota(span);
    return Napi::Number::New(env, static_cast<double>(span.size));
  };
  if (info[0].IsTypedArray()) {
    switch (info[0].As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return fill(float{});
      case napi_uint32_array: return fill(uint32_t{});
      default: break;
    }
  }
  return fill(double{});  // anything else gets Float64Array's ERR_INVALID_TYPE
}

// throwCoreError(code): raises a core error, to test that codes cross the binding unchanged.
Napi::Value ThrowCoreError(const Napi::CallbackInfo& info) {
  const std::string code = info[0].As<Napi::String>();
  return TranslateErrors(info.Env(), [&]() -> Napi::Value {
    if (code == "ERR_OUT_OF_RANGE") sluice::Fail(sluice::codes::kOutOfRange, "core says out of range");
    sluice::Fail(sluice::codes::kInvalidArgument, "core says invalid argument");
  });
}

void ThrowNativeKind(const std::string& kind) {
  if (kind == "system_error") throw std::system_error(EAGAIN, std::generic_category(), "thread refused");
  if (kind == "length_error") throw std::length_error("vector::reserve");
  if (kind == "bad_alloc") throw std::bad_alloc();
  if (kind == "exception") throw std::runtime_error("a plain exception");
  throw 42;
}

// throwNative(kind, async) → throws, or a Promise that rejects.
Napi::Value ThrowNative(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kind = info[0].ToString();
  return TranslateErrors(env, [&]() -> Napi::Value {
    if (!info[1].ToBoolean()) ThrowNativeKind(kind);
    return QueuePromiseWork(
        env, {}, [kind] { ThrowNativeKind(kind); },
        [](Napi::Env env, const std::vector<Napi::ObjectReference>&) { return env.Undefined(); });
  });
}

// An empty libuv work request: the round trip async calls made before the lane.
class NoopWorker : public Napi::AsyncWorker {
 public:
  explicit NoopWorker(Napi::Env env) : Napi::AsyncWorker(env, "sluice"), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {}
  void OnOK() override {
    try {
      deferred_.Resolve(Env().Undefined());
    } catch (...) {  // a stopping environment: nothing to resolve
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
};

Napi::Value NoopAsync(const Napi::CallbackInfo& info) {
  auto* worker = new NoopWorker(info.Env());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value NoopLane(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double busyUs = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(busyUs >= 0 && busyUs <= 1e6)) ThrowSluiceError(env, sluice::codes::kOutOfRange, "busyUs is 0 to 1e6");
  const auto busy = std::chrono::nanoseconds(static_cast<int64_t>(busyUs * 1000));
  return TranslateErrors(env, [&]() -> Napi::Value {
    return QueuePromiseWork(
        env, {},
        [busy] {
          const auto end = std::chrono::steady_clock::now() + busy;
          while (std::chrono::steady_clock::now() < end) {
          }
        },
        [](Napi::Env env, const std::vector<Napi::ObjectReference>&) { return env.Undefined(); });
  });
}

Napi::Value LaneDeliveries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const AsyncLane::Deliveries d = SluiceAddon::From(env).callLane().deliveries();
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, static_cast<double>(d.byLoop)));
  result.Set(1u, Napi::Number::New(env, static_cast<double>(d.byWake)));
  return result;
}

Napi::Value SetLaneSpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) ThrowSluiceError(env, sluice::codes::kInvalidType, "setLaneSpin needs two numbers");
  const double workerUs = info[0].As<Napi::Number>().DoubleValue(), loopUs = info[1].As<Napi::Number>().DoubleValue();
  if (!(workerUs >= 0 && workerUs <= 1e6 && loopUs >= 0 && loopUs <= 1e6)) {
    ThrowSluiceError(env, sluice::codes::kOutOfRange, "spins are 0 to 1e6 µs");
  }
  AsyncLane& lane = SluiceAddon::From(env).callLane();
  const AsyncLane::Spin previous = lane.spin();
  lane.SetSpin({std::chrono::microseconds(static_cast<int64_t>(workerUs)), std::chrono::microseconds(static_cast<int64_t>(loopUs))});
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, static_cast<double>(previous.worker.count())));
  result.Set(1u, Napi::Number::New(env, static_cast<double>(previous.loop.count())));
  return result;
}

}  // namespace

void InitTesting(Napi::Env env, Napi::Object exports) {
  Napi::Object testing = TestingExports(env, exports);
  testing.Set("fillIota", Napi::Function::New(env, FillIotaBinding, "fillIota"));
  testing.Set("throwCoreError", Napi::Function::New(env, ThrowCoreError, "throwCoreError"));
  testing.Set("throwNative", Napi::Function::New(env, ThrowNative, "throwNative"));
  testing.Set("noopAsync", Napi::Function::New(env, NoopAsync, "noopAsync"));
  testing.Set("noopLane", Napi::Function::New(env, NoopLane, "noopLane"));
  testing.Set("laneDeliveries", Napi::Function::New(env, LaneDeliveries, "laneDeliveries"));
  testing.Set("setLaneSpin", Napi::Function::New(env, SetLaneSpin, "setLaneSpin"));
}

// Internal functions that let the tests prove the zero-copy conventions (they are not public API; the
// benchmarks' probes join them from their own domain's binding):
// fillIota writes 0, 1, 2, … through the native span, so the caller sees the writes in its own view.
#include "addon.h"
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

}  // namespace

void InitTesting(Napi::Env env, Napi::Object exports) {
  Napi::Object testing = TestingExports(env, exports);
  testing.Set("fillIota", Napi::Function::New(env, FillIotaBinding, "fillIota"));
  testing.Set("throwCoreError", Napi::Function::New(env, ThrowCoreError, "throwCoreError"));
}

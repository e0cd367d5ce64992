// Zero-copy access to JS typed arrays: check the element type (and length) and hand the core a Span over
// the caller's memory. Data() already includes the view's byteOffset, so subarrays work as they are.
#pragma once
#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "errors.h"
#include "base/span.h"

// The typed array type that holds T's elements, and the name the messages give it.
template <typename T>
constexpr napi_typedarray_type TypedArrayTypeOf() {
  if constexpr (std::is_same_v<T, double>) return napi_float64_array;
  else if constexpr (std::is_same_v<T, float>) return napi_float32_array;
  else if constexpr (std::is_same_v<T, uint32_t>) return napi_uint32_array;
  else {
    static_assert(std::is_same_v<T, uint8_t>, "no binding takes a typed array of this element type");
    return napi_uint8_array;
  }
}

template <typename T>
constexpr const char* TypedArrayName() {
  switch (TypedArrayTypeOf<T>()) {
    case napi_float64_array: return "Float64Array";
    case napi_float32_array: return "Float32Array";
    case napi_uint32_array: return "Uint32Array";
    default: return "Uint8Array";
  }
}

// The caller's typed array as a Span<T>; ERR_INVALID_TYPE unless it is exactly T's array type.
template <typename T>
sluice::Span<T> ToSpan(Napi::Env env, const Napi::Value& value, const char* argName) {
  if (!value.IsTypedArray() ||
      value.As<Napi::TypedArray>().TypedArrayType() != TypedArrayTypeOf<T>()) {
    ThrowSluiceError(env, sluice::codes::kInvalidType,
                     std::string(argName) + " must be a " + TypedArrayName<T>());
  }
  auto array = value.As<Napi::TypedArrayOf<T>>();
  return sluice::Span<T>(array.Data(), array.ElementLength());
}

// As ToSpan, and the length must be exactly `length`.
template <typename T>
sluice::Span<T> ToSpan(Napi::Env env, const Napi::Value& value, const char* argName, size_t length) {
  sluice::Span<T> span = ToSpan<T>(env, value, argName);
  if (span.size != length) {
    ThrowSluiceError(env, sluice::codes::kInvalidLength,
                     std::string(argName) + " must have length " + std::to_string(length) + ", got " +
                         std::to_string(span.size));
  }
  return span;
}

// Whether a typed array's memory is a SharedArrayBuffer, which other threads may write while a
// synchronous call runs (Node-API 8 has no direct test: the buffer of a typed array over shared memory is
// not an ArrayBuffer).
inline bool IsSharedMemory(Napi::Env env, const Napi::Value& typedArray) {
  napi_value buffer = nullptr;
  bool isArrayBuffer = true;
  if (napi_get_typedarray_info(env, typedArray, nullptr, nullptr, nullptr, &buffer, nullptr) != napi_ok ||
      napi_is_arraybuffer(env, buffer, &isArrayBuffer) != napi_ok) {
    ThrowSluiceError(env, sluice::codes::kInvalidType, "cannot read the typed array's buffer");
  }
  return !isArrayBuffer;
}

// A column the core checks in one pass and uses in another (keys, timestamps, indices, snapshot bytes):
// a view of the caller's memory when it is its own ArrayBuffer (zero-copy: nothing else runs during a
// synchronous call), a one-time copy when it is a SharedArrayBuffer that another thread may change
// between the check and the use. Keep the StableColumn alive while its span() is used.
template <typename T>
class StableColumn {
 public:
  StableColumn() = default;
  StableColumn(StableColumn&&) = default;  // the vector's buffer moves with it: span_ stays valid
  StableColumn& operator=(StableColumn&&) = default;
  StableColumn(const StableColumn&) = delete;
  StableColumn(Napi::Env env, const Napi::Value& value, const char* argName) {
    const sluice::Span<T> caller = ToSpan<T>(env, value, argName);
    if (IsSharedMemory(env, value)) {
      // One read of each element into memory no other thread can reach; what the core checks is then
      // what it uses, whatever the writer does meanwhile.
      copy_.resize(caller.size);
      if (caller.size > 0) std::memcpy(copy_.data(), caller.data, caller.size * sizeof(T));
      span_ = sluice::Span<const T>(copy_.data(), copy_.size());
    } else {
      span_ = sluice::Span<const T>(caller.data, caller.size);
    }
  }
  // An optional column: empty when `value` is undefined.
  static StableColumn Optional(Napi::Env env, const Napi::Value& value, const char* argName) {
    return value.IsUndefined() ? StableColumn() : StableColumn(env, value, argName);
  }
  sluice::Span<const T> span() const { return span_; }
  bool copied() const { return !copy_.empty(); }

 private:
  std::vector<T> copy_;
  sluice::Span<const T> span_;
};

// Values that may come as Float64Array or Float32Array; exactly one of the spans is set.
struct FloatSpan {
  sluice::Span<const double> f64;
  sluice::Span<const float> f32;
  bool isFloat32 = false;
  size_t size() const { return isFloat32 ? f32.size : f64.size; }
};

inline FloatSpan ToFloatSpan(Napi::Env env, const Napi::Value& value, const char* argName) {
  FloatSpan result;
  if (value.IsTypedArray()) {
    const napi_typedarray_type type = value.As<Napi::TypedArray>().TypedArrayType();
    if (type == napi_float64_array) {
      result.f64 = ToSpan<double>(env, value, argName);
      return result;
    }
    if (type == napi_float32_array) {
      result.f32 = ToSpan<float>(env, value, argName);
      result.isFloat32 = true;
      return result;
    }
  }
  ThrowSluiceError(env, sluice::codes::kInvalidType, std::string(argName) + " must be a Float64Array or Float32Array");
}

// A new JS typed array holding a copy of `values` (results the caller keeps: snapshots, weights).
template <typename T>
Napi::TypedArrayOf<T> CopyToTypedArray(Napi::Env env, const std::vector<T>& values) {
  Napi::TypedArrayOf<T> array = Napi::TypedArrayOf<T>::New(env, values.size());
  std::copy(values.begin(), values.end(), array.Data());
  return array;
}

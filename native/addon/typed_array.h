// Zero-copy access to JS typed arrays: check the element type (and length) and hand the core a Span over
// the caller's memory. Data() already includes the view's byteOffset, so subarrays work as they are.
#pragma once
#include <napi.h>

#include <algorithm>
#include <cstdint>
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

// Zero-copy access to JS typed arrays: check the element type (and length) and hand the core a Span over
// the caller's memory. Data() already includes the view's byteOffset, so subarrays work as they are.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "errors.h"
#include "base/span.h"

template <typename T>
struct TypedArrayTraits;
template <>
struct TypedArrayTraits<double> {
  static constexpr napi_typedarray_type kType = napi_float64_array;
  static constexpr const char* kName = "Float64Array";
};
template <>
struct TypedArrayTraits<float> {
  static constexpr napi_typedarray_type kType = napi_float32_array;
  static constexpr const char* kName = "Float32Array";
};
template <>
struct TypedArrayTraits<uint32_t> {
  static constexpr napi_typedarray_type kType = napi_uint32_array;
  static constexpr const char* kName = "Uint32Array";
};
template <>
struct TypedArrayTraits<int32_t> {
  static constexpr napi_typedarray_type kType = napi_int32_array;
  static constexpr const char* kName = "Int32Array";
};
template <>
struct TypedArrayTraits<uint8_t> {
  static constexpr napi_typedarray_type kType = napi_uint8_array;
  static constexpr const char* kName = "Uint8Array";
};

// The caller's typed array as a Span<T>; ERR_INVALID_TYPE unless it is exactly T's array type.
template <typename T>
sluice::Span<T> ToSpan(Napi::Env env, const Napi::Value& value, const char* argName) {
  if (!value.IsTypedArray() ||
      value.As<Napi::TypedArray>().TypedArrayType() != TypedArrayTraits<T>::kType) {
    ThrowSluiceError(env, sluice::codes::kInvalidType,
                     std::string(argName) + " must be a " + TypedArrayTraits<T>::kName);
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

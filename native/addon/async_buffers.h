// The caller's memory in async calls. JavaScript can detach (transfer) or shrink (resizable ArrayBuffer) a
// typed array's memory while an async call runs; a reference to the array does not stop it. So async work
// never touches caller memory off the JS thread:
// - AsyncInput copies what the work reads, at the call (the work sees the values as they were then);
// - AsyncOutput gives the work memory of its own to write, and Deliver() copies it into the caller's array
//   on the JS thread when the work ends, after checking that the array still holds every element: a detached
//   or shrunk array is ERR_INVALID_STATE (the results are lost; what the call changed in the object stays).
// Synchronous calls stay zero-copy: nothing else runs on the JS thread during them.
#pragma once
#include <napi.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "typed_array.h"

template <typename T>
class AsyncInput {
 public:
  explicit AsyncInput(sluice::Span<const T> from) : copy_(from.begin(), from.end()) {}
  sluice::Span<const T> span() const { return {copy_.data(), copy_.size()}; }

 private:
  std::vector<T> copy_;
};

// An AsyncInput of values that come as Float64Array or Float32Array.
class AsyncFloatInput {
 public:
  explicit AsyncFloatInput(const FloatSpan& from) : f64_(from.f64), f32_(from.f32), isFloat32_(from.isFloat32) {}
  FloatSpan span() const {
    FloatSpan result;
    result.f64 = f64_.span();
    result.f32 = f32_.span();
    result.isFloat32 = isFloat32_;
    return result;
  }

 private:
  AsyncInput<double> f64_;
  AsyncInput<float> f32_;
  bool isFloat32_;
};

template <typename T>
class AsyncOutput {
 public:
  // `array`: the caller's T typed array (already checked); the work writes `length` elements.
  AsyncOutput(const Napi::Value& array, size_t length, const char* argName)
      : array_(Napi::Persistent(array.As<Napi::Object>())),
        values_(new T[length]),  // uninitialised: the work writes what Deliver copies
        length_(length),
        argName_(argName) {}

  // The memory the work writes (any thread).
  sluice::Span<T> span() const { return {values_.get(), length_}; }

  // On the JS thread when the work has ended: the first `length` elements of the caller's array get the
  // results; returns the array. ERR_INVALID_STATE when it no longer has them.
  Napi::Value Deliver(Napi::Env env, size_t length) {
    napi_value array = array_.Value();
    size_t now = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, array, nullptr, &now, &data, nullptr, nullptr) != napi_ok) now = 0;
    length = std::min(length, length_);
    if (length == 0) return Napi::Value(env, array);
    if (data == nullptr || now < length) {
      ThrowSluiceError(env, sluice::codes::kInvalidState,
                       std::string(argName_) + " was detached or shrunk while the async call ran (" + std::to_string(now) +
                           " of " + std::to_string(length) + " elements left): its results are lost");
    }
    std::copy_n(values_.get(), length, static_cast<T*>(data));
    return Napi::Value(env, array);
  }
  Napi::Value Deliver(Napi::Env env) { return Deliver(env, length_); }

 private:
  Napi::ObjectReference array_;
  std::unique_ptr<T[]> values_;
  size_t length_;
  const char* argName_;
};

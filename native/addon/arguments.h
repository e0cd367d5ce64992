// Number arguments and options of the bindings, checked once here: a value of the wrong type is
// ERR_INVALID_TYPE ("<name> must be a number"), a number out of range ERR_OUT_OF_RANGE.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "errors.h"

inline double NumberArg(Napi::Env env, const Napi::Value& value, const char* name) {
  if (!value.IsNumber()) ThrowSluiceError(env, sluice::codes::kInvalidType, std::string(name) + " must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

// options[name], or `fallback` when it is undefined.
inline double NumberOption(Napi::Env env, const Napi::Object& options, const char* name, double fallback) {
  const Napi::Value value = options.Get(name);
  return value.IsUndefined() ? fallback : NumberArg(env, value, name);
}

// A size or count: an integer in [0, 2^53 − 1], the integers a double holds exactly.
inline size_t SizeArg(Napi::Env env, const Napi::Value& value, const char* name) {
  const double d = NumberArg(env, value, name);
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d))) {
    ThrowSluiceError(env, sluice::codes::kOutOfRange, std::string(name) + " must be a non-negative integer");
  }
  return static_cast<size_t>(d);
}

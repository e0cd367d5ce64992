// SluiceError from native code: the JS class registered by lib/ is constructed with (message, code), so
// errors thrown here are `instanceof SluiceError` with a stable `code`.
#pragma once
#include <napi.h>

#include <string>

#include "base/error.h"

Napi::Error MakeSluiceError(Napi::Env env, const char* code, const std::string& message);

// Throws (as a C++ exception that node-addon-api turns into a JS exception).
[[noreturn]] void ThrowSluiceError(Napi::Env env, const char* code, const std::string& message);

// The code and message SluiceError gets for a C++ exception.
struct NativeFailure {
  const char* code;
  std::string message;
};

// Call only inside a catch block: describes the exception being handled, whatever its type (the one
// translation used by synchronous bindings and async work): CoreError keeps its code; bad_alloc,
// length_error (a size too large to allocate) and a refused thread (system_error EAGAIN / ENOMEM) are
// ERR_OUT_OF_MEMORY; any other exception is ERR_INVALID_STATE with its what(), anything else a generic message.
NativeFailure DescribeCurrentException() noexcept;

// Runs `body`; any C++ exception other than Napi::Error (already a JS exception) becomes a SluiceError
// (DescribeCurrentException), so nothing else leaves a binding.
template <typename Body>
auto TranslateErrors(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    NativeFailure failure = DescribeCurrentException();
    ThrowSluiceError(env, failure.code, failure.message);
  }
}

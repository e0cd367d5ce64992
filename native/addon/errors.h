// SluiceError from native code: the JS class registered by lib/ is constructed with (message, code), so
// errors thrown here are `instanceof SluiceError` with a stable `code`.
#pragma once
#include <napi.h>

#include <new>
#include <string>

#include "base/error.h"

Napi::Error MakeSluiceError(Napi::Env env, const char* code, const std::string& message);

// Throws (as a C++ exception that node-addon-api turns into a JS exception).
[[noreturn]] void ThrowSluiceError(Napi::Env env, const char* code, const std::string& message);

// Runs `body`, turning core errors into SluiceError and allocation failure into ERR_OUT_OF_MEMORY, so
// no C++ exception other than Napi::Error leaves a binding.
template <typename Body>
auto TranslateErrors(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const sluice::CoreError& e) {
    ThrowSluiceError(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    ThrowSluiceError(env, sluice::codes::kOutOfMemory, "out of memory");
  }
}

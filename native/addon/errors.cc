#include "errors.h"

#include <cerrno>
#include <exception>
#include <new>
#include <stdexcept>
#include <system_error>

#include "addon.h"

Napi::Error MakeSluiceError(Napi::Env env, const char* code, const std::string& message) {
  SluiceAddon& addon = SluiceAddon::From(env);
  if (!addon.errorClass.IsEmpty()) {
    Napi::Object error = addon.errorClass.New({Napi::String::New(env, message), Napi::String::New(env, code)});
    return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void ThrowSluiceError(Napi::Env env, const char* code, const std::string& message) {
  throw MakeSluiceError(env, code, message);
}

NativeFailure DescribeCurrentException() noexcept {
  namespace codes = sluice::codes;
  try {
    try {
      throw;
    } catch (const sluice::CoreError& e) {
      return {e.code(), e.what()};
    } catch (const std::bad_alloc&) {
      return {codes::kOutOfMemory, "out of memory"};
    } catch (const std::length_error& e) {
      return {codes::kOutOfMemory, std::string("out of memory: a size too large to allocate (") + e.what() + ")"};
    } catch (const std::system_error& e) {
      const int error = e.code().value();
      const bool resources = e.code().category() == std::generic_category() || e.code().category() == std::system_category();
      if (resources && (error == EAGAIN || error == ENOMEM)) {
        return {codes::kOutOfMemory, std::string("out of memory: the system refused a thread or allocation (") + e.what() + ")"};
      }
      return {codes::kInvalidState, std::string("system error: ") + e.what()};
    } catch (const std::exception& e) {
      return {codes::kInvalidState, e.what()};
    } catch (...) {
      return {codes::kInvalidState, "unknown native error"};
    }
  } catch (...) {  // building the message itself failed (no memory for the string)
    return {codes::kOutOfMemory, std::string()};
  }
}

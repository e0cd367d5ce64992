#include "errors.h"

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

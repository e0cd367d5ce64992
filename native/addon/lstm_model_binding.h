// Shared between the LstmModel and LstmState bindings.
#pragma once
#include <napi.h>

#include <memory>

#include "lstm_model.h"

// The native model behind a JS LstmModel object (checked with a type tag); ERR_INVALID_TYPE for anything
// else, ERR_INVALID_STATE once the model is closed.
std::shared_ptr<sluice::LstmModel> UnwrapLstmModel(Napi::Env env, const Napi::Value& value);

// Shared between the LstmModel and LstmState bindings.
#pragma once
#include <napi.h>

#include <memory>

#include "lstm/lstm_model.h"

// The native model behind a JS LstmModel object (checked with a type tag); ERR_INVALID_TYPE for anything
// else, ERR_INVALID_STATE once the model is closed.
std::shared_ptr<sluice::LstmModel> UnwrapLstmModel(Napi::Env env, const Napi::Value& value);

// Shared with the CUDA model binding: the weights object of lib/lstm/lstm_weights.ts as spans over its
// typed arrays (valid during the calling JS call only).
sluice::LstmModelSpec ParseLstmModelSpec(Napi::Env env, const Napi::Value& value);

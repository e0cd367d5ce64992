// Shared with the CUDA state binding and lstm_windows_binding.cc.
#pragma once
#include <napi.h>

#include <memory>

#include "lstm/cuda_lstm.h"

// The native model behind a JS CUDA LstmModel object; null for any other value (ERR_INVALID_STATE once
// the model is closed).
std::shared_ptr<sluice::CudaLstmModel> UnwrapCudaLstmModel(Napi::Env env, const Napi::Value& value);

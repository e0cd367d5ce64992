// NativeCudaLstmState: new (model, capacity) → NativeLstmState's binding (lstm_state_wrap.h) over a CUDA
// model, with the table in device memory.
#include <memory>

#include "addon.h"
#include "arguments.h"
#include "lstm/cuda_lstm.h"
#include "lstm/cuda_lstm_model_binding.h"
#include "lstm/lstm_state_wrap.h"

namespace {

struct CudaLstmStateBackend {
  using State = sluice::CudaLstmState;
  static constexpr const char* kClassName = "NativeCudaLstmState";
  static std::shared_ptr<sluice::CudaLstmModel> UnwrapModel(Napi::Env env, const Napi::Value& value) {
    auto model = UnwrapCudaLstmModel(env, value);
    if (!model) ThrowSluiceError(env, sluice::codes::kInvalidType, "model must be a native CUDA LstmModel");
    return model;
  }
  // A non-negative integer here; the core's KeyChecker then requires [1, 2^32 − 1] (ERR_OUT_OF_RANGE).
  static size_t ParseCapacity(Napi::Env env, const Napi::Value& value) { return SizeArg(env, value, "capacity"); }
};

}  // namespace

void InitCudaLstmState(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeCudaLstmState", LstmStateWrap<CudaLstmStateBackend>::Define(env));
}

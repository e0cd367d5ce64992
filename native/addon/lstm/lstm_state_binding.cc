// NativeLstmState: new (model, capacity); step(keys, x, out) → floats written; reset(keys?); snapshot() →
// Uint8Array; restore(bytes); close(); info(). The table is reported to V8 as external memory. The binding
// itself is LstmStateWrap (lstm_state_wrap.h), shared with NativeCudaLstmState.
#include <memory>

#include "addon.h"
#include "arguments.h"
#include "lstm/lstm_model_binding.h"
#include "lstm/lstm_state.h"
#include "lstm/lstm_state_wrap.h"

namespace {

struct CpuLstmStateBackend {
  using State = sluice::LstmState;
  static constexpr const char* kClassName = "NativeLstmState";
  static std::shared_ptr<sluice::LstmModel> UnwrapModel(Napi::Env env, const Napi::Value& value) {
    return UnwrapLstmModel(env, value);
  }
  static size_t ParseCapacity(Napi::Env env, const Napi::Value& value) {
    const double capacity = NumberArg(env, value, "capacity");
    if (!(capacity >= 1 && capacity <= 4294967295.0) || capacity != static_cast<double>(static_cast<int64_t>(capacity))) {
      ThrowSluiceError(env, sluice::codes::kOutOfRange, "capacity must be an integer in [1, 4294967295]");
    }
    return static_cast<size_t>(capacity);
  }
};

}  // namespace

void InitLstmState(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeLstmState", LstmStateWrap<CpuLstmStateBackend>::Define(env));
}

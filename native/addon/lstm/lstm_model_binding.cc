// NativeLstmModel: new (weights, threads); predict(x, steps, batch, batchFirst, sequence, out) → floats
// written; predictAsync(…) → Promise of `out`, computed on the async lane (async_work.h); close(); info().
// lib/lstm_model.ts validates first; the core checks every length again. All but the constructor and
// info()'s backend fields is LstmModelWrapBase (lstm_model_wrap.h), shared with NativeCudaLstmModel.
// Also testing.lstmFmaProbe, a benchmark's probe of the kernels.
#include <chrono>
#include <memory>
#include <string>

#include "addon.h"
#include "arguments.h"
#include "lstm/lstm_model_binding.h"
#include "lstm/lstm_model_wrap.h"
#include "typed_array.h"

namespace {

constexpr napi_type_tag kLstmModelTag = {0x5c1e7a11d0e1a5f1ULL, 0x8d3b2c4e6f708192ULL};

sluice::Span<const float> OptionalWeight(Napi::Env env, const Napi::Object& owner, const char* key,
                                         const std::string& name) {
  Napi::Value value = owner.Get(key);
  if (value.IsUndefined() || value.IsNull()) return {};
  return ToSpan<float>(env, value, name.c_str());
}

}  // namespace

// The weights object of lib/lstm_weights.ts as spans over its typed arrays (valid during this call).
sluice::LstmModelSpec ParseLstmModelSpec(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) ThrowSluiceError(env, sluice::codes::kInvalidType, "weights must be an object");
  Napi::Object weights = value.As<Napi::Object>();
  sluice::LstmModelSpec spec;
  spec.inputSize = SizeArg(env, weights.Get("inputSize"), "inputSize");
  spec.hiddenSize = SizeArg(env, weights.Get("hiddenSize"), "hiddenSize");
  Napi::Value layers = weights.Get("layers");
  if (!layers.IsArray()) ThrowSluiceError(env, sluice::codes::kInvalidType, "layers must be an array");
  Napi::Array layerArray = layers.As<Napi::Array>();
  for (uint32_t l = 0; l < layerArray.Length(); ++l) {
    const std::string name = "layers[" + std::to_string(l) + "].";
    Napi::Value layerValue = layerArray.Get(l);
    if (!layerValue.IsObject()) ThrowSluiceError(env, sluice::codes::kInvalidType, name + " must be an object");
    Napi::Object layer = layerValue.As<Napi::Object>();
    spec.layers.push_back({ToSpan<float>(env, layer.Get("weightIh"), (name + "weightIh").c_str()),
                           ToSpan<float>(env, layer.Get("weightHh"), (name + "weightHh").c_str()),
                           OptionalWeight(env, layer, "biasIh", name + "biasIh"),
                           OptionalWeight(env, layer, "biasHh", name + "biasHh")});
  }
  Napi::Value head = weights.Get("head");
  if (!head.IsUndefined() && !head.IsNull()) {
    if (!head.IsObject()) ThrowSluiceError(env, sluice::codes::kInvalidType, "head must be an object");
    Napi::Object headObject = head.As<Napi::Object>();
    spec.hasHead = true;
    spec.headWeight = ToSpan<float>(env, headObject.Get("weight"), "head.weight");
    spec.headBias = OptionalWeight(env, headObject, "bias", "head.bias");
    const size_t hidden = spec.hiddenSize == 0 ? 1 : spec.hiddenSize;
    spec.headOutputs = spec.headWeight.size / hidden;
    if (spec.headOutputs * hidden != spec.headWeight.size || spec.headOutputs == 0) {
      ThrowSluiceError(env, sluice::codes::kInvalidLength,
                       "head.weight must have outputSize·hiddenSize floats (a positive multiple of hiddenSize " +
                           std::to_string(spec.hiddenSize) + "), got " + std::to_string(spec.headWeight.size));
    }
  }
  return spec;
}

namespace {

class LstmModelWrap : public LstmModelWrapBase<LstmModelWrap, sluice::LstmModel> {
 public:
  static Napi::Function Define(Napi::Env env) { return DefineLstmModelClass(env, "NativeLstmModel"); }

  LstmModelWrap(const Napi::CallbackInfo& info) : LstmModelWrapBase(info) {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      const sluice::LstmModelSpec spec = ParseLstmModelSpec(env, info[0]);
      const size_t threads = info[1].IsUndefined() ? 0 : SizeArg(env, info[1], "threads");
      const sluice::LstmModel& model = Attach(std::make_shared<sluice::LstmModel>(spec, threads));
      ReportMemory(env, model.WeightBytes());
    });
    info.This().As<Napi::Object>().TypeTag(&kLstmModelTag);
  }

  static void AddBackendInfo(Napi::Object& result, const sluice::LstmModel& model) {
    result.Set("threads", static_cast<double>(model.threads()));
    result.Set("simd", sluice::SimdLevelName(model.simdLevel()));
    result.Set("weightBytes", static_cast<double>(model.WeightBytes()));
  }
};

// testing.lstmFmaProbe(iterations) → { flops, seconds, simd, sink }: one thread's FMA throughput with the
// active kernels, the "physical limit" column of bench/lstm.bench.js.
Napi::Value FmaProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t iterations = SizeArg(env, info[0], "iterations");
  const sluice::LstmKernels& kernels = sluice::LstmKernelsFor(sluice::ActiveSimdLevel());
  const auto start = std::chrono::steady_clock::now();
  const float sink = kernels.fmaProbe(iterations);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Napi::Object result = Napi::Object::New(env);
  result.Set("flops", static_cast<double>(iterations) * static_cast<double>(kernels.fmaProbeFlops));
  result.Set("seconds", seconds);
  result.Set("simd", sluice::SimdLevelName(kernels.level));
  result.Set("sink", sink);
  return result;
}

}  // namespace

std::shared_ptr<sluice::LstmModel> UnwrapLstmModel(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kLstmModelTag)) {
    ThrowSluiceError(env, sluice::codes::kInvalidType, "model must be a native LstmModel");
  }
  return LstmModelWrap::Unwrap(value.As<Napi::Object>())->SharedCore(env);
}

void InitLstmModel(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeLstmModel", LstmModelWrap::Define(env));
  TestingExports(env, exports).Set("lstmFmaProbe", Napi::Function::New(env, FmaProbe, "lstmFmaProbe"));
}

// NativeLstmTrainer: new (nativeModel, threads, options) copies the model's current weights;
// trainEpoch(x, steps, examples, y, order, batchSize, valBegin, valEnd) → { loss, mae, valLoss, valMae,
// batches, aborted } and trainEpochAsync(…) → Promise of it (on the training lane, async_work.h; abort() stops it
// before the next mini-batch); lossAndGradient(x, steps, examples, y) → { loss, gradient: LstmWeights };
// weights() → LstmWeights; saveBest(); restoreBest(); info(); close().
// lstmModelWeights(nativeModel) → LstmWeights: an inference model's current weights.
// lib/training.ts validates first; the core checks every length again.
#include <atomic>
#include <memory>
#include <string>

#include "addon.h"
#include "arguments.h"
#include "async_buffers.h"
#include "async_work.h"
#include "lstm/lstm_model_binding.h"
#include "lstm/lstm_training.h"
#include "native_handle.h"
#include "typed_array.h"

namespace {

// PyTorch-ordered tensors (per layer weight_ih, weight_hh, bias_ih, bias_hh; then head weight, bias) as
// the LstmWeights object of lib/lstm_weights.ts.
Napi::Object ToWeights(Napi::Env env, const std::vector<std::vector<float>>& tensors, size_t inputSize,
                       size_t hiddenSize, size_t layers, bool hasHead) {
  Napi::Object weights = Napi::Object::New(env);
  weights.Set("inputSize", static_cast<double>(inputSize));
  weights.Set("hiddenSize", static_cast<double>(hiddenSize));
  Napi::Array layerArray = Napi::Array::New(env, layers);
  for (size_t l = 0; l < layers; ++l) {
    Napi::Object layer = Napi::Object::New(env);
    layer.Set("weightIh", CopyToTypedArray(env, tensors[4 * l]));
    layer.Set("weightHh", CopyToTypedArray(env, tensors[4 * l + 1]));
    layer.Set("biasIh", CopyToTypedArray(env, tensors[4 * l + 2]));
    layer.Set("biasHh", CopyToTypedArray(env, tensors[4 * l + 3]));
    layerArray.Set(static_cast<uint32_t>(l), layer);
  }
  weights.Set("layers", layerArray);
  if (hasHead) {
    Napi::Object head = Napi::Object::New(env);
    head.Set("weight", CopyToTypedArray(env, tensors[4 * layers]));
    head.Set("bias", CopyToTypedArray(env, tensors[4 * layers + 1]));
    weights.Set("head", head);
  }
  return weights;
}

struct EpochResult {
  sluice::LstmEpochResult epoch;
  sluice::LstmLossSums validation;
};

class LstmTrainerWrap : public NativeHandle<LstmTrainerWrap, sluice::LstmTrainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineHandleClass(
        env, "NativeLstmTrainer",
        {InstanceMethod("trainEpoch", &LstmTrainerWrap::TrainEpoch),
         InstanceMethod("trainEpochAsync", &LstmTrainerWrap::TrainEpochAsync),
         InstanceMethod("lossAndGradient", &LstmTrainerWrap::LossAndGradient),
         InstanceMethod("weights", &LstmTrainerWrap::Weights), InstanceMethod("saveBest", &LstmTrainerWrap::SaveBest),
         InstanceMethod("restoreBest", &LstmTrainerWrap::RestoreBest), InstanceMethod("abort", &LstmTrainerWrap::Abort),
         InstanceMethod("info", &LstmTrainerWrap::Info)});
  }

  // In-flight epochs hold their own shared_ptr to the trainer: close() does not wait for them.
  LstmTrainerWrap(const Napi::CallbackInfo& info) : NativeHandle(info, "the trainer is closed") {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      auto model = UnwrapLstmModel(env, info[0]);
      const size_t threads = info[1].IsUndefined() ? 0 : SizeArg(env, info[1], "threads");
      if (!info[2].IsObject()) ThrowSluiceError(env, sluice::codes::kInvalidType, "options must be an object");
      Napi::Object o = info[2].As<Napi::Object>();
      sluice::LstmTrainerOptions options;
      options.learningRate = NumberOption(env, o, "learningRate", options.learningRate);
      options.beta1 = NumberOption(env, o, "beta1", options.beta1);
      options.beta2 = NumberOption(env, o, "beta2", options.beta2);
      options.epsilon = NumberOption(env, o, "epsilon", options.epsilon);
      options.weightDecay = NumberOption(env, o, "weightDecay", options.weightDecay);
      options.clipNorm = NumberOption(env, o, "clipNorm", options.clipNorm);
      const Napi::Value loss = o.Get("loss");
      if (!loss.IsUndefined()) {
        const std::string name = loss.ToString();
        if (name == "mae") options.loss = sluice::LstmLoss::kMae;
        else if (name != "mse") ThrowSluiceError(env, sluice::codes::kInvalidArgument, "loss must be 'mse' or 'mae'");
      }
      const std::vector<std::vector<float>> tensors = model->ExportWeights();
      if (!model->hasHead()) {
        ThrowSluiceError(env, sluice::codes::kInvalidArgument, "training needs a model with a linear head");
      }
      sluice::LstmModelSpec spec;
      spec.inputSize = model->inputSize();
      spec.hiddenSize = model->hiddenSize();
      for (size_t l = 0; l < model->numLayers(); ++l) {
        spec.layers.push_back({{tensors[4 * l].data(), tensors[4 * l].size()},
                               {tensors[4 * l + 1].data(), tensors[4 * l + 1].size()},
                               {tensors[4 * l + 2].data(), tensors[4 * l + 2].size()},
                               {tensors[4 * l + 3].data(), tensors[4 * l + 3].size()}});
      }
      const size_t head = 4 * model->numLayers();
      spec.hasHead = true;
      spec.headOutputs = model->outputSize();
      spec.headWeight = {tensors[head].data(), tensors[head].size()};
      spec.headBias = {tensors[head + 1].data(), tensors[head + 1].size()};
      const sluice::LstmTrainer& trainer =
          Attach(std::make_shared<sluice::LstmTrainer>(spec, threads, sluice::ActiveSimdLevel(), options));
      ReportMemory(env, trainer.Bytes());
    });
  }

 private:
  struct EpochCall {
    sluice::LstmDataset data;
    sluice::Span<const uint32_t> order;
    size_t batchSize, valBegin, valEnd;
  };
  static sluice::LstmDataset ParseData(Napi::Env env, const Napi::CallbackInfo& info) {
    sluice::LstmDataset data;
    data.x = ToSpan<float>(env, info[0], "x");
    data.steps = SizeArg(env, info[1], "steps");
    data.examples = SizeArg(env, info[2], "examples");
    data.y = ToSpan<float>(env, info[3], "y");
    return data;
  }
  static EpochCall ParseEpoch(Napi::Env env, const Napi::CallbackInfo& info) {
    EpochCall call{ParseData(env, info), ToSpan<uint32_t>(env, info[4], "order"), SizeArg(env, info[5], "batchSize"),
                   SizeArg(env, info[6], "valBegin"), SizeArg(env, info[7], "valEnd")};
    return call;
  }
  // An EpochCall's arrays, copied for async work.
  struct EpochInputs {
    explicit EpochInputs(const EpochCall& call)
        : call_(call), x_(call.data.x), y_(call.data.y), order_(call.order) {}
    EpochCall Call() const {
      EpochCall call = call_;
      call.data.x = x_.span();
      call.data.y = y_.span();
      call.order = order_.span();
      return call;
    }

   private:
    EpochCall call_;
    AsyncInput<float> x_, y_;
    AsyncInput<uint32_t> order_;
  };
  static EpochResult Run(sluice::LstmTrainer& trainer, const EpochCall& call, const std::atomic<bool>* abort) {
    EpochResult result;
    result.epoch = trainer.TrainEpoch(call.data, call.order, call.batchSize, abort);
    if (!result.epoch.aborted && call.valEnd > call.valBegin) {
      result.validation = trainer.Evaluate(call.data, call.valBegin, call.valEnd);
    }
    return result;
  }
  static Napi::Object ToObject(Napi::Env env, const EpochResult& r) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", r.epoch.train.Mse());
    o.Set("mae", r.epoch.train.Mae());
    o.Set("examples", static_cast<double>(r.epoch.train.values));
    o.Set("batches", static_cast<double>(r.epoch.batches));
    o.Set("aborted", r.epoch.aborted);
    if (r.validation.values > 0) {
      o.Set("valLoss", r.validation.Mse());
      o.Set("valMae", r.validation.Mae());
    }
    return o;
  }

  Napi::Value TrainEpoch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      sluice::LstmTrainer& trainer = Ready(env);
      EpochCall call = ParseEpoch(env, info);
      // order indexes the examples: checked in one pass and used in the next, so shared memory is copied.
      const StableColumn<uint32_t> order(env, info[4], "order");
      call.order = order.span();
      return ToObject(env, Run(trainer, call, abort_.get()));
    });
  }

  // The epoch trains on copies of x, y and order (async_buffers.h: the caller may detach or resize them
  // meanwhile), on the training lane (async_work.h), so that predictAsync calls never wait behind an epoch.
  Napi::Value TrainEpochAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      std::shared_ptr<sluice::LstmTrainer> trainer = SharedCore(env);
      const EpochCall call = ParseEpoch(env, info);
      auto inputs = std::make_shared<const EpochInputs>(call);
      auto result = std::make_shared<EpochResult>();
      auto abort = abort_;
      return QueuePromiseWorkOn(
          SluiceAddon::From(env).trainingLane(), env, {info.This()},
          [trainer, inputs, result, abort] { *result = Run(*trainer, inputs->Call(), abort.get()); },
          [result](Napi::Env env, const std::vector<Napi::ObjectReference>&) -> Napi::Value {
            return ToObject(env, *result);
          });
    });
  }

  Napi::Value LossAndGradient(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      sluice::LstmTrainer& trainer = Ready(env);
      sluice::LstmTensors gradient;
      const double loss = trainer.LossAndGradient(ParseData(env, info), &gradient);
      Napi::Object o = Napi::Object::New(env);
      o.Set("loss", loss);
      o.Set("gradient", ToWeights(env, gradient, trainer.inputSize(), trainer.hiddenSize(), trainer.numLayers(), true));
      return o;
    });
  }

  Napi::Value Weights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const sluice::LstmTrainer& trainer = Ready(env);
    return ToWeights(env, trainer.Weights(), trainer.inputSize(), trainer.hiddenSize(), trainer.numLayers(), true);
  }
  Napi::Value SaveBest(const Napi::CallbackInfo& info) {
    Ready(info.Env()).SaveBest();
    return info.Env().Undefined();
  }
  Napi::Value RestoreBest(const Napi::CallbackInfo& info) {
    Ready(info.Env()).RestoreBest();
    return info.Env().Undefined();
  }
  // Asks a running epoch to stop before its next mini-batch (from the JS thread, while a worker trains).
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    abort_->store(true);
    return info.Env().Undefined();
  }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const sluice::LstmTrainer& trainer = Ready(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("threads", static_cast<double>(trainer.threads()));
    o.Set("simd", sluice::SimdLevelName(trainer.simdLevel()));
    o.Set("parameters", static_cast<double>(trainer.parameterCount()));
    o.Set("bytes", static_cast<double>(trainer.Bytes()));
    return o;
  }

  std::shared_ptr<std::atomic<bool>> abort_ = std::make_shared<std::atomic<bool>>(false);
};

Napi::Value LstmModelWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return TranslateErrors(env, [&]() -> Napi::Value {
    auto model = UnwrapLstmModel(env, info[0]);
    return ToWeights(env, model->ExportWeights(), model->inputSize(), model->hiddenSize(), model->numLayers(),
                     model->hasHead());
  });
}

}  // namespace

void InitLstmTrainer(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeLstmTrainer", LstmTrainerWrap::Define(env));
  exports.Set("lstmModelWeights", Napi::Function::New(env, LstmModelWeights, "lstmModelWeights"));
}

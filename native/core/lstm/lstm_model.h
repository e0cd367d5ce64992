// A stacked unidirectional LSTM with an optional linear head, float32, PyTorch semantics and weight layout
// (gates i, f, g, o). Weights are validated and packed once; Predict runs whole sequences, Step advances
// per-key states (LstmState) by one step. Both split the batch into tasks for the model's thread pool; each
// task's rows run every layer and step on their own, so threads never wait on each other inside a call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "lstm/lstm_kernels.h"
#include "base/span.h"
#include "base/thread_pool.h"

namespace sluice {

struct LstmLayerSpec {
  Span<const float> weightIh;  // [4H][layer input]
  Span<const float> weightHh;  // [4H][H]
  Span<const float> biasIh;    // [4H] or empty (zeros)
  Span<const float> biasHh;    // [4H] or empty (zeros)
};

struct LstmModelSpec {
  size_t inputSize = 0;
  size_t hiddenSize = 0;
  std::vector<LstmLayerSpec> layers;
  bool hasHead = false;
  size_t headOutputs = 0;
  Span<const float> headWeight;  // [O][H]
  Span<const float> headBias;    // [O] or empty (zeros)
};

struct LstmRunShape {
  size_t steps = 0;
  size_t batch = 0;
  bool batchFirst = false;  // x is [batch][steps][I] (and a sequence output [batch][steps][O])
  bool sequence = false;    // output every step, not just the last
};

class LstmModel {
 public:
  // Throws CoreError: ERR_INVALID_ARGUMENT for sizes out of range or non-finite weights, ERR_INVALID_LENGTH
  // for a weight of the wrong length (the message names it). threads: 0 = the machine's.
  LstmModel(const LstmModelSpec& spec, size_t threads, SimdLevel level);
  explicit LstmModel(const LstmModelSpec& spec, size_t threads = 0);

  size_t inputSize() const { return inputSize_; }
  size_t hiddenSize() const { return hidden_; }
  size_t paddedHidden() const { return paddedHidden_; }
  size_t numLayers() const { return layers_.size(); }
  bool hasHead() const { return headOutputs_ > 0; }
  // What one row of output holds: the head's outputs, or the hidden state.
  size_t outputSize() const { return hasHead() ? headOutputs_ : hidden_; }
  size_t threads() const { return pool_.threads(); }
  SimdLevel simdLevel() const { return kernels_->level; }
  const LstmKernels& kernels() const { return *kernels_; }
  // Bytes of packed weights, for AdjustExternalMemory (the per-thread scratch is not counted).
  size_t WeightBytes() const { return weightBytes_; }

  // Floats the output of Predict holds for `shape`.
  size_t OutputLength(const LstmRunShape& shape) const;

  // x: [steps][batch][I] (or [batch][steps][I]); out: at least OutputLength(shape) floats. Starts from zero
  // state. Thread-safe: calls on one model are serialised.
  void Predict(Span<const float> x, const LstmRunShape& shape, Span<float> out);

  // One step for n = keys.size rows: x [n][I]; the state of key k lives at state + k·StateStride()
  // (layer l: h at l·2·Hp, c at l·2·Hp + Hp; Hp floats each). out [n][outputSize()]. Keys must be distinct
  // and in range (LstmState checks); thread-safe like Predict.
  void Step(Span<const float> x, Span<const uint32_t> keys, float* state, Span<float> out);
  size_t StateStride() const { return layers_.size() * 2 * paddedHidden_; }

  // The weights in PyTorch's layout, unpacked from the panels (lstm_model_export.cc): per layer weight_ih,
  // weight_hh, bias_ih, bias_hh, then the head's weight and bias when there is one.
  std::vector<std::vector<float>> ExportWeights() const;

 private:
  struct PackedLayer {
    size_t inputSize;  // k of the input projection (I for layer 0, Hp above)
    std::vector<float> wih, whh, bias;
  };
  struct Workspace {
    std::vector<float> gates, hidden, hidden2, state;
  };
  struct SliceJob {
    size_t rows, steps;
    const float* x;
    size_t xStepStride, xRowStride;
    float* state;
    const uint32_t* keys;
    float* out;
    size_t outStepStride, outRowStride;
    bool sequence;
  };

  void RunSlice(const SliceJob& job, Workspace& ws) const;
  void RunBlock(const SliceJob& job, Workspace& ws) const;
  void Emit(size_t rows, const RowMap& h, const RowMap& out) const;
  size_t TaskCount(size_t rows, size_t steps) const;
  static size_t TaskBegin(size_t rows, size_t tasks, size_t task);

  const LstmKernels* kernels_;
  size_t inputSize_, hidden_, paddedHidden_, headOutputs_ = 0, headPadded_ = 0;
  std::vector<PackedLayer> layers_;
  std::vector<float> headWeight_, headBias_;
  std::vector<std::vector<float>> layerBiases_;  // per layer bias_ih, bias_hh as given (packing sums them)
  size_t gateColumns_ = 0;  // columns of a packed gate row that panels in use hold (PlanGatePanels)
  size_t weightBytes_ = 0;
  size_t flopsPerStepRow_ = 0;

  std::mutex mutex_;  // one call at a time: the pool and workspaces are shared
  ThreadPool pool_;
  std::vector<Workspace> workspaces_;  // one per pool thread
};

}  // namespace sluice

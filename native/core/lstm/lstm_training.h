// Training of a stacked LSTM with a linear head (LstmModelSpec with a head) for next-value forecasting:
// truncated back-propagation through time over [steps][batch][I] windows, the loss (MSE or MAE) on the head's
// output at the last step, Adam (PyTorch's semantics, L2 weight decay as torch.optim.Adam), global-norm
// gradient clipping, mini-batches in a caller-given order.
//
// Parameters live in one flat array, weight matrices transposed ([in][4H], [H][4H], head [H][O]) so that
// the forward products and the weight gradients run along contiguous rows of 4H; a PyTorch-layout copy
// ([4H][in], [4H][H], [O][H]) serves the backward products (gradients flowing to h and to the layer below).
// A mini-batch is split into `tasks` fixed slices of rows (from its size and the thread count only); each
// slice accumulates its own gradient and the slices are summed in order, so results are deterministic for a
// given order and thread count.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "lstm/lstm_model.h"
#include "lstm/lstm_training_kernels.h"
#include "base/span.h"
#include "base/thread_pool.h"

namespace sluice {

enum class LstmLoss { kMse = 0, kMae = 1 };

struct LstmTrainerOptions {
  double learningRate = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  double weightDecay = 0;  // L2 penalty added to the gradient (torch.optim.Adam's weight_decay)
  double clipNorm = 0;     // rescale the gradient to this global L2 norm when larger; 0: never
  LstmLoss loss = LstmLoss::kMse;
};

// x: [steps][examples][inputSize]; y: [examples][outputSize]. Example e's window is x[t][e] for every t.
struct LstmDataset {
  Span<const float> x, y;
  size_t steps = 0, examples = 0;
};

struct LstmLossSums {
  double squared = 0, absolute = 0;  // sums over examples and outputs
  size_t values = 0;                 // examples · outputs
  double Mse() const { return values ? squared / static_cast<double>(values) : 0; }
  double Mae() const { return values ? absolute / static_cast<double>(values) : 0; }
};

struct LstmEpochResult {
  LstmLossSums train;  // each mini-batch's loss before its update
  size_t batches = 0;
  bool aborted = false;
};

// One tensor in PyTorch's layout and order: per layer weight_ih, weight_hh, bias_ih, bias_hh; then the
// head's weight and bias.
using LstmTensors = std::vector<std::vector<float>>;

class LstmTrainer {
 public:
  // spec must have a head. Throws CoreError like LstmModel for bad sizes or weights, ERR_INVALID_ARGUMENT
  // for bad options. threads: 0 = the machine's.
  LstmTrainer(const LstmModelSpec& spec, size_t threads, SimdLevel level, const LstmTrainerOptions& options);

  size_t inputSize() const { return inputSize_; }
  size_t hiddenSize() const { return hidden_; }
  size_t outputSize() const { return outputs_; }
  size_t numLayers() const { return layers_.size(); }
  size_t threads() const { return pool_.threads(); }
  SimdLevel simdLevel() const { return kernels_->level; }
  size_t parameterCount() const { return params_.size(); }
  // Native bytes held (parameters, gradients, Adam moments, best copy, per-task gradients), for V8.
  size_t Bytes() const;

  // One pass over order (indices of examples), in mini-batches of batchSize, one Adam update each. Checks
  // `abort` before every mini-batch. Throws before any update for bad shapes or indices.
  LstmEpochResult TrainEpoch(const LstmDataset& data, Span<const uint32_t> order, size_t batchSize,
                             const std::atomic<bool>* abort = nullptr);
  // Loss of examples [begin, end) (no update).
  LstmLossSums Evaluate(const LstmDataset& data, size_t begin, size_t end);
  // The mean loss over all examples as one batch and its gradient (PyTorch layout), without an update.
  double LossAndGradient(const LstmDataset& data, LstmTensors* gradient);

  // The current weights in PyTorch's layout.
  LstmTensors Weights() const;
  void SaveBest();     // remembers the current weights
  void RestoreBest();  // back to the remembered ones (no-op if none)

 private:
  struct LayerOffsets {
    size_t wxT, whT, biasIh, biasHh, in;  // offsets into params_; `in`: the layer's input size
  };
  struct Workspace {
    std::vector<float> x, gates, c, h, dh, dc, dy, yhat, columnSum;
  };
  struct Slice {
    const uint32_t* indices;  // examples of the slice's rows (null: begin, begin+1, …)
    size_t begin, rows;
  };

  void CheckData(const LstmDataset& data) const;
  size_t TaskCount(size_t rows) const;
  // Rows per block: up to 32, fewer when their activations would exceed 64 MiB (long sequences, wide layers).
  size_t BlockRows(size_t steps) const;
  // Forward pass of one block of rows (BlockRows at most): fills ws with every step's activations and yhat.
  void Forward(const LstmDataset& data, const Slice& slice, Workspace& ws) const;
  // Forward + loss (+ backward into grad when not null), for the rows of one task in blocks.
  void RunTask(const LstmDataset& data, const Slice& slice, double lossScale, float* grad, LstmLossSums* sums,
               Workspace& ws) const;
  void Backward(const Slice& slice, double lossScale, const LstmDataset& data, float* grad, LstmLossSums* sums,
                Workspace& ws) const;
  // Sums of the whole batch's loss and gradient (into grad_) over the pool.
  LstmLossSums BatchGradient(const LstmDataset& data, const uint32_t* indices, size_t begin, size_t rows);
  void ApplyAdam();
  void SyncLayouts();  // refreshes the PyTorch-layout copies and combined biases from params_
  void ToTensors(const float* flat, LstmTensors* out) const;

  const LstmTrainingKernels* kernels_;
  LstmTrainerOptions options_;
  size_t inputSize_, hidden_, outputs_;
  std::vector<LayerOffsets> layers_;
  size_t headWT_ = 0, headBias_ = 0;
  std::vector<float> params_, grad_, m_, v_, best_;
  std::vector<std::vector<float>> wih_, whh_, bias_;  // PyTorch layout copies, combined bias per layer
  std::vector<float> wo_;                              // head weight [O][H]
  uint64_t adamStep_ = 0;
  mutable std::vector<std::vector<float>> taskGrads_;
  mutable std::mutex mutex_;  // one call at a time: the pool, workspaces and parameters are shared
  ThreadPool pool_;
  mutable std::vector<Workspace> workspaces_;
};

}  // namespace sluice

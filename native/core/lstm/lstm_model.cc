#include "lstm/lstm_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/denormals.h"
#include "base/error.h"
#include "lstm/lstm_checks.h"

namespace sluice {
namespace {

constexpr size_t kMaxSize = 1 << 16;      // inputSize, hiddenSize, head outputs
constexpr size_t kMaxLayers = 64;
constexpr size_t kChunkFloats = 1 << 17;  // gate + hidden scratch per block and time chunk (≈ 512 KiB, L2)
constexpr size_t kTileRows = 6;           // a multiple of every ISA's register tile height (6, 2, 2)
constexpr size_t kBlockRows = 48;         // rows per block (a multiple of kTileRows)
constexpr size_t kFusedInputMax = 16;     // layer 0 inputs up to this wide fuse into the recurrent tile
constexpr size_t kMinTaskFlops = 1 << 20;  // about 10–20 µs of kernel work: worth a thread's wake-up

size_t CheckedProduct(std::initializer_list<size_t> factors, const char* what) {
  size_t product = 1;
  for (size_t f : factors) {
    if (__builtin_mul_overflow(product, f, &product)) Fail(codes::kOutOfRange, std::string(what) + " is too large");
  }
  return product;
}

// Checked before the pool starts any thread.
size_t CheckedThreads(size_t threads) {
  Require(threads <= 1024, codes::kOutOfRange, "threads must be at most 1024");
  return threads;
}

}  // namespace

LstmModel::LstmModel(const LstmModelSpec& spec, size_t threads) : LstmModel(spec, threads, ActiveSimdLevel()) {}

LstmModel::LstmModel(const LstmModelSpec& spec, size_t threads, SimdLevel level)
    : kernels_(&LstmKernelsFor(level)),
      inputSize_(spec.inputSize),
      hidden_(spec.hiddenSize),
      paddedHidden_(RoundUp(spec.hiddenSize, kLstmHiddenPad)),
      pool_(CheckedThreads(threads)) {
  Require(inputSize_ >= 1 && inputSize_ <= kMaxSize, codes::kInvalidArgument, "inputSize must be in [1, 65536]");
  Require(hidden_ >= 1 && hidden_ <= kMaxSize, codes::kInvalidArgument, "hiddenSize must be in [1, 65536]");
  Require(!spec.layers.empty() && spec.layers.size() <= kMaxLayers, codes::kInvalidArgument,
          "an LSTM needs 1 to 64 layers");
  const size_t H = hidden_, Hp = paddedHidden_, W = kernels_->width;
  for (size_t l = 0; l < spec.layers.size(); ++l) {
    const LstmLayerSpec& in = spec.layers[l];
    const size_t layerInput = l == 0 ? inputSize_ : H;
    const std::string name = "layers[" + std::to_string(l) + "].";
    const std::string inName = l == 0 ? "inputSize" : "hiddenSize";
    CheckLstmWeight(in.weightIh, 4 * H * layerInput, false, name + "weightIh", "4·hiddenSize·" + inName);
    CheckLstmWeight(in.weightHh, 4 * H * H, false, name + "weightHh", "4·hiddenSize·hiddenSize");
    CheckLstmWeight(in.biasIh, 4 * H, true, name + "biasIh", "4·hiddenSize");
    CheckLstmWeight(in.biasHh, 4 * H, true, name + "biasHh", "4·hiddenSize");
  }
  if (spec.hasHead) {
    Require(spec.headOutputs >= 1 && spec.headOutputs <= kMaxSize, codes::kInvalidArgument,
            "head outputs must be in [1, 65536]");
    CheckLstmWeight(spec.headWeight, spec.headOutputs * H, false, "head.weight", "outputSize·hiddenSize");
    CheckLstmWeight(spec.headBias, spec.headOutputs, true, "head.bias", "outputSize");
  }

  for (size_t l = 0; l < spec.layers.size(); ++l) {
    const LstmLayerSpec& in = spec.layers[l];
    PackedLayer layer;
    layer.inputSize = l == 0 ? inputSize_ : Hp;
    layer.wih.resize(Hp / W * layer.inputSize * 4 * W);
    PackGatePanels(in.weightIh.data, H, l == 0 ? inputSize_ : H, Hp, layer.inputSize, W, layer.wih.data());
    layer.whh.resize(Hp / W * Hp * 4 * W);
    PackGatePanels(in.weightHh.data, H, H, Hp, Hp, W, layer.whh.data());
    layer.bias.assign(4 * Hp, 0.0f);
    AddGateBias(in.biasIh.empty() ? nullptr : in.biasIh.data, H, W, layer.bias.data());
    AddGateBias(in.biasHh.empty() ? nullptr : in.biasHh.data, H, W, layer.bias.data());
    layerBiases_.emplace_back(in.biasIh.begin(), in.biasIh.end());
    layerBiases_.emplace_back(in.biasHh.begin(), in.biasHh.end());
    weightBytes_ += (layer.wih.size() + layer.whh.size() + layer.bias.size()) * sizeof(float);
    layers_.push_back(std::move(layer));
  }
  if (spec.hasHead) {
    headOutputs_ = spec.headOutputs;
    headPadded_ = RoundUp(headOutputs_, 4 * W);
    headWeight_.resize(headPadded_ * Hp);
    PackPanels(spec.headWeight.data, headOutputs_, H, Hp, W, headWeight_.data());
    headBias_.assign(headPadded_, 0.0f);
    if (!spec.headBias.empty()) std::copy(spec.headBias.begin(), spec.headBias.end(), headBias_.begin());
    weightBytes_ += (headWeight_.size() + headBias_.size()) * sizeof(float);
  }
  gateColumns_ = PlanGatePanels(H, W).Columns(W);
  // Multiply-adds of the gate products per row and step (×2 flops), for TaskCount.
  for (const PackedLayer& layer : layers_) flopsPerStepRow_ += 2 * 4 * paddedHidden_ * (layer.inputSize + paddedHidden_);
  workspaces_.resize(pool_.threads());
}

size_t LstmModel::OutputLength(const LstmRunShape& shape) const {
  return CheckedProduct({shape.sequence ? shape.steps : 1, shape.batch, outputSize()}, "the output");
}

// Little work: fewer tasks than threads, each of at least kMinTaskFlops (waking a pool thread and waiting
// for it takes several µs, far more on a loaded machine: a pipeline's state step of 64 keys at H 24, about
// 10 µs of work, ran slower on two threads than on one). Few rows: one task per thread, at least 8 rows
// each. Many rows: tasks of about kBlockRows rows, taken dynamically, so a thread the OS delays (this
// machine is shared) does not hold back the call. Rows are independent, so results never depend on this.
size_t LstmModel::TaskCount(size_t rows, size_t steps) const {
  const size_t threads = pool_.threads();
  const size_t minRows = std::max<size_t>(8, kMinTaskFlops / std::max<size_t>(1, steps * flopsPerStepRow_));
  if (rows < threads * minRows) return std::max<size_t>(1, rows / minRows);
  if (rows <= threads * kBlockRows) return threads;
  return (rows + kBlockRows - 1) / kBlockRows;
}

// Task boundaries fall on multiples of kTileRows so that only the last task has a short register tile.
size_t LstmModel::TaskBegin(size_t rows, size_t tasks, size_t task) {
  const size_t groups = (rows + kTileRows - 1) / kTileRows;
  return std::min(rows, groups * task / tasks * kTileRows);
}

void LstmModel::Predict(Span<const float> x, const LstmRunShape& shape, Span<float> out) {
  Require(shape.steps >= 1, codes::kOutOfRange, "steps must be at least 1");
  Require(shape.batch >= 1, codes::kOutOfRange, "batch must be at least 1");
  const size_t expected = CheckedProduct({shape.steps, shape.batch, inputSize_}, "steps·batch·inputSize");
  CheckInputLength(x.size, expected, "steps·batch·inputSize");
  const size_t outLength = OutputLength(shape);
  CheckOutputLength(out.size, outLength);
  const size_t T = shape.steps, B = shape.batch, I = inputSize_, O = outputSize();
  const size_t xStep = shape.batchFirst ? I : B * I, xRow = shape.batchFirst ? T * I : I;
  const size_t outStep = shape.sequence ? (shape.batchFirst ? O : B * O) : 0;
  const size_t outRow = shape.sequence && shape.batchFirst ? T * O : O;

  std::lock_guard<std::mutex> lock(mutex_);
  const size_t tasks = TaskCount(B, T);
  pool_.Run(tasks, [&](size_t s, size_t thread) {
    const size_t b0 = TaskBegin(B, tasks, s), b1 = TaskBegin(B, tasks, s + 1);
    Workspace& ws = workspaces_[thread];
    ws.state.assign((b1 - b0) * StateStride(), 0.0f);
    const SliceJob job{b1 - b0, T, x.data + b0 * xRow, xStep, xRow, ws.state.data(), nullptr,
                       out.data + b0 * outRow, outStep, outRow, shape.sequence};
    RunSlice(job, ws);
  });
}

void LstmModel::Step(Span<const float> x, Span<const uint32_t> keys, float* state, Span<float> out) {
  const size_t n = keys.size, I = inputSize_, O = outputSize();
  Require(x.size == CheckedProduct({n, I}, "x"), codes::kInvalidLength, "x must have keys.length·inputSize floats");
  Require(out.size >= CheckedProduct({n, O}, "out"), codes::kInvalidLength,
          "out must hold keys.length·outputSize floats");
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t tasks = TaskCount(n, 1);
  pool_.Run(tasks, [&](size_t s, size_t thread) {
    const size_t r0 = TaskBegin(n, tasks, s), r1 = TaskBegin(n, tasks, s + 1);
    const SliceJob job{r1 - r0, 1, x.data + r0 * I, 0, I, state, keys.data + r0, out.data + r0 * O, 0, O, false};
    RunSlice(job, workspaces_[thread]);
  });
}

void LstmModel::Emit(size_t rows, const RowMap& h, const RowMap& out) const {
  if (hasHead()) {
    kernels_->gemm(rows, h, paddedHidden_, headWeight_.data(), headPadded_, headBias_.data(), out, headOutputs_);
  } else {
    for (size_t r = 0; r < rows; ++r) std::memcpy(out.Row(r), h.Row(r), hidden_ * sizeof(float));
  }
}

// One task's rows (a slice of the batch) through every layer and step. Rows are independent: they run in
// blocks of kBlockRows so a block's gate pre-activations stay in cache however large the batch (the
// kernels read each weight panel once per group of register tiles either way).
void LstmModel::RunSlice(const SliceJob& job, Workspace& ws) const {
  const ScopedFlushDenormals flush;  // saturated gates would otherwise cost a microcode assist each
  // Keyed rows: a table of many keys (100,000) is far beyond the caches, and each row's (h, c) is a miss.
  // The next block's rows are requested while this block computes, so the misses overlap the arithmetic.
  const size_t stateBytes = StateStride() * sizeof(float);
  auto prefetchBlock = [&](size_t r0) {
    const size_t r1 = std::min(job.rows, r0 + kBlockRows);
    for (size_t r = r0; r < r1; ++r) {
      const char* row = reinterpret_cast<const char*>(job.state + job.keys[r] * StateStride());
      for (size_t at = 0; at < stateBytes; at += 64) __builtin_prefetch(row + at, 1, 3);
    }
  };
  if (job.keys) prefetchBlock(0);
  for (size_t r0 = 0; r0 < job.rows; r0 += kBlockRows) {
    if (job.keys && r0 + kBlockRows < job.rows) prefetchBlock(r0 + kBlockRows);
    SliceJob block = job;
    block.rows = std::min(kBlockRows, job.rows - r0);
    block.x = job.x + r0 * job.xRowStride;
    if (job.keys) block.keys = job.keys + r0;
    else block.state = job.state + r0 * StateStride();
    block.out = job.out + r0 * job.outRowStride;
    RunBlock(block, ws);
  }
}

// One block of rows, a chunk of steps at a time so that the gate pre-activations of a chunk stay in cache:
// per chunk and layer, one GEMM projects the inputs of all its steps, then one fused recurrent kernel per
// step. Layer l's hidden outputs overwrite layer l−1's in `hidden` once the projection has read them.
void LstmModel::RunBlock(const SliceJob& job, Workspace& ws) const {
  const size_t rows = job.rows, Hp = paddedHidden_, G4 = 4 * Hp, stride = StateStride();
  const size_t chunk = std::max<size_t>(1, std::min(job.steps, kChunkFloats / (rows * 5 * Hp)));
  // A chunk of one step (streaming steps, steps = 1, very wide layers) fuses the input projection into the
  // recurrent tile instead: its gates never go through memory. Layers then alternate between two buffers.
  const bool fused = chunk == 1;
  // In longer chunks layer 0 still fuses a narrow input (a forecaster's 2 features): its projection is a
  // few multiply-adds per gate, and the GEMM would mostly write gates to memory and read them back. Layer 0
  // reads job.x, never a hidden buffer, so it can write `hidden` in place. The sums are added in the same
  // order either way (bias, x·Wih, h·Whh), so results are the same bit for bit.
  const bool fuseFirst = fused || layers_[0].inputSize <= kFusedInputMax;
  if ((!fused && (!fuseFirst || layers_.size() > 1)) && ws.gates.size() < chunk * rows * G4)
    ws.gates.resize(chunk * rows * G4);
  if (ws.hidden.size() < chunk * rows * Hp) ws.hidden.resize(chunk * rows * Hp);
  if (fused && ws.hidden2.size() < rows * Hp) ws.hidden2.resize(rows * Hp);
  float* gates = ws.gates.data();
  float* buffers[2] = {ws.hidden.data(), fused ? ws.hidden2.data() : ws.hidden.data()};
  float* top = buffers[(layers_.size() - 1) % 2];  // the top layer's outputs

  for (size_t t0 = 0; t0 < job.steps; t0 += chunk) {
    const size_t tc = std::min(chunk, job.steps - t0), m = tc * rows;
    for (size_t l = 0; l < layers_.size(); ++l) {
      const PackedLayer& layer = layers_[l];
      float* hidden = buffers[l % 2];
      const RowMap input = l == 0 ? RowMap{const_cast<float*>(job.x) + t0 * job.xStepStride, nullptr, rows,
                                           job.xStepStride, job.xRowStride}
                                  : RowMap{buffers[(l - 1) % 2], nullptr, SIZE_MAX, 0, Hp};
      const bool fuseLayer = fused || (l == 0 && fuseFirst);
      if (!fuseLayer) {  // only the gate columns of panels in use (the step reads no others)
        kernels_->gemm(m, input, layer.inputSize, layer.wih.data(), G4, layer.bias.data(),
                       RowMap{gates, nullptr, SIZE_MAX, 0, G4}, gateColumns_);
      }
      const RowMap stateH{job.state + l * 2 * Hp, job.keys, SIZE_MAX, 0, stride};
      const RowMap stateC{job.state + l * 2 * Hp + Hp, job.keys, SIZE_MAX, 0, stride};
      for (size_t t = 0; t < tc; ++t) {
        LstmStepArgs step;
        step.rows = rows;
        step.paddedHidden = Hp;
        step.hidden = hidden_;
        if (!fuseLayer) step.inputGates = gates + t * rows * G4;
        step.packedWhh = layer.whh.data();
        step.hPrev = t == 0 ? stateH : RowMap{hidden + (t - 1) * rows * Hp, nullptr, SIZE_MAX, 0, Hp};
        step.c = stateC;
        step.hOut = RowMap{hidden + t * rows * Hp, nullptr, SIZE_MAX, 0, Hp};
        if (fuseLayer) {
          step.packedWih = layer.wih.data();
          step.bias = layer.bias.data();
          step.inputSize = layer.inputSize;
          step.x = input;
          step.x.base += t * (l == 0 ? job.xStepStride : 0);  // fused chunks (t > 0) are layer 0's only
        }
        kernels_->lstmStep(step);
      }
      const float* last = hidden + (tc - 1) * rows * Hp;
      for (size_t r = 0; r < rows; ++r) std::memcpy(stateH.Row(r), last + r * Hp, Hp * sizeof(float));
    }
    if (job.sequence) {
      Emit(m, RowMap{top, nullptr, SIZE_MAX, 0, Hp},
           RowMap{job.out + t0 * job.outStepStride, nullptr, rows, job.outStepStride, job.outRowStride});
    }
  }
  if (!job.sequence) {
    const RowMap lastH{job.state + (layers_.size() - 1) * 2 * Hp, job.keys, SIZE_MAX, 0, stride};
    Emit(rows, lastH, RowMap{job.out, nullptr, SIZE_MAX, 0, job.outRowStride});
  }
}

}  // namespace sluice

#include "lstm/lstm_training.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "base/error.h"

namespace sluice {
namespace {

constexpr size_t kMaxSize = 1 << 16;
constexpr size_t kMaxLayers = 64;
constexpr size_t kBlockRows = 32;      // rows whose activations are kept at once (per task), at most
constexpr size_t kBlockFloats = 1 << 24;  // and at most 64 MiB of activations per thread, unless one row needs more
constexpr size_t kMinTaskRows = 8;     // below that a thread's wake-up costs more than its rows

void CheckTensor(Span<const float> w, size_t expected, bool optional, const std::string& name) {
  if (optional && w.size == 0) return;
  if (w.size != expected) {
    Fail(codes::kInvalidLength,
         name + " must have " + std::to_string(expected) + " floats, got " + std::to_string(w.size));
  }
  for (size_t i = 0; i < w.size; ++i) {
    if (!std::isfinite(w[i])) Fail(codes::kInvalidArgument, name + "[" + std::to_string(i) + "] is not finite");
  }
}

// w [rows][cols] → out [cols][rows]
void Transpose(const float* w, size_t rows, size_t cols, float* out) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) out[c * rows + r] = w[r * cols + c];
}

// Checked before the pool starts any thread.
size_t CheckedThreads(size_t threads) {
  Require(threads <= 1024, codes::kOutOfRange, "threads must be at most 1024");
  return threads;
}

void CheckPositive(double value, const char* message) { Require(std::isfinite(value) && value > 0, codes::kInvalidArgument, message); }

// The sum of the tasks' loss sums.
LstmLossSums TotalOf(const std::vector<LstmLossSums>& sums) {
  LstmLossSums total;
  for (const LstmLossSums& s : sums) {
    total.squared += s.squared;
    total.absolute += s.absolute;
    total.values += s.values;
  }
  return total;
}

}  // namespace

LstmTrainer::LstmTrainer(const LstmModelSpec& spec, size_t threads, SimdLevel level, const LstmTrainerOptions& options)
    : kernels_(&LstmTrainingKernelsFor(level)),
      options_(options),
      inputSize_(spec.inputSize),
      hidden_(spec.hiddenSize),
      outputs_(spec.headOutputs),
      pool_(CheckedThreads(threads)) {
  Require(inputSize_ >= 1 && inputSize_ <= kMaxSize, codes::kInvalidArgument, "inputSize must be in [1, 65536]");
  Require(hidden_ >= 1 && hidden_ <= kMaxSize, codes::kInvalidArgument, "hiddenSize must be in [1, 65536]");
  Require(!spec.layers.empty() && spec.layers.size() <= kMaxLayers, codes::kInvalidArgument,
          "an LSTM needs 1 to 64 layers");
  Require(spec.hasHead && outputs_ >= 1 && outputs_ <= kMaxSize, codes::kInvalidArgument,
          "training needs a linear head with 1 to 65536 outputs");
  CheckPositive(options.learningRate, "learningRate must be a positive number");
  Require(options.beta1 >= 0 && options.beta1 < 1, codes::kInvalidArgument, "beta1 must be in [0, 1)");
  Require(options.beta2 >= 0 && options.beta2 < 1, codes::kInvalidArgument, "beta2 must be in [0, 1)");
  CheckPositive(options.epsilon, "epsilon must be a positive number");
  Require(std::isfinite(options.weightDecay) && options.weightDecay >= 0, codes::kInvalidArgument,
          "weightDecay must be a non-negative number");
  Require(std::isfinite(options.clipNorm) && options.clipNorm >= 0, codes::kInvalidArgument,
          "clipNorm must be a non-negative number (0: no clipping)");

  const size_t H = hidden_, G = 4 * H;
  size_t offset = 0;
  for (size_t l = 0; l < spec.layers.size(); ++l) {
    const size_t in = l == 0 ? inputSize_ : H;
    layers_.push_back({offset, offset + in * G, offset + in * G + H * G, offset + in * G + H * G + G, in});
    offset += in * G + H * G + 2 * G;
  }
  headWT_ = offset;
  headBias_ = offset + H * outputs_;
  params_.assign(headBias_ + outputs_, 0.0f);

  for (size_t l = 0; l < spec.layers.size(); ++l) {
    const LstmLayerSpec& in = spec.layers[l];
    const LayerOffsets& o = layers_[l];
    const std::string name = "layers[" + std::to_string(l) + "].";
    CheckTensor(in.weightIh, G * o.in, false, name + "weightIh");
    CheckTensor(in.weightHh, G * H, false, name + "weightHh");
    CheckTensor(in.biasIh, G, true, name + "biasIh");
    CheckTensor(in.biasHh, G, true, name + "biasHh");
    Transpose(in.weightIh.data, G, o.in, &params_[o.wxT]);
    Transpose(in.weightHh.data, G, H, &params_[o.whT]);
    if (!in.biasIh.empty()) std::copy(in.biasIh.begin(), in.biasIh.end(), &params_[o.biasIh]);
    if (!in.biasHh.empty()) std::copy(in.biasHh.begin(), in.biasHh.end(), &params_[o.biasHh]);
  }
  CheckTensor(spec.headWeight, outputs_ * H, false, "head.weight");
  CheckTensor(spec.headBias, outputs_, true, "head.bias");
  Transpose(spec.headWeight.data, outputs_, H, &params_[headWT_]);
  if (!spec.headBias.empty()) std::copy(spec.headBias.begin(), spec.headBias.end(), &params_[headBias_]);

  grad_.assign(params_.size(), 0.0f);
  m_.assign(params_.size(), 0.0f);
  v_.assign(params_.size(), 0.0f);
  wih_.resize(layers_.size());
  whh_.resize(layers_.size());
  bias_.resize(layers_.size());
  SyncLayouts();
  workspaces_.resize(pool_.threads());
  taskGrads_.resize(pool_.threads());
}

size_t LstmTrainer::Bytes() const {
  size_t floats = params_.size() * (5 + taskGrads_.size()) + wo_.size();
  for (size_t l = 0; l < layers_.size(); ++l) floats += wih_[l].size() + whh_[l].size() + bias_[l].size();
  return floats * sizeof(float);
}

void LstmTrainer::SyncLayouts() {
  const size_t H = hidden_, G = 4 * H;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerOffsets& o = layers_[l];
    wih_[l].resize(G * o.in);
    whh_[l].resize(G * H);
    bias_[l].resize(G);
    Transpose(&params_[o.wxT], o.in, G, wih_[l].data());
    Transpose(&params_[o.whT], H, G, whh_[l].data());
    for (size_t j = 0; j < G; ++j) bias_[l][j] = params_[o.biasIh + j] + params_[o.biasHh + j];
  }
  wo_.resize(outputs_ * H);
  Transpose(&params_[headWT_], H, outputs_, wo_.data());
}

void LstmTrainer::ToTensors(const float* flat, LstmTensors* out) const {
  const size_t H = hidden_, G = 4 * H;
  out->clear();
  for (const LayerOffsets& o : layers_) {
    std::vector<float> wih(G * o.in), whh(G * H);
    Transpose(flat + o.wxT, o.in, G, wih.data());
    Transpose(flat + o.whT, H, G, whh.data());
    out->push_back(std::move(wih));
    out->push_back(std::move(whh));
    out->emplace_back(flat + o.biasIh, flat + o.biasIh + G);
    out->emplace_back(flat + o.biasHh, flat + o.biasHh + G);
  }
  std::vector<float> wo(outputs_ * H);
  Transpose(flat + headWT_, H, outputs_, wo.data());
  out->push_back(std::move(wo));
  out->emplace_back(flat + headBias_, flat + headBias_ + outputs_);
}

LstmTensors LstmTrainer::Weights() const {
  std::lock_guard<std::mutex> lock(mutex_);  // not while an epoch updates the parameters
  LstmTensors tensors;
  ToTensors(params_.data(), &tensors);
  return tensors;
}

void LstmTrainer::SaveBest() {
  std::lock_guard<std::mutex> lock(mutex_);
  best_ = params_;
}

void LstmTrainer::RestoreBest() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (best_.empty()) return;
  params_ = best_;
  SyncLayouts();
}

void LstmTrainer::CheckData(const LstmDataset& data) const {
  Require(data.steps >= 1, codes::kOutOfRange, "steps must be at least 1");
  Require(data.examples >= 1, codes::kInvalidArgument, "the dataset is empty");
  size_t xLength = 0, yLength = 0;
  if (__builtin_mul_overflow(data.steps, data.examples, &xLength) || __builtin_mul_overflow(xLength, inputSize_, &xLength) ||
      __builtin_mul_overflow(data.examples, outputs_, &yLength)) {
    Fail(codes::kOutOfRange, "the dataset is too large");
  }
  if (data.x.size != xLength) {
    Fail(codes::kInvalidLength, "x must have steps·examples·inputSize = " + std::to_string(xLength) + " floats, got " +
                                    std::to_string(data.x.size));
  }
  if (data.y.size != yLength) {
    Fail(codes::kInvalidLength,
         "y must have examples·outputSize = " + std::to_string(yLength) + " floats, got " + std::to_string(data.y.size));
  }
}

size_t LstmTrainer::TaskCount(size_t rows) const {
  return std::max<size_t>(1, std::min(pool_.threads(), rows / kMinTaskRows));
}

void LstmTrainer::Forward(const LstmDataset& data, const Slice& slice, Workspace& ws) const {
  const size_t T = data.steps, n = slice.rows, I = inputSize_, H = hidden_, G = 4 * H, L = layers_.size();
  const size_t tn = T * n;
  ws.x.resize(tn * I);
  ws.gates.resize(L * tn * G);
  ws.c.resize(L * tn * H);
  ws.h.resize(L * tn * H);
  ws.yhat.resize(n * outputs_);
  for (size_t t = 0; t < T; ++t)
    for (size_t r = 0; r < n; ++r) {
      const size_t e = slice.indices ? slice.indices[slice.begin + r] : slice.begin + r;
      std::memcpy(&ws.x[(t * n + r) * I], data.x.data + (t * data.examples + e) * I, I * sizeof(float));
    }
  for (size_t l = 0; l < L; ++l) {
    const LayerOffsets& o = layers_[l];
    const float* in = l == 0 ? ws.x.data() : &ws.h[(l - 1) * tn * H];
    float* gates = &ws.gates[l * tn * G];
    float* c = &ws.c[l * tn * H];
    float* h = &ws.h[l * tn * H];
    for (size_t m = 0; m < tn; ++m) std::memcpy(gates + m * G, bias_[l].data(), G * sizeof(float));
    kernels_->matMulAcc(tn, o.in, G, in, o.in, 1, &params_[o.wxT], G, gates, G);
    for (size_t t = 0; t < T; ++t) {
      float* gt = gates + t * n * G;
      if (t > 0) kernels_->matMulAcc(n, H, G, h + (t - 1) * n * H, H, 1, &params_[o.whT], G, gt, G);
      kernels_->forwardStep(n, H, gt, G, t > 0 ? c + (t - 1) * n * H : nullptr, c + t * n * H, h + t * n * H, H);
    }
  }
  for (size_t r = 0; r < n; ++r) std::memcpy(&ws.yhat[r * outputs_], &params_[headBias_], outputs_ * sizeof(float));
  kernels_->matMulAcc(n, H, outputs_, &ws.h[((L - 1) * T + T - 1) * n * H], H, 1, &params_[headWT_], outputs_,
                      ws.yhat.data(), outputs_);
}

// The loss of the slice's rows into sums; with grad, the gradient of lossScale · Σ loss into grad.
void LstmTrainer::Backward(const Slice& slice, double lossScale, const LstmDataset& data, float* grad,
                           LstmLossSums* sums, Workspace& ws) const {
  const size_t T = data.steps, n = slice.rows, H = hidden_, G = 4 * H, L = layers_.size(), O = outputs_;
  const size_t tn = T * n;
  ws.dy.resize(n * O);
  for (size_t r = 0; r < n; ++r) {
    const size_t e = slice.indices ? slice.indices[slice.begin + r] : slice.begin + r;
    for (size_t k = 0; k < O; ++k) {
      const double diff = static_cast<double>(ws.yhat[r * O + k]) - data.y[e * O + k];
      sums->squared += diff * diff;
      sums->absolute += std::fabs(diff);
      const double d = options_.loss == LstmLoss::kMse ? 2 * diff : (diff > 0) - (diff < 0);
      ws.dy[r * O + k] = static_cast<float>(d * lossScale);
    }
  }
  sums->values += n * O;
  if (!grad) return;

  const float* hTop = &ws.h[((L - 1) * T + T - 1) * n * H];
  kernels_->matMulAcc(H, n, O, hTop, 1, H, ws.dy.data(), O, grad + headWT_, O);
  for (size_t r = 0; r < n; ++r)
    for (size_t k = 0; k < O; ++k) grad[headBias_ + k] += ws.dy[r * O + k];

  ws.dh.assign(tn * H, 0.0f);
  ws.dc.resize(n * H);
  ws.columnSum.resize(G);
  kernels_->matMulAcc(n, O, H, ws.dy.data(), O, 1, wo_.data(), H, &ws.dh[(T - 1) * n * H], H);
  for (size_t l = L; l-- > 0;) {
    const LayerOffsets& o = layers_[l];
    float* gates = &ws.gates[l * tn * G];  // becomes the pre-activation gradients, step by step
    const float* c = &ws.c[l * tn * H];
    const float* h = &ws.h[l * tn * H];
    std::fill(ws.dc.begin(), ws.dc.end(), 0.0f);
    for (size_t t = T; t-- > 0;) {
      float* gt = gates + t * n * G;
      kernels_->backwardStep(n, H, gt, G, t > 0 ? c + (t - 1) * n * H : nullptr, c + t * n * H, &ws.dh[t * n * H],
                             ws.dc.data(), H);
      if (t > 0) kernels_->matMulAcc(n, G, H, gt, G, 1, whh_[l].data(), H, &ws.dh[(t - 1) * n * H], H);
    }
    const float* in = l == 0 ? ws.x.data() : &ws.h[(l - 1) * tn * H];
    kernels_->matMulAcc(o.in, tn, G, in, 1, o.in, gates, G, grad + o.wxT, G);
    if (T > 1) kernels_->matMulAcc(H, (T - 1) * n, G, h, 1, H, gates + n * G, G, grad + o.whT, G);
    std::fill(ws.columnSum.begin(), ws.columnSum.end(), 0.0f);
    for (size_t m = 0; m < tn; ++m)
      for (size_t j = 0; j < G; ++j) ws.columnSum[j] += gates[m * G + j];
    for (size_t j = 0; j < G; ++j) {
      grad[o.biasIh + j] += ws.columnSum[j];
      grad[o.biasHh + j] += ws.columnSum[j];
    }
    if (l > 0) {
      std::fill(ws.dh.begin(), ws.dh.end(), 0.0f);
      kernels_->matMulAcc(tn, G, H, gates, G, 1, wih_[l].data(), H, ws.dh.data(), H);
    }
  }
}

size_t LstmTrainer::BlockRows(size_t steps) const {
  // Floats kept per row: x, and per layer the gates (4H), c and h; the gradient of h.
  const size_t perRow = steps * (inputSize_ + layers_.size() * 6 * hidden_ + hidden_);
  return std::max<size_t>(1, std::min(kBlockRows, kBlockFloats / perRow));
}

void LstmTrainer::RunTask(const LstmDataset& data, const Slice& slice, double lossScale, float* grad,
                          LstmLossSums* sums, Workspace& ws) const {
  const size_t blockRows = BlockRows(data.steps);
  for (size_t r0 = 0; r0 < slice.rows; r0 += blockRows) {
    const Slice block{slice.indices, slice.begin + r0, std::min(blockRows, slice.rows - r0)};
    Forward(data, block, ws);
    Backward(block, lossScale, data, grad, sums, ws);
  }
}

LstmLossSums LstmTrainer::BatchGradient(const LstmDataset& data, const uint32_t* indices, size_t begin, size_t rows) {
  const size_t tasks = TaskCount(rows);
  std::vector<LstmLossSums> sums(tasks);
  const double lossScale = 1.0 / static_cast<double>(rows * outputs_);
  pool_.Run(tasks, [&](size_t task, size_t thread) {
    const size_t r0 = rows * task / tasks, r1 = rows * (task + 1) / tasks;
    std::vector<float>& g = taskGrads_[task];
    g.assign(params_.size(), 0.0f);
    RunTask(data, Slice{indices, begin + r0, r1 - r0}, lossScale, g.data(), &sums[task], workspaces_[thread]);
  });
  std::copy(taskGrads_[0].begin(), taskGrads_[0].end(), grad_.begin());
  for (size_t task = 1; task < tasks; ++task)
    for (size_t i = 0; i < grad_.size(); ++i) grad_[i] += taskGrads_[task][i];
  return TotalOf(sums);
}

void LstmTrainer::ApplyAdam() {
  const size_t count = params_.size();
  const float wd = static_cast<float>(options_.weightDecay);
  if (wd > 0)
    for (size_t i = 0; i < count; ++i) grad_[i] += wd * params_[i];
  if (options_.clipNorm > 0) {
    double norm = 0;
    for (float g : grad_) norm += static_cast<double>(g) * g;
    norm = std::sqrt(norm);
    if (norm > options_.clipNorm) {
      const float scale = static_cast<float>(options_.clipNorm / (norm + 1e-6));  // torch.nn.utils.clip_grad_norm_
      for (float& g : grad_) g *= scale;
    }
  }
  ++adamStep_;
  const float b1 = static_cast<float>(options_.beta1), b2 = static_cast<float>(options_.beta2);
  const double correction1 = 1 - std::pow(options_.beta1, static_cast<double>(adamStep_));
  const double correction2 = 1 - std::pow(options_.beta2, static_cast<double>(adamStep_));
  const float stepSize = static_cast<float>(options_.learningRate / correction1);
  const float rootCorrection2 = static_cast<float>(std::sqrt(correction2));
  const float eps = static_cast<float>(options_.epsilon);
  for (size_t i = 0; i < count; ++i) {
    const float g = grad_[i];
    m_[i] = b1 * m_[i] + (1 - b1) * g;
    v_[i] = b2 * v_[i] + (1 - b2) * g * g;
    params_[i] -= stepSize * m_[i] / (std::sqrt(v_[i]) / rootCorrection2 + eps);
  }
  SyncLayouts();
}

LstmEpochResult LstmTrainer::TrainEpoch(const LstmDataset& data, Span<const uint32_t> order, size_t batchSize,
                                        const std::atomic<bool>* abort) {
  CheckData(data);
  Require(batchSize >= 1, codes::kOutOfRange, "batchSize must be at least 1");
  Require(!order.empty(), codes::kInvalidArgument, "the dataset is empty");
  for (size_t i = 0; i < order.size; ++i) {
    if (order[i] >= data.examples) Fail(codes::kOutOfRange, "order[" + std::to_string(i) + "] is out of range");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  LstmEpochResult result;
  for (size_t b0 = 0; b0 < order.size; b0 += batchSize) {
    if (abort && abort->load(std::memory_order_relaxed)) {
      result.aborted = true;
      break;
    }
    const LstmLossSums sums = BatchGradient(data, order.data, b0, std::min(batchSize, order.size - b0));
    result.train.squared += sums.squared;
    result.train.absolute += sums.absolute;
    result.train.values += sums.values;
    ++result.batches;
    ApplyAdam();
  }
  return result;
}

LstmLossSums LstmTrainer::Evaluate(const LstmDataset& data, size_t begin, size_t end) {
  CheckData(data);
  Require(begin < end && end <= data.examples, codes::kOutOfRange, "evaluation range out of range");
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t rows = end - begin, tasks = TaskCount(rows);
  std::vector<LstmLossSums> sums(tasks);
  pool_.Run(tasks, [&](size_t task, size_t thread) {
    const size_t r0 = rows * task / tasks, r1 = rows * (task + 1) / tasks;
    RunTask(data, Slice{nullptr, begin + r0, r1 - r0}, 0, nullptr, &sums[task], workspaces_[thread]);
  });
  return TotalOf(sums);
}

double LstmTrainer::LossAndGradient(const LstmDataset& data, LstmTensors* gradient) {
  CheckData(data);
  std::lock_guard<std::mutex> lock(mutex_);
  const LstmLossSums sums = BatchGradient(data, nullptr, 0, data.examples);
  ToTensors(grad_.data(), gradient);
  return options_.loss == LstmLoss::kMse ? sums.Mse() : sums.Mae();
}

}  // namespace sluice

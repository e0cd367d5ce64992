#include "lstm/cuda_lstm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "base/error.h"
#include "lstm/lstm_kernels.h"
#include "lstm/lstm_state.h"
#include "base/snapshot.h"

#if !defined(_WIN32)
#include <dlfcn.h>
#endif

namespace sluice {
namespace {

constexpr size_t kMaxSize = 1 << 16;
constexpr size_t kMaxLayers = 64;
constexpr size_t kErrorSize = 1024;

const char* CodeOf(int status) {
  switch (status) {
    case SLUICE_CUDA_ERR_INVALID_ARGUMENT: return codes::kInvalidArgument;
    case SLUICE_CUDA_ERR_OUT_OF_MEMORY: return codes::kOutOfMemory;
    case SLUICE_CUDA_ERR_NOT_SUPPORTED: return codes::kNotSupported;
    default: return codes::kInvalidState;
  }
}

}  // namespace

const char* CudaLstmAlgorithmName(CudaLstmAlgorithm algorithm) {
  switch (algorithm) {
    case CudaLstmAlgorithm::kStandard: return "standard";
    case CudaLstmAlgorithm::kPersistStatic: return "persist-static";
    default: return "auto";
  }
}

CudaLstmAlgorithm ParseCudaLstmAlgorithm(const std::string& name) {
  if (name == "auto") return CudaLstmAlgorithm::kAuto;
  if (name == "standard") return CudaLstmAlgorithm::kStandard;
  if (name == "persist-static") return CudaLstmAlgorithm::kPersistStatic;
  Fail(codes::kInvalidArgument, "cudnnAlgorithm must be 'auto', 'standard' or 'persist-static', got '" + name + "'");
}

void ValidateLstmSpec(const LstmModelSpec& spec) {
  Require(spec.inputSize >= 1 && spec.inputSize <= kMaxSize, codes::kInvalidArgument, "inputSize must be in [1, 65536]");
  Require(spec.hiddenSize >= 1 && spec.hiddenSize <= kMaxSize, codes::kInvalidArgument,
          "hiddenSize must be in [1, 65536]");
  Require(!spec.layers.empty() && spec.layers.size() <= kMaxLayers, codes::kInvalidArgument,
          "an LSTM needs 1 to 64 layers");
  const size_t H = spec.hiddenSize;
  for (size_t l = 0; l < spec.layers.size(); ++l) {
    const std::string name = "layers[" + std::to_string(l) + "].";
    const size_t inputs = l == 0 ? spec.inputSize : H;
    CheckLstmWeight(spec.layers[l].weightIh, 4 * H * inputs, false, name + "weightIh",
                std::string("4·hiddenSize·") + (l == 0 ? "inputSize" : "hiddenSize"));
    CheckLstmWeight(spec.layers[l].weightHh, 4 * H * H, false, name + "weightHh", "4·hiddenSize·hiddenSize");
    CheckLstmWeight(spec.layers[l].biasIh, 4 * H, true, name + "biasIh", "4·hiddenSize");
    CheckLstmWeight(spec.layers[l].biasHh, 4 * H, true, name + "biasHh", "4·hiddenSize");
  }
  if (spec.hasHead) {
    Require(spec.headOutputs >= 1 && spec.headOutputs <= kMaxSize, codes::kInvalidArgument,
            "the head's outputSize must be in [1, 65536]");
    CheckLstmWeight(spec.headWeight, spec.headOutputs * H, false, "head.weight", "outputSize·hiddenSize");
    CheckLstmWeight(spec.headBias, spec.headOutputs, true, "head.bias", "outputSize");
  }
}

// ---- the library's functions -------------------------------------------------------------------------

struct CudaLstmModel::Library {
  void* reference = nullptr;  // our own dlopen reference: the library outlives the addon's CudaLibrary
#define SLUICE_CUDA_LSTM_FUNCTIONS(X)                                                                          \
  X(lstm_create, int (*)(const SluiceCudaLstmSpec*, SluiceCudaLstm**, char*, size_t))                         \
  X(lstm_destroy, void (*)(SluiceCudaLstm*))                                                                  \
  X(lstm_set_algo, int (*)(SluiceCudaLstm*, int, char*, size_t))                                              \
  X(lstm_info, int (*)(SluiceCudaLstm*, SluiceCudaLstmInfo*, char*, size_t))                                  \
  X(lstm_predict, int (*)(SluiceCudaLstm*, const float*, int, int, int, int, float*, char*, size_t))          \
  X(state_create, int (*)(SluiceCudaLstm*, unsigned long long, int, SluiceCudaLstmState**, char*, size_t))    \
  X(state_destroy, void (*)(SluiceCudaLstmState*))                                                            \
  X(state_step, int (*)(SluiceCudaLstmState*, const unsigned*, size_t, const float*, float*, char*, size_t))  \
  X(state_reset, int (*)(SluiceCudaLstmState*, const unsigned*, size_t, char*, size_t))                       \
  X(state_read, int (*)(SluiceCudaLstmState*, float*, char*, size_t))                                         \
  X(state_write, int (*)(SluiceCudaLstmState*, const float*, char*, size_t))                                  \
  X(windows_create, int (*)(SluiceCudaLstm*, unsigned long long, int, SluiceCudaLstmWindows**, char*, size_t)) \
  X(windows_destroy, void (*)(SluiceCudaLstmWindows*))                                                        \
  X(windows_push, int (*)(SluiceCudaLstmWindows*, const unsigned*, const float*, const int*, size_t,          \
                          const unsigned*, const unsigned long long*, size_t, float*, char*, size_t))
#define SLUICE_MEMBER(name, type) \
  using name##Fn = type;          \
  name##Fn name = nullptr;
  SLUICE_CUDA_LSTM_FUNCTIONS(SLUICE_MEMBER)
#undef SLUICE_MEMBER

  ~Library() {
#if !defined(_WIN32)
    if (reference) dlclose(reference);
#endif
  }
};

void CudaLstmModel::Raise(int status, const char* message) const {
  Fail(CodeOf(status), std::string("CUDA backend: ") + message);
}

CudaLstmModel::CudaLstmModel(CudaLibrary& library, const LstmModelSpec& spec) {
  ValidateLstmSpec(spec);
  const CudaStatus& status = library.Status();
  if (!status.available) Fail(codes::kNotSupported, "the CUDA backend is unavailable: " + status.reason);
  library_ = std::make_unique<Library>();
  std::string missing;
#define SLUICE_RESOLVE(name, type)                                                           \
  library_->name = reinterpret_cast<Library::name##Fn>(library.Symbol("sluice_cuda_" #name));            \
  if (!library_->name) missing += " sluice_cuda_" #name;
  SLUICE_CUDA_LSTM_FUNCTIONS(SLUICE_RESOLVE)
#undef SLUICE_RESOLVE
  if (!missing.empty()) Fail(codes::kNotSupported, status.libraryPath + " lacks" + missing + "; reinstall sluice");
#if !defined(_WIN32)
  library_->reference = dlopen(status.libraryPath.c_str(), RTLD_NOW | RTLD_NOLOAD);
#endif
  inputSize_ = spec.inputSize;
  hidden_ = spec.hiddenSize;
  layers_ = spec.layers.size();
  headOutputs_ = spec.hasHead ? spec.headOutputs : 0;
  paddedHidden_ = RoundUp(hidden_, kLstmHiddenPad);

  std::vector<SluiceCudaLstmLayer> layers(layers_);
  for (size_t l = 0; l < layers_; ++l) {
    const LstmLayerSpec& s = spec.layers[l];
    layers[l] = {s.weightIh.data, s.weightHh.data, s.biasIh.size ? s.biasIh.data : nullptr,
                 s.biasHh.size ? s.biasHh.data : nullptr};
  }
  SluiceCudaLstmSpec c{};
  c.input_size = static_cast<int>(inputSize_);
  c.hidden_size = static_cast<int>(hidden_);
  c.num_layers = static_cast<int>(layers_);
  c.layers = layers.data();
  c.head_outputs = static_cast<int>(headOutputs_);
  c.head_weight = headOutputs_ ? spec.headWeight.data : nullptr;
  c.head_bias = headOutputs_ && spec.headBias.size ? spec.headBias.data : nullptr;
  char error[kErrorSize] = {0};
  SluiceCudaLstm* created = nullptr;
  const int rc = library_->lstm_create(&c, &created, error, sizeof(error));
  if (rc != SLUICE_CUDA_OK) Raise(rc, error);
  model_ = created;
}

CudaLstmModel::~CudaLstmModel() {
  if (model_) library_->lstm_destroy(static_cast<SluiceCudaLstm*>(model_));
}

size_t CudaLstmModel::OutputLength(const LstmRunShape& shape) const {
  size_t rows = 0, length = 0;
  if (__builtin_mul_overflow(shape.sequence ? shape.steps : 1, shape.batch, &rows) ||
      __builtin_mul_overflow(rows, outputSize(), &length)) {
    Fail(codes::kOutOfRange, "the output is too large");
  }
  return length;
}

void CudaLstmModel::Predict(Span<const float> x, const LstmRunShape& shape, Span<float> out) {
  Require(shape.steps >= 1 && shape.batch >= 1, codes::kOutOfRange, "steps and batch must be at least 1");
  size_t inputLength = 0;
  if (__builtin_mul_overflow(shape.steps * shape.batch, inputSize_, &inputLength) ||
      shape.steps > size_t(INT32_MAX) || shape.batch > size_t(INT32_MAX)) {
    Fail(codes::kOutOfRange, "steps·batch is too large");
  }
  CheckInputLength(x.size, inputLength, "steps·batch·inputSize");
  const size_t outLength = OutputLength(shape);
  CheckOutputLength(out.size, outLength);
  char error[kErrorSize] = {0};
  const int rc = library_->lstm_predict(static_cast<SluiceCudaLstm*>(model_), x.data, static_cast<int>(shape.steps),
                                        static_cast<int>(shape.batch), shape.batchFirst, shape.sequence, out.data,
                                        error, sizeof(error));
  if (rc != SLUICE_CUDA_OK) Raise(rc, error);
}

void CudaLstmModel::SetAlgorithm(CudaLstmAlgorithm algorithm) {
  char error[kErrorSize] = {0};
  const int rc = library_->lstm_set_algo(static_cast<SluiceCudaLstm*>(model_), static_cast<int>(algorithm), error,
                                         sizeof(error));
  if (rc != SLUICE_CUDA_OK) Raise(rc, error);
}

CudaLstmModel::Info CudaLstmModel::GetInfo() const {
  SluiceCudaLstmInfo raw{};
  char error[kErrorSize] = {0};
  const int rc = library_->lstm_info(static_cast<SluiceCudaLstm*>(model_), &raw, error, sizeof(error));
  if (rc != SLUICE_CUDA_OK) Raise(rc, error);
  raw.device_name[sizeof(raw.device_name) - 1] = '\0';
  Info info;
  info.deviceBytes = raw.device_bytes;
  info.pinnedBytes = raw.pinned_bytes;
  info.lastAlgorithm = static_cast<CudaLstmAlgorithm>(raw.last_algo);
  info.deviceName = raw.device_name;
  return info;
}

// ---- per-key state -------------------------------------------------------------------------------------

CudaLstmState::CudaLstmState(std::shared_ptr<CudaLstmModel> model, size_t capacity)
    : model_(std::move(model)), capacity_(capacity), keys_(capacity) {
  size_t floats;
  if (__builtin_mul_overflow(capacity_, model_->StateStride(), &floats)) Fail(codes::kOutOfMemory, "capacity is too large");
  char error[kErrorSize] = {0};
  SluiceCudaLstmState* created = nullptr;
  const int rc = model_->library_->state_create(static_cast<SluiceCudaLstm*>(model_->model_), capacity_,
                                                static_cast<int>(model_->paddedHidden()), &created, error, sizeof(error));
  if (rc != SLUICE_CUDA_OK) model_->Raise(rc, error);
  state_ = created;
}

CudaLstmState::~CudaLstmState() {
  if (state_) model_->library_->state_destroy(static_cast<SluiceCudaLstmState*>(state_));
}

void CudaLstmState::CheckStep(Span<const uint32_t> keys, Span<const float> x, Span<float> out) {
  CheckStepLengths(keys.size, model_->inputSize(), model_->outputSize(), x.size, out.size);
  Require(keys.size <= size_t(INT32_MAX), codes::kOutOfRange, "too many keys in one step");
  keys_.Check(keys, true);
}

void CudaLstmState::Step(Span<const uint32_t> keys, Span<const float> x, Span<float> out) {
  const size_t n = keys.size;
  CheckStep(keys, x, out);
  if (n == 0) return;
  char error[kErrorSize] = {0};
  const int rc = model_->library_->state_step(static_cast<SluiceCudaLstmState*>(state_), keys.data, n, x.data, out.data,
                                              error, sizeof(error));
  if (rc != SLUICE_CUDA_OK) model_->Raise(rc, error);
}

void CudaLstmState::ResetAll() {
  char error[kErrorSize] = {0};
  const int rc = model_->library_->state_reset(static_cast<SluiceCudaLstmState*>(state_), nullptr, 0, error, sizeof(error));
  if (rc != SLUICE_CUDA_OK) model_->Raise(rc, error);
}

void CudaLstmState::Reset(Span<const uint32_t> keys) {
  keys_.Check(keys, false);
  if (keys.size == 0) return;
  char error[kErrorSize] = {0};
  const int rc = model_->library_->state_reset(static_cast<SluiceCudaLstmState*>(state_), keys.data, keys.size, error,
                                               sizeof(error));
  if (rc != SLUICE_CUDA_OK) model_->Raise(rc, error);
}

// LstmState's snapshot format (the table is copied through the host).
std::vector<uint8_t> CudaLstmState::Snapshot() const {
  const LstmStateLayout layout = LstmStateLayoutOf(*model_, capacity_);
  std::vector<float> table(layout.tableFloats);
  char error[kErrorSize] = {0};
  const int rc = model_->library_->state_read(static_cast<SluiceCudaLstmState*>(state_), table.data(), error, sizeof(error));
  if (rc != SLUICE_CUDA_OK) model_->Raise(rc, error);
  return WriteLstmStateSnapshot(layout, table.data());
}

void CudaLstmState::Restore(Span<const uint8_t> bytes) {
  const LstmStateLayout layout = LstmStateLayoutOf(*model_, capacity_);
  SnapshotReader reader = OpenLstmStateSnapshot(bytes, layout);  // refuses bad bytes before the device is touched
  std::vector<float> table(layout.tableFloats);
  reader.GetArray(table.data(), layout.tableFloats);
  reader.ExpectEnd();
  char error[kErrorSize] = {0};
  const int rc = model_->library_->state_write(static_cast<SluiceCudaLstmState*>(state_), table.data(), error, sizeof(error));
  if (rc != SLUICE_CUDA_OK) model_->Raise(rc, error);
}

// ---- keyed windows ---------------------------------------------------------------------------------------

CudaLstmWindows::CudaLstmWindows(std::shared_ptr<CudaLstmModel> model, size_t capacity, size_t steps)
    : KeyedLstmWindows(std::move(model), capacity, steps) {
  char error[kErrorSize] = {0};
  SluiceCudaLstmWindows* created = nullptr;
  const int rc = model_->library_->windows_create(static_cast<SluiceCudaLstm*>(model_->model_), capacity,
                                                  static_cast<int>(steps), &created, error, sizeof(error));
  if (rc != SLUICE_CUDA_OK) model_->Raise(rc, error);
  windows_ = created;
}

CudaLstmWindows::~CudaLstmWindows() {
  if (windows_) model_->library_->windows_destroy(static_cast<SluiceCudaLstmWindows*>(windows_));
}

size_t CudaLstmWindows::Push(Span<const uint32_t> keys, Span<const float> x, Span<uint32_t> outKeys, Span<float> out) {
  CheckWindowsPush(keys.size, x.size, outKeys.size, out.size, model_->inputSize(), model_->outputSize());
  book_.Plan(keys, &batch_);  // checks the keys before any change, then commits the counts
  const size_t k = batch_.keys.size();
  if (k == 0) return 0;
  char error[kErrorSize] = {0};
  static_assert(sizeof(unsigned long long) == sizeof(uint64_t) && sizeof(unsigned) == sizeof(uint32_t));
  const int rc = model_->library_->windows_push(
      static_cast<SluiceCudaLstmWindows*>(windows_), keys.data, x.data, batch_.slots.data(), keys.size,
      batch_.keys.data(), reinterpret_cast<const unsigned long long*>(batch_.counts.data()), k, out.data, error,
      sizeof(error));
  if (rc != SLUICE_CUDA_OK) {
    // A device failure (not a bad input: those were refused above) may leave the rings half-written:
    // empty every window rather than compute from them later.
    book_.Reset();
    model_->Raise(rc, (std::string(error) + "; every window was emptied").c_str());
  }
  std::copy(batch_.keys.begin(), batch_.keys.end(), outKeys.data);
  return k;
}

}  // namespace sluice

// The core side of the CUDA LSTM backend: LstmModel's and LstmState's GPU twins, speaking only the C ABI of
// native/cuda/sluice_cuda_api.h through the library CudaLibrary opened (no CUDA header here). They take
// the same LstmModelSpec, validate it the same way, give the same results (to float rounding) and write
// the same snapshot bytes as the CPU classes, so a state snapshot moves freely between the backends.
// When the library is missing or reports CUDA unusable, construction throws ERR_NOT_SUPPORTED with the
// reason; nothing else changes, and the CPU classes keep working.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lstm/cuda_library.h"
#include "lstm/lstm_model.h"
#include "lstm/lstm_windows.h"
#include "base/span.h"
#include "lstm/lstm_checks.h"

namespace sluice {

// cuDNN's RNN algorithm (SluiceCudaAlgo): kAuto picks per shape.
enum class CudaLstmAlgorithm { kAuto = 0, kStandard = 1, kPersistStatic = 2 };
const char* CudaLstmAlgorithmName(CudaLstmAlgorithm algorithm);
// "auto" | "standard" | "persist-static"; ERR_INVALID_ARGUMENT otherwise.
CudaLstmAlgorithm ParseCudaLstmAlgorithm(const std::string& name);

// Checks a spec exactly as LstmModel does (sizes, lengths, finite weights), throwing the same codes.
void ValidateLstmSpec(const LstmModelSpec& spec);

class CudaLstmModel {
 public:
  // Validates (ERR_INVALID_*), then ERR_NOT_SUPPORTED when `library` reports CUDA unavailable (naming its
  // reason) or cuDNN refuses the model; ERR_OUT_OF_MEMORY when the device is full.
  CudaLstmModel(CudaLibrary& library, const LstmModelSpec& spec);
  ~CudaLstmModel();
  CudaLstmModel(const CudaLstmModel&) = delete;
  CudaLstmModel& operator=(const CudaLstmModel&) = delete;

  size_t inputSize() const { return inputSize_; }
  size_t hiddenSize() const { return hidden_; }
  size_t numLayers() const { return layers_; }
  bool hasHead() const { return headOutputs_ > 0; }
  size_t outputSize() const { return hasHead() ? headOutputs_ : hidden_; }
  // The per-key state layout of LstmModel (hidden size padded the same way), so snapshots are shared.
  size_t paddedHidden() const { return paddedHidden_; }
  size_t StateStride() const { return layers_ * 2 * paddedHidden_; }
  size_t OutputLength(const LstmRunShape& shape) const;

  // As LstmModel::Predict: blocks until the GPU is done (the async binding calls it on a worker thread).
  void Predict(Span<const float> x, const LstmRunShape& shape, Span<float> out);

  void SetAlgorithm(CudaLstmAlgorithm algorithm);
  struct Info {
    uint64_t deviceBytes = 0, pinnedBytes = 0;
    CudaLstmAlgorithm lastAlgorithm = CudaLstmAlgorithm::kAuto;  // kAuto before any call
    std::string deviceName;
  };
  Info GetInfo() const;

 private:
  friend class CudaLstmState;
  friend class CudaLstmWindows;
  struct Library;  // the resolved functions plus our own reference on the library
  [[noreturn]] void Raise(int status, const char* message) const;

  std::unique_ptr<Library> library_;
  void* model_ = nullptr;  // SluiceCudaLstm*
  size_t inputSize_ = 0, hidden_ = 0, layers_ = 0, headOutputs_ = 0, paddedHidden_ = 0;
};

// Per-key (h, c) in device memory: LstmState's contract (distinct keys below capacity, checked before any
// change), with the table on the GPU. BytesPerKey() counts device bytes, plus 4 host bytes for the check.
class CudaLstmState {
 public:
  CudaLstmState(std::shared_ptr<CudaLstmModel> model, size_t capacity);
  ~CudaLstmState();
  CudaLstmState(const CudaLstmState&) = delete;
  CudaLstmState& operator=(const CudaLstmState&) = delete;

  size_t capacity() const { return capacity_; }
  size_t BytesPerKey() const { return model_->StateStride() * sizeof(float) + sizeof(uint32_t); }
  size_t Bytes() const { return capacity_ * BytesPerKey(); }
  size_t HostBytes() const { return capacity_ * sizeof(uint32_t); }  // the key check; the table is on the device
  const CudaLstmModel& model() const { return *model_; }

  void Step(Span<const uint32_t> keys, Span<const float> x, Span<float> out);
  void CheckStep(Span<const uint32_t> keys, Span<const float> x, Span<float> out);  // as LstmState's
  void ResetAll();
  void Reset(Span<const uint32_t> keys);
  std::vector<uint8_t> Snapshot() const;    // LstmState's format
  void Restore(Span<const uint8_t> bytes);  // from either backend; ERR_MALFORMED_DATA for another shape

 private:
  std::shared_ptr<CudaLstmModel> model_;
  size_t capacity_;
  KeyChecker keys_;  // checks capacity first, before anything is allocated on the device
  void* state_ = nullptr;  // SluiceCudaLstmState*
};

// LstmWindows with the rings in device memory: a batch of events is copied to the GPU once, the windows
// and the [steps][k][I] LSTM input are built there, and only the k output rows come back.
// BytesPerKey(): steps · inputSize · 4 device bytes + 16 host bytes (WindowBook).
class CudaLstmWindows : public KeyedLstmWindows<CudaLstmModel> {
 public:
  CudaLstmWindows(std::shared_ptr<CudaLstmModel> model, size_t capacity, size_t steps);
  ~CudaLstmWindows();
  CudaLstmWindows(const CudaLstmWindows&) = delete;
  CudaLstmWindows& operator=(const CudaLstmWindows&) = delete;

  size_t Push(Span<const uint32_t> keys, Span<const float> x, Span<uint32_t> outKeys, Span<float> out);
  void Reset() { book_.Reset(); }  // the rings' old rows are never read again: counts decide what is valid

 private:
  void* windows_ = nullptr;  // SluiceCudaLstmWindows*
};

}  // namespace sluice

// Keyed count windows feeding an LSTM: each key keeps its last `steps` input rows in a ring; Push appends
// a batch of events (in order) and runs the model once over the window of every key the batch touched
// (oldest row first; a key with fewer than `steps` rows so far has zero rows in front). Output: one row
// per distinct key of the batch, in order of first appearance, [k][outputSize].
//
// WindowBook is the bookkeeping both backends share: it checks the keys, decides which ring slot each
// event lands in (events overwritten later in the same batch land nowhere) and counts rows per key.
// LstmWindows keeps the rings in host memory and runs the CPU model; CudaLstmWindows (cuda_lstm.h) keeps
// them in device memory. Memory per key: steps · inputSize · 4 bytes of ring + 16 bytes of bookkeeping.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/error.h"
#include "base/span.h"
#include "lstm/lstm_model.h"

namespace sluice {

class WindowBook {
 public:
  // capacity: keys 0 … capacity − 1, in [1, 2^32 − 1]; steps in [1, 65536] (ERR_OUT_OF_RANGE otherwise).
  WindowBook(size_t capacity, size_t steps);

  struct Batch {
    std::vector<int32_t> slots;    // per event: its ring slot, or −1 when a later event of the batch replaces it
    std::vector<uint32_t> keys;    // the distinct keys, in order of first appearance
    std::vector<uint64_t> counts;  // per distinct key: rows ever pushed, this batch included
  };
  // Checks every key first (ERR_OUT_OF_RANGE, nothing changes), then plans the batch and commits the counts.
  void Plan(Span<const uint32_t> keys, Batch* batch);
  void Reset();  // every key back to no rows

  size_t capacity() const { return capacity_; }
  size_t steps() const { return steps_; }

 private:
  size_t capacity_, steps_;
  std::vector<uint64_t> counts_;   // per key
  std::vector<uint32_t> inBatch_;  // per key: events of the current batch (valid when mark_ == epoch_)
  std::vector<uint32_t> mark_;
  uint32_t epoch_ = 0;
};

// What the keyed windows of both backends share: the model, the bookkeeping and its batch, and the sizes.
template <class Model>
class KeyedLstmWindows {
 public:
  size_t BytesPerKey() const { return book_.steps() * model_->inputSize() * sizeof(float) + 16; }
  const Model& model() const { return *model_; }
  size_t capacity() const { return book_.capacity(); }
  size_t steps() const { return book_.steps(); }

 protected:
  // Checks capacity and steps (WindowBook), then that the rings' capacity · steps · inputSize floats can be
  // counted (ERR_OUT_OF_MEMORY).
  KeyedLstmWindows(std::shared_ptr<Model> model, size_t capacity, size_t steps)
      : model_(std::move(model)), book_(capacity, steps) {
    if (__builtin_mul_overflow(capacity, steps * model_->inputSize(), &ringFloats_)) {
      Fail(codes::kOutOfMemory, "capacity · steps is too large");
    }
  }

  std::shared_ptr<Model> model_;
  WindowBook book_;
  WindowBook::Batch batch_;
  size_t ringFloats_ = 0;  // capacity · steps · inputSize
};

class LstmWindows : public KeyedLstmWindows<LstmModel> {
 public:
  LstmWindows(std::shared_ptr<LstmModel> model, size_t capacity, size_t steps);

  // keys [n], x [n][inputSize]; outKeys ≥ n entries, out ≥ n · outputSize floats. Returns k, the number of
  // distinct keys (outKeys[0 … k), out[0 … k · outputSize)).
  size_t Push(Span<const uint32_t> keys, Span<const float> x, Span<uint32_t> outKeys, Span<float> out);
  void Reset();

 private:
  std::vector<float> rings_;  // [capacity][steps][inputSize]
  std::vector<float> x_;      // [steps][k][inputSize]
};

// Checks a Push call's lengths (ERR_INVALID_LENGTH), for both backends.
void CheckWindowsPush(size_t n, size_t xLength, size_t outKeysLength, size_t outLength, size_t inputSize,
                      size_t outputSize);

}  // namespace sluice

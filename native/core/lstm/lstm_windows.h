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
#include "keys/key_space.h"

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
  // Keyed windows: room for `capacity` keys (new ones with no rows); ERR_OUT_OF_MEMORY leaves it as it was.
  void Grow(size_t capacity);
  void ForgetKey(uint32_t key) { counts_[key] = 0; }  // back to no rows (its ring is never read before rewritten)

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
  // keys: a key space (keys of any kind interned natively, the windows growing from `capacity` by doubling);
  // null: dense ids below capacity.
  LstmWindows(std::shared_ptr<LstmModel> model, size_t capacity, size_t steps, const KeySpaceOptions* keys = nullptr);

  // Keyed windows (ERR_INVALID_ARGUMENT otherwise): Push over the batch's keys interned (all or nothing; a
  // refused push forgets the keys it created); outKeys gets the keys' ids. Expire frees live ids now (their
  // rows forgotten, ids reused; ERR_OUT_OF_RANGE unless all are live) and returns how many were freed.
  size_t PushKeys(const KeyBatch& keys, Span<const float> x, Span<uint32_t> outKeys, Span<float> out);
  size_t Expire(Span<const uint32_t> ids);
  // The batch's ids, new keys added and the windows grown to hold them (all or nothing); UndoIntern forgets
  // the keys the last call created. For callers that translate keys themselves and Push the ids after.
  void InternOnly(const KeyBatch& keys, Span<uint32_t> ids);
  void UndoIntern();
  const KeySpace* keySpace() const { return keySpace_.get(); }
  size_t Bytes() const {
    return book_.capacity() * BytesPerKey() + (keySpace_ ? keySpace_->MemoryBytes() + keyIds_.capacity() * sizeof(uint32_t) : 0);
  }

  // keys [n], x [n][inputSize]; outKeys ≥ n entries, out ≥ n · outputSize floats. Returns k, the number of
  // distinct keys (outKeys[0 … k), out[0 … k · outputSize)).
  size_t Push(Span<const uint32_t> keys, Span<const float> x, Span<uint32_t> outKeys, Span<float> out);
  void Reset();

 private:
  std::vector<float> rings_;  // [capacity][steps][inputSize]
  std::vector<float> x_;      // [steps][k][inputSize]
  std::unique_ptr<KeySpace> keySpace_;  // keyed windows only
  std::vector<uint32_t> keyIds_;        // PushKeys' ids (reused)
};

// Checks a Push call's lengths (ERR_INVALID_LENGTH), for both backends.
void CheckWindowsPush(size_t n, size_t xLength, size_t outKeysLength, size_t outLength, size_t inputSize,
                      size_t outputSize);

}  // namespace sluice

// Per-key LSTM state (h and c of every layer) for streaming inference: Step advances each listed key by one
// time step, as if its inputs had been one long sequence. Memory per key is fixed:
// BytesPerKey() = layers · 2 · Hp · 4 bytes (Hp = hiddenSize rounded up to 16) + 4 bytes for the duplicate-
// key check, allocated zeroed up front (calloc: pages of untouched keys stay unmapped until first use).
// Keyed (a KeySpace: string, 64-bit or byte keys interned into dense ids): the table starts at `capacity`
// rows and doubles when an interned id reaches beyond it (amortised; nothing allocated per step in the
// steady state); Expire() zeroes a key's row and frees its id for reuse, so a key that comes back starts
// from zero state.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "lstm/lstm_model.h"
#include "lstm/lstm_checks.h"
#include "base/snapshot.h"
#include "base/span.h"
#include "keys/key_space.h"

namespace sluice {

// What an LstmState snapshot records before its table. The CPU and the CUDA state write and check the same
// bytes through the two functions below, so a snapshot moves freely between the backends.
struct LstmStateLayout {
  uint64_t inputSize, hiddenSize, numLayers, outputSize, capacity;
  size_t tableFloats;  // capacity · the model's StateStride()
};
// For LstmModel and CudaLstmModel alike (the same shape accessors and padded state layout).
template <class Model>
LstmStateLayout LstmStateLayoutOf(const Model& model, size_t capacity) {
  return {model.inputSize(), model.hiddenSize(), model.numLayers(), model.outputSize(), capacity,
          capacity * model.StateStride()};
}
// The snapshot of a table of layout.tableFloats floats.
std::vector<uint8_t> WriteLstmStateSnapshot(const LstmStateLayout& layout, const float* table);
// Opens a snapshot and checks it against `layout` (ERR_MALFORMED_DATA for another model shape, capacity or
// table length; ERR_INVALID_ARGUMENT for a keyed state's snapshot, unless keySection). The reader is left at
// the table: GetArray(table, layout.tableFloats) then fails, if at all, before it writes any float, and
// ExpectEnd() cannot fail, so a refused snapshot changes nothing. keySection: the table is followed by a key
// space's section (kKeySpaceSectionTag, then KeySpace::Write), which the caller reads after the table.
SnapshotReader OpenLstmStateSnapshot(Span<const uint8_t> bytes, const LstmStateLayout& layout, bool keySection = false);

class LstmState {
 public:
  // capacity: keys 0 … capacity−1 (ERR_OUT_OF_RANGE for 0 or more than 2^32 − 1; ERR_OUT_OF_MEMORY if it
  // cannot be allocated).
  // keys: a key space (keys interned natively, the table growing from `capacity`); null: dense ids.
  LstmState(std::shared_ptr<LstmModel> model, size_t capacity, const KeySpaceOptions* keys = nullptr);

  size_t capacity() const { return capacity_; }
  size_t BytesPerKey() const { return model_->StateStride() * sizeof(float) + sizeof(uint32_t); }
  // The table, and for a keyed state its key space (dictionary) too.
  size_t Bytes() const {
    return capacity_ * BytesPerKey() + (keySpace_ ? keySpace_->MemoryBytes() + keyIds_.capacity() * sizeof(uint32_t) : 0);
  }
  size_t HostBytes() const { return Bytes(); }  // all of it is host memory (CudaLstmState: only the key check)
  const LstmModel& model() const { return *model_; }

  // keys: distinct, < capacity (else ERR_INVALID_ARGUMENT / ERR_OUT_OF_RANGE, before any change);
  // x [n][I]; out [n][outputSize].
  void Step(Span<const uint32_t> keys, Span<const float> x, Span<float> out);
  // Step's checks alone, changing nothing: the binding's stepAsync runs them on the JS thread so a bad call
  // is refused before any work is queued (the worker's Step checks again).
  void CheckStep(Span<const uint32_t> keys, Span<const float> x, Span<float> out);
  void ResetAll();
  void Reset(Span<const uint32_t> keys);  // all keys checked first
  // Exactly `capacity` rows (≥ 1): new rows are zero, rows beyond are dropped (an owner that keeps its own
  // ids, such as the Pipeline's key space, grows and shrinks the table with them). ERR_OUT_OF_MEMORY leaves
  // the table as it was.
  void Resize(size_t capacity);
  // Whether key's (h, c) are all zero (a key that never stepped, or was reset).
  bool IsZero(uint32_t key) const;

  // Keyed states (ERR_INVALID_ARGUMENT otherwise). The key space: keys interned, live and expired.
  const KeySpace* keySpace() const { return keySpace_.get(); }
  // The batch's keys as ids (new keys added, all or nothing: ERR_OUT_OF_RANGE past maxKeys adds none); the
  // table grows to hold them. UndoIntern() forgets the keys the last Intern created (their step was refused).
  void Intern(const KeyBatch& keys, Span<uint32_t> ids);
  void UndoIntern();
  // Intern, then Step over the ids; a refused step (lengths, a key twice) forgets the keys it created.
  void StepKeys(const KeyBatch& keys, Span<const float> x, Span<float> out);
  // Frees live ids now: their (h, c) zeroed, their ids handed out again. ERR_OUT_OF_RANGE (nothing freed)
  // unless every id is live; repeats are ignored. Returns how many were freed.
  size_t Expire(Span<const uint32_t> ids);

  // h (or c) of the top layer for `key`, hiddenSize floats, for inspection and tests.
  const float* Hidden(uint32_t key, size_t layer) const;
  const float* Cell(uint32_t key, size_t layer) const;

  std::vector<uint8_t> Snapshot() const;
  void Restore(Span<const uint8_t> bytes);  // ERR_MALFORMED_DATA for another model shape or capacity
  // One key's row of the table (StateStride() floats: every layer's h and c), for an owner's incremental
  // checkpoints (the Pipeline's deltas). key < capacity (the caller checks).
  Span<const float> KeyRow(uint32_t key) const { return {table_.get() + size_t{key} * model_->StateStride(), model_->StateStride()}; }
  void SetKeyRow(uint32_t key, const float* row) { std::copy_n(row, model_->StateStride(), table_.get() + size_t{key} * model_->StateStride()); }

 private:
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  std::shared_ptr<LstmModel> model_;
  size_t capacity_;
  KeyChecker keys_;  // checks capacity first, before the table is allocated
  std::unique_ptr<float[], FreeDeleter> table_;  // [capacity][layers][h, c][Hp]
  std::unique_ptr<KeySpace> keySpace_;           // keyed states only
  std::vector<uint32_t> keyIds_;                 // StepKeys' ids (reused)

  KeySpace& RequireKeySpace();
  void GrowTo(size_t rows);  // capacity ≥ rows (doubling); ERR_OUT_OF_MEMORY leaves the table as it was
};

}  // namespace sluice

#include "lstm/lstm_state.h"

#include <cstring>
#include <string>

#include "base/error.h"
#include "base/snapshot.h"

namespace sluice {

LstmState::LstmState(std::shared_ptr<LstmModel> model, size_t capacity) : model_(std::move(model)), capacity_(capacity), keys_(capacity) {
  const size_t stride = model_->StateStride();
  size_t floats;
  if (__builtin_mul_overflow(capacity_, stride, &floats)) Fail(codes::kOutOfMemory, "capacity is too large");
  table_.reset(static_cast<float*>(std::calloc(floats, sizeof(float))));
  if (!table_) Fail(codes::kOutOfMemory, "cannot allocate the state of " + std::to_string(capacity_) + " keys");
}

void LstmState::CheckStep(Span<const uint32_t> keys, Span<const float> x, Span<float> out) {
  CheckStepLengths(keys.size, model_->inputSize(), model_->outputSize(), x.size, out.size);
  keys_.Check(keys, true);
}

void LstmState::Step(Span<const uint32_t> keys, Span<const float> x, Span<float> out) {
  CheckStep(keys, x, out);
  model_->Step(x, keys, table_.get(), out);
}

void LstmState::ResetAll() { std::memset(table_.get(), 0, capacity_ * model_->StateStride() * sizeof(float)); }

void LstmState::Reset(Span<const uint32_t> keys) {
  keys_.Check(keys, false);
  const size_t stride = model_->StateStride();
  for (uint32_t key : keys) std::memset(table_.get() + key * stride, 0, stride * sizeof(float));
}

const float* LstmState::Hidden(uint32_t key, size_t layer) const {
  Require(key < capacity_ && layer < model_->numLayers(), codes::kOutOfRange, "key or layer out of range");
  return table_.get() + key * model_->StateStride() + layer * 2 * model_->paddedHidden();
}

const float* LstmState::Cell(uint32_t key, size_t layer) const { return Hidden(key, layer) + model_->paddedHidden(); }

// Payload: u64 inputSize, hiddenSize, layers, outputSize, capacity, then the table (padded layout, which is
// the same on every CPU: see kLstmHiddenPad).
std::vector<uint8_t> WriteLstmStateSnapshot(const LstmStateLayout& layout, const float* table) {
  SnapshotWriter writer(SnapshotKind::kLstmState);
  writer.Put<uint64_t>(layout.inputSize);
  writer.Put<uint64_t>(layout.hiddenSize);
  writer.Put<uint64_t>(layout.numLayers);
  writer.Put<uint64_t>(layout.outputSize);
  writer.Put<uint64_t>(layout.capacity);
  writer.PutArray(table, layout.tableFloats);
  return writer.Finish();
}

SnapshotReader OpenLstmStateSnapshot(Span<const uint8_t> bytes, const LstmStateLayout& layout) {
  SnapshotReader reader(bytes, SnapshotKind::kLstmState);
  const uint64_t inputSize = reader.Get<uint64_t>(), hidden = reader.Get<uint64_t>(),
                 layers = reader.Get<uint64_t>(), outputs = reader.Get<uint64_t>(), capacity = reader.Get<uint64_t>();
  Require(inputSize == layout.inputSize && hidden == layout.hiddenSize && layers == layout.numLayers &&
              outputs == layout.outputSize,
          codes::kMalformedData, "the snapshot is of a model with another shape");
  Require(capacity == layout.capacity, codes::kMalformedData, "the snapshot is of a state with another capacity");
  Require(reader.Remaining() == sizeof(uint64_t) + layout.tableFloats * sizeof(float), codes::kMalformedData,
          "the snapshot's state table has the wrong length");
  return reader;
}

std::vector<uint8_t> LstmState::Snapshot() const {
  return WriteLstmStateSnapshot(LstmStateLayoutOf(*model_, capacity_), table_.get());
}

void LstmState::Restore(Span<const uint8_t> bytes) {
  const LstmStateLayout layout = LstmStateLayoutOf(*model_, capacity_);
  SnapshotReader reader = OpenLstmStateSnapshot(bytes, layout);
  reader.GetArray(table_.get(), layout.tableFloats);  // the checksum and every length were checked: cannot fail midway
  reader.ExpectEnd();
}

}  // namespace sluice

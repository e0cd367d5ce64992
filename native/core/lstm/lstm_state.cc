#include "lstm/lstm_state.h"

#include <cmath>
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

namespace {
// What a stepped state can hold, checked in the snapshot's bytes before anything is copied: per key and
// layer, h (= o · tanh(c)) within [−1, 1] (to rounding) and c finite, in every lane up to the padded width.
// The padding lanes hold what the kernels computed there with zero weights: about zero, but not exactly on
// every instruction set (AVX2's approximations leave ~1e-8), so they get the same bounds. NaN passes
// anywhere: an input of ±Infinity (or a pipeline feature beyond float's range) makes NaN gates, and a live
// state holding them must restore as it was.
// |h| ≤ 1 in exact arithmetic; the kernels' fast sigmoid and tanh (reciprocal estimates) may pass 1 by a few
// float ulps, so a state a model really reached is never refused.
constexpr float kMaxHidden = 1.001f;

void CheckLstmStateTable(Span<const uint8_t> bytes, const LstmStateLayout& layout) {
  if (layout.capacity == 0 || layout.numLayers == 0) return;
  const size_t padded = layout.tableFloats / layout.capacity / (2 * layout.numLayers);
  size_t at = 0;
  for (size_t row = 0; row < layout.capacity * layout.numLayers; ++row) {
    for (size_t part = 0; part < 2; ++part) {  // h, then c
      for (size_t lane = 0; lane < padded; ++lane, ++at) {
        float x;
        std::memcpy(&x, bytes.data + at * sizeof(float), sizeof(float));
        const bool ok = std::isnan(x) || (part == 0 ? std::fabs(x) <= kMaxHidden : std::isfinite(x));
        if (!ok) {
          CheckField(false, std::string(part == 0 ? "h" : "c") + " of key " + std::to_string(row / layout.numLayers) +
                                ", layer " + std::to_string(row % layout.numLayers) + ", lane " + std::to_string(lane) +
                                (lane >= layout.hiddenSize ? " (padding)" : "") + " = " + std::to_string(x));
        }
      }
    }
  }
}
}  // namespace

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
  CheckLstmStateTable(reader.Rest().subspan(sizeof(uint64_t), layout.tableFloats * sizeof(float)), layout);
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

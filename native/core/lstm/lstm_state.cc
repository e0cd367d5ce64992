#include "lstm/lstm_state.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "base/error.h"
#include "base/snapshot.h"

namespace sluice {

LstmState::LstmState(std::shared_ptr<LstmModel> model, size_t capacity, const KeySpaceOptions* keys)
    : model_(std::move(model)), capacity_(capacity), keys_(capacity) {
  if (keys) keySpace_ = std::make_unique<KeySpace>(*keys);
  const size_t stride = model_->StateStride();
  size_t floats;
  if (__builtin_mul_overflow(capacity_, stride, &floats)) Fail(codes::kOutOfMemory, "capacity is too large");
  table_.reset(static_cast<float*>(std::calloc(floats, sizeof(float))));
  if (!table_) Fail(codes::kOutOfMemory, "cannot allocate the state of " + std::to_string(capacity_) + " keys");
}

void LstmState::CheckStep(Span<const uint32_t> keys, Span<const float> x, Span<float> out) {
  CheckStepLengths(keys.size, model_->inputSize(), model_->outputSize(), x.size, out.size);
  keys_.Check(keys, true);
  if (keySpace_) keySpace_->CheckLive(keys);  // ids given by the caller: only those of live keys
}

void LstmState::Step(Span<const uint32_t> keys, Span<const float> x, Span<float> out) {
  CheckStep(keys, x, out);
  model_->Step(x, keys, table_.get(), out);
}

KeySpace& LstmState::RequireKeySpace() {
  Require(keySpace_ != nullptr, codes::kInvalidArgument, "this LstmState takes dense Uint32Array ids (no `keys` kind was set)");
  return *keySpace_;
}

void LstmState::GrowTo(size_t rows) {
  if (rows <= capacity_) return;
  Resize(std::min<size_t>(std::max(rows, capacity_ * 2), kMaxDictionaryKeys));
}

void LstmState::Resize(size_t capacity) {
  Require(capacity >= 1, codes::kOutOfRange, "an LstmState holds at least one key");
  if (capacity == capacity_) return;
  const size_t stride = model_->StateStride();
  size_t floats;
  if (__builtin_mul_overflow(capacity, stride, &floats)) Fail(codes::kOutOfMemory, "capacity is too large");
  const size_t before = capacity_;
  keys_.Resize(capacity);  // first: a larger check than table is harmless, the reverse is not
  float* resized = static_cast<float*>(std::realloc(table_.get(), floats * sizeof(float)));
  if (!resized) {
    keys_.Resize(before);
    Fail(codes::kOutOfMemory, "cannot resize the state to " + std::to_string(capacity) + " keys");
  }
  (void)table_.release();  // realloc took it
  table_.reset(resized);
  if (capacity > before) std::memset(resized + before * stride, 0, (capacity - before) * stride * sizeof(float));
  capacity_ = capacity;
}

bool LstmState::IsZero(uint32_t key) const {
  const size_t stride = model_->StateStride();
  const float* row = table_.get() + static_cast<size_t>(key) * stride;
  return std::all_of(row, row + stride, [](float x) { return x == 0.0f; });
}

void LstmState::Intern(const KeyBatch& keys, Span<uint32_t> ids) {
  KeySpace& space = RequireKeySpace();
  Require(ids.size >= keys.size(), codes::kInvalidLength, "ids must have one entry per key");
  space.Intern(keys, ids.data);
  uint32_t top = 0;
  for (size_t i = 0; i < keys.size(); ++i) top = std::max(top, ids[i]);
  try {
    if (keys.size() > 0) GrowTo(static_cast<size_t>(top) + 1);
  } catch (...) {
    space.UndoIntern();
    throw;
  }
}

void LstmState::UndoIntern() { RequireKeySpace().UndoIntern(); }

void LstmState::StepKeys(const KeyBatch& keys, Span<const float> x, Span<float> out) {
  RequireKeySpace();
  CheckStepLengths(keys.size(), model_->inputSize(), model_->outputSize(), x.size, out.size);
  if (keyIds_.size() < keys.size()) keyIds_.resize(keys.size());
  const Span<uint32_t> ids(keyIds_.data(), keys.size());
  Intern(keys, ids);
  try {
    Step(ids, x, out);
  } catch (...) {
    keySpace_->UndoIntern();
    throw;
  }
}

size_t LstmState::Expire(Span<const uint32_t> ids) {
  const size_t stride = model_->StateStride();
  return RequireKeySpace()
      .Expire(ids, [&](uint32_t id) { std::memset(table_.get() + static_cast<size_t>(id) * stride, 0, stride * sizeof(float)); })
      .size();
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
namespace {
void PutLstmStatePayload(SnapshotWriter& writer, const LstmStateLayout& layout, const float* table) {
  writer.Put<uint64_t>(layout.inputSize);
  writer.Put<uint64_t>(layout.hiddenSize);
  writer.Put<uint64_t>(layout.numLayers);
  writer.Put<uint64_t>(layout.outputSize);
  writer.Put<uint64_t>(layout.capacity);
  writer.PutArray(table, layout.tableFloats);
}
}  // namespace

std::vector<uint8_t> WriteLstmStateSnapshot(const LstmStateLayout& layout, const float* table) {
  SnapshotWriter writer(SnapshotKind::kLstmState);
  PutLstmStatePayload(writer, layout, table);
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

SnapshotReader OpenLstmStateSnapshot(Span<const uint8_t> bytes, const LstmStateLayout& layout, bool keySection) {
  SnapshotReader reader(bytes, SnapshotKind::kLstmState);
  const uint64_t inputSize = reader.Get<uint64_t>(), hidden = reader.Get<uint64_t>(),
                 layers = reader.Get<uint64_t>(), outputs = reader.Get<uint64_t>(), capacity = reader.Get<uint64_t>();
  Require(inputSize == layout.inputSize && hidden == layout.hiddenSize && layers == layout.numLayers &&
              outputs == layout.outputSize,
          codes::kMalformedData, "the snapshot is of a model with another shape");
  const size_t table = sizeof(uint64_t) + layout.tableFloats * sizeof(float);
  if (!keySection) {
    // A keyed state's snapshot: its table (of whatever capacity) is followed by the key section.
    const uint64_t stride = layout.capacity == 0 ? 0 : layout.tableFloats / layout.capacity;
    uint64_t floats = 0;
    // Every step bounded by what remains, so no sum below can wrap.
    const size_t remaining = reader.Remaining();
    const bool fits = remaining >= sizeof(uint64_t) + sizeof(uint32_t) && capacity <= kMaxDictionaryKeys &&
                      !__builtin_mul_overflow(capacity, stride, &floats) &&
                      floats <= (remaining - sizeof(uint64_t) - sizeof(uint32_t)) / sizeof(float);
    if (fits) {
      uint32_t tag;
      std::memcpy(&tag, reader.Rest().data + sizeof(uint64_t) + floats * sizeof(float), sizeof(tag));
      Require(tag != kKeySpaceSectionTag, codes::kInvalidArgument,
              "the snapshot holds a key dictionary: restore it into a state with the same `keys` kind");
    }
  }
  Require(capacity == layout.capacity, codes::kMalformedData, "the snapshot is of a state with another capacity");
  Require(!keySection || reader.Remaining() != table, codes::kInvalidArgument,
          "the snapshot has no key dictionary (taken from a state with dense ids)");
  Require(keySection ? reader.Remaining() > table : reader.Remaining() == table, codes::kMalformedData,
          "the snapshot's state table has the wrong length");
  CheckLstmStateTable(reader.Rest().subspan(sizeof(uint64_t), layout.tableFloats * sizeof(float)), layout);
  return reader;
}

std::vector<uint8_t> LstmState::Snapshot() const {
  SnapshotWriter writer(SnapshotKind::kLstmState);
  PutLstmStatePayload(writer, LstmStateLayoutOf(*model_, capacity_), table_.get());
  if (keySpace_) {  // a keyed state: the same payload at its current capacity, then its key space
    writer.Put<uint32_t>(kKeySpaceSectionTag);
    keySpace_->Write(writer);
  }
  return writer.Finish();
}

void LstmState::Restore(Span<const uint8_t> bytes) {
  if (!keySpace_) {
    const LstmStateLayout layout = LstmStateLayoutOf(*model_, capacity_);
    SnapshotReader reader = OpenLstmStateSnapshot(bytes, layout);
    reader.GetArray(table_.get(), layout.tableFloats);  // the checksum and every length were checked: cannot fail midway
    reader.ExpectEnd();
    return;
  }
  // A keyed state restores a table of the snapshot's capacity (it may have grown) and its key space, both
  // staged: nothing changes until everything has been read and checked.
  uint64_t capacity;
  {
    SnapshotReader peek(bytes, SnapshotKind::kLstmState);
    for (int i = 0; i < 4; ++i) peek.Get<uint64_t>();
    capacity = peek.Get<uint64_t>();
  }
  Require(capacity >= 1 && capacity <= kMaxDictionaryKeys, codes::kMalformedData, "the snapshot's capacity is out of range");
  const LstmStateLayout layout = LstmStateLayoutOf(*model_, static_cast<size_t>(capacity));
  SnapshotReader reader = OpenLstmStateSnapshot(bytes, layout, true);
  std::unique_ptr<float[], FreeDeleter> table(static_cast<float*>(std::malloc(std::max<size_t>(layout.tableFloats, 1) * sizeof(float))));
  if (!table) Fail(codes::kOutOfMemory, "cannot allocate the state of " + std::to_string(capacity) + " keys");
  reader.GetArray(table.get(), layout.tableFloats);
  Require(reader.Remaining() >= sizeof(uint32_t) && reader.Get<uint32_t>() == kKeySpaceSectionTag, codes::kInvalidArgument,
          "the snapshot has no key dictionary (taken from a state with dense ids)");
  auto space = std::make_unique<KeySpace>(keySpace_->options());
  space->Read(reader);
  reader.ExpectEnd();
  Require(space->dictionary().idCapacity() <= capacity || [&] {
    for (uint32_t id = static_cast<uint32_t>(capacity); id < space->dictionary().idCapacity(); ++id) {
      if (space->dictionary().IsLive(id)) return false;
    }
    return true;
  }(), codes::kMalformedData, "the snapshot's dictionary holds a key beyond its state table");
  keys_.Resize(static_cast<size_t>(capacity));
  table_ = std::move(table);
  capacity_ = static_cast<size_t>(capacity);
  keySpace_ = std::move(space);
}

}  // namespace sluice

#include "lstm/lstm_windows.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "base/error.h"

namespace sluice {

WindowBook::WindowBook(size_t capacity, size_t steps) : capacity_(capacity), steps_(steps) {
  Require(capacity_ >= 1 && capacity_ <= UINT32_MAX, codes::kOutOfRange, "capacity must be in [1, 4294967295]");
  Require(steps_ >= 1 && steps_ <= 65536, codes::kOutOfRange, "steps must be in [1, 65536]");
  counts_.assign(capacity_, 0);
  inBatch_.assign(capacity_, 0);
  mark_.assign(capacity_, 0);
}

void WindowBook::Plan(Span<const uint32_t> keys, Batch* batch) {
  for (size_t i = 0; i < keys.size; ++i) {
    if (keys[i] >= capacity_) {
      Fail(codes::kOutOfRange, "keys[" + std::to_string(i) + "] = " + std::to_string(keys[i]) +
                                   " is beyond the capacity (" + std::to_string(capacity_) + ")");
    }
  }
  if (++epoch_ == 0) {
    std::fill(mark_.begin(), mark_.end(), 0);
    epoch_ = 1;
  }
  batch->keys.clear();
  batch->counts.clear();
  batch->slots.resize(keys.size);
  for (uint32_t key : keys) {
    if (mark_[key] != epoch_) {
      mark_[key] = epoch_;
      inBatch_[key] = 0;
      batch->keys.push_back(key);
    }
    ++inBatch_[key];
  }
  // Second pass: event j of a key's m events in this batch survives only if m − j ≤ steps (a later event
  // of the batch would overwrite its slot). inBatch_ now counts the key's events still to come.
  for (size_t i = 0; i < keys.size; ++i) {
    const uint32_t key = keys[i];
    const uint32_t remaining = inBatch_[key]--;  // this event and those after it
    batch->slots[i] = remaining > steps_ ? -1 : static_cast<int32_t>(counts_[key] % steps_);
    ++counts_[key];
  }
  for (uint32_t key : batch->keys) batch->counts.push_back(counts_[key]);
}

void WindowBook::Reset() { std::fill(counts_.begin(), counts_.end(), 0); }

void WindowBook::Grow(size_t capacity) {
  if (capacity <= capacity_) return;
  try {
    counts_.reserve(capacity);
    inBatch_.reserve(capacity);
    mark_.reserve(capacity);
  } catch (const std::bad_alloc&) {
    Fail(codes::kOutOfMemory, "cannot grow the windows to " + std::to_string(capacity) + " keys");
  }
  counts_.resize(capacity, 0);  // reserved: cannot throw
  inBatch_.resize(capacity, 0);
  mark_.resize(capacity, 0);
  capacity_ = capacity;
}

void CheckWindowsPush(size_t n, size_t xLength, size_t outKeysLength, size_t outLength, size_t inputSize,
                      size_t outputSize) {
  if (xLength != n * inputSize) {
    Fail(codes::kInvalidLength, "x must have keys.length·inputSize = " + std::to_string(n * inputSize) + " floats, got " +
                                    std::to_string(xLength));
  }
  if (outKeysLength < n) {
    Fail(codes::kInvalidLength, "outKeys must hold at least keys.length = " + std::to_string(n) + " keys, got " +
                                    std::to_string(outKeysLength));
  }
  if (outLength < n * outputSize) {
    Fail(codes::kInvalidLength, "out must hold at least " + std::to_string(n * outputSize) + " floats, got " +
                                    std::to_string(outLength));
  }
}

LstmWindows::LstmWindows(std::shared_ptr<LstmModel> model, size_t capacity, size_t steps, const KeySpaceOptions* keys)
    : KeyedLstmWindows(std::move(model), capacity, steps) {
  if (keys) keySpace_ = std::make_unique<KeySpace>(*keys);
  try {
    rings_.assign(ringFloats_, 0.f);
  } catch (const std::bad_alloc&) {
    Fail(codes::kOutOfMemory, "cannot allocate the windows of " + std::to_string(capacity) + " keys");
  }
}

size_t LstmWindows::Push(Span<const uint32_t> keys, Span<const float> x, Span<uint32_t> outKeys, Span<float> out) {
  const size_t I = model_->inputSize(), T = book_.steps();
  CheckWindowsPush(keys.size, x.size, outKeys.size, out.size, I, model_->outputSize());
  if (keySpace_) keySpace_->CheckLive(keys);  // ids given by the caller: only those of live keys
  book_.Plan(keys, &batch_);
  for (size_t i = 0; i < keys.size; ++i) {
    if (batch_.slots[i] < 0) continue;
    std::memcpy(&rings_[(size_t(keys[i]) * T + size_t(batch_.slots[i])) * I], &x[i * I], I * sizeof(float));
  }
  const size_t k = batch_.keys.size();
  if (k == 0) return 0;
  x_.assign(T * k * I, 0.f);
  for (size_t b = 0; b < k; ++b) {
    const uint64_t count = batch_.counts[b];
    for (size_t t = 0; t < T; ++t) {
      const int64_t row = int64_t(count) - int64_t(T) + int64_t(t);  // the row index ever pushed
      if (row < 0) continue;                                        // before the key's first row: zeros
      std::memcpy(&x_[(t * k + b) * I], &rings_[(size_t(batch_.keys[b]) * T + size_t(row) % T) * I], I * sizeof(float));
    }
  }
  LstmRunShape shape;
  shape.steps = T;
  shape.batch = k;
  model_->Predict({x_.data(), x_.size()}, shape, out);
  std::copy(batch_.keys.begin(), batch_.keys.end(), outKeys.data);
  return k;
}

void LstmWindows::InternOnly(const KeyBatch& keys, Span<uint32_t> ids) {
  Require(keySpace_ != nullptr, codes::kInvalidArgument, "these LstmWindows take dense Uint32Array ids (no `keys` kind was set)");
  keySpace_->Intern(keys, ids.data);
  uint32_t top = 0;
  for (size_t i = 0; i < keys.size(); ++i) top = std::max(top, ids[i]);
  if (keys.size() == 0 || top < book_.capacity()) return;
  // Doubling (amortised); the rings first, so that a failure leaves the book as it was.
  const size_t capacity = std::min<size_t>(std::max<size_t>(size_t(top) + 1, 2 * book_.capacity()), kMaxDictionaryKeys);
  const size_t floats = capacity * book_.steps() * model_->inputSize();
  try {
    rings_.resize(floats, 0.f);
    book_.Grow(capacity);
  } catch (const std::bad_alloc&) {
    keySpace_->UndoIntern();
    Fail(codes::kOutOfMemory, "cannot grow the windows to " + std::to_string(capacity) + " keys");
  } catch (...) {
    keySpace_->UndoIntern();
    throw;
  }
  ringFloats_ = floats;
}

void LstmWindows::UndoIntern() {
  Require(keySpace_ != nullptr, codes::kInvalidArgument, "these LstmWindows take dense Uint32Array ids (no `keys` kind was set)");
  keySpace_->UndoIntern();
}

size_t LstmWindows::PushKeys(const KeyBatch& keys, Span<const float> x, Span<uint32_t> outKeys, Span<float> out) {
  Require(keySpace_ != nullptr, codes::kInvalidArgument, "these LstmWindows take dense Uint32Array ids (no `keys` kind was set)");
  CheckWindowsPush(keys.size(), x.size, outKeys.size, out.size, model_->inputSize(), model_->outputSize());
  if (keyIds_.size() < keys.size()) keyIds_.resize(keys.size());
  const Span<uint32_t> ids(keyIds_.data(), keys.size());
  InternOnly(keys, ids);
  try {
    return Push(ids, x, outKeys, out);
  } catch (...) {
    keySpace_->UndoIntern();
    throw;
  }
}

size_t LstmWindows::Expire(Span<const uint32_t> ids) {
  Require(keySpace_ != nullptr, codes::kInvalidArgument, "expire() needs a key space (the `keys` option)");
  return keySpace_->Expire(ids, [this](uint32_t id) { book_.ForgetKey(id); }).size();
}

void LstmWindows::Reset() {
  book_.Reset();
  std::fill(rings_.begin(), rings_.end(), 0.f);
}

}  // namespace sluice

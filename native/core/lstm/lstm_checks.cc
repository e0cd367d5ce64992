#include "lstm/lstm_checks.h"

#include <algorithm>
#include <cmath>
#include <new>

#include "base/error.h"

namespace sluice {

void CheckLstmWeight(Span<const float> w, size_t expected, bool optional, const std::string& name, const std::string& shape) {
  if (optional && w.size == 0) return;
  if (w.size != expected) {
    Fail(codes::kInvalidLength, name + " must have " + shape + " = " + std::to_string(expected) + " floats, got " +
                                    std::to_string(w.size));
  }
  for (size_t i = 0; i < w.size; ++i) {
    if (!std::isfinite(w[i])) {
      Fail(codes::kInvalidArgument, name + "[" + std::to_string(i) + "] is " + (std::isnan(w[i]) ? "NaN" : "infinite") +
                                        "; weights must be finite");
    }
  }
}

void CheckInputLength(size_t xSize, size_t expected, const char* shape) {
  if (xSize != expected) {
    Fail(codes::kInvalidLength, std::string("x must have ") + shape + " = " + std::to_string(expected) + " floats, got " +
                                    std::to_string(xSize));
  }
}

void CheckOutputLength(size_t outSize, size_t expected) {
  if (outSize < expected) {
    Fail(codes::kInvalidLength, "out must hold at least " + std::to_string(expected) + " floats, got " +
                                    std::to_string(outSize));
  }
}

void CheckStepLengths(size_t keys, size_t inputSize, size_t outputSize, size_t xSize, size_t outSize) {
  CheckInputLength(xSize, keys * inputSize, "keys.length·inputSize");
  CheckOutputLength(outSize, keys * outputSize);
}

KeyChecker::KeyChecker(size_t capacity) : capacity_(capacity) {
  Require(capacity_ >= 1 && capacity_ <= UINT32_MAX, codes::kOutOfRange, "capacity must be in [1, 4294967295]");
  try {
    seen_.assign(capacity_, 0);
  } catch (const std::bad_alloc&) {
    Fail(codes::kOutOfMemory, "cannot allocate the key check of " + std::to_string(capacity_) + " keys");
  }
}

void KeyChecker::Resize(size_t capacity) {
  try {
    seen_.resize(capacity, 0);
  } catch (const std::bad_alloc&) {
    Fail(codes::kOutOfMemory, "cannot allocate the key check of " + std::to_string(capacity) + " keys");
  }
  capacity_ = capacity;
}

void KeyChecker::Check(Span<const uint32_t> keys, bool rejectDuplicates) {
  for (size_t i = 0; i < keys.size; ++i) {
    if (keys[i] >= capacity_) {
      Fail(codes::kOutOfRange, "keys[" + std::to_string(i) + "] = " + std::to_string(keys[i]) +
                                   " is beyond the capacity (" + std::to_string(capacity_) + ")");
    }
  }
  if (!rejectDuplicates) return;
  if (++epoch_ == 0) {  // wrapped after 2^32 calls: forget old marks
    std::fill(seen_.begin(), seen_.end(), 0);
    epoch_ = 1;
  }
  for (size_t i = 0; i < keys.size; ++i) {
    if (seen_[keys[i]] == epoch_) {
      Fail(codes::kInvalidArgument, "keys[" + std::to_string(i) + "] = " + std::to_string(keys[i]) +
                                        " appears twice in one step; list each key at most once per call");
    }
    seen_[keys[i]] = epoch_;
  }
}

}  // namespace sluice

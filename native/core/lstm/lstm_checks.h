// Checks shared by the CPU and CUDA LSTM engines, so both name problems the same way with the same codes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/span.h"

namespace sluice {

// A weight must have `expected` finite floats (or none, when optional): ERR_INVALID_LENGTH naming its
// shape, or ERR_INVALID_ARGUMENT naming the first NaN/Infinity.
void CheckLstmWeight(Span<const float> w, size_t expected, bool optional, const std::string& name, const std::string& shape);

// x must hold exactly `expected` floats (`shape` names the product, as "steps·batch·inputSize"), out at
// least `expected` (ERR_INVALID_LENGTH).
void CheckInputLength(size_t xSize, size_t expected, const char* shape);
void CheckOutputLength(size_t outSize, size_t expected);

// x must hold keys·inputSize floats and out at least keys·outputSize (ERR_INVALID_LENGTH).
void CheckStepLengths(size_t keys, size_t inputSize, size_t outputSize, size_t xSize, size_t outSize);

// Keys of a per-key state table: each below the capacity (ERR_OUT_OF_RANGE) and, for a step, listed at most
// once per call (ERR_INVALID_ARGUMENT), in O(keys) with per-key epoch marks instead of clearing a set.
class KeyChecker {
 public:
  // ERR_OUT_OF_RANGE unless 1 ≤ capacity ≤ 2^32 − 1; ERR_OUT_OF_MEMORY when the marks cannot be allocated.
  explicit KeyChecker(size_t capacity);
  void Check(Span<const uint32_t> keys, bool rejectDuplicates);
  // Another capacity (a keyed state table that grew or was restored); ERR_OUT_OF_MEMORY leaves it as it was.
  void Resize(size_t capacity);

 private:
  size_t capacity_;
  std::vector<uint32_t> seen_;  // per key: the epoch of the last call that listed it
  uint32_t epoch_ = 0;
};

}  // namespace sluice

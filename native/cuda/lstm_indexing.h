// The index arithmetic of cuda_lstm.cu's kernels, as plain functions shared by the device code and the
// core's C++ tests (native/core/tests/cuda_indexing_test.cc), which check them against the CPU engine's
// layouts on a machine without a GPU. No CUDA header needed.
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define SLUICE_HD __host__ __device__
#else
#define SLUICE_HD
#endif

namespace sluice::cuda_indexing {

// Element i of [steps][batch][width] (sequence-major) comes from element BatchFirstSource(i) of
// [batch][steps][width].
SLUICE_HD inline size_t BatchFirstSource(size_t i, size_t steps, size_t batch, size_t width) {
  const size_t j = i % width, row = i / width;  // row = t·batch + b
  const size_t t = row / batch, b = row % batch;
  return (b * steps + t) * width + j;
}

// Which row of cuDNN's y ([steps][batch][H]) output row r reads. kLast: the last step of sequence r;
// kSequence: row r itself ([steps][batch]); kSequenceBatchFirst: output rows are [batch][steps].
enum EmitMode { kLast = 0, kSequence = 1, kSequenceBatchFirst = 2 };
SLUICE_HD inline size_t EmitSourceRow(int mode, size_t r, size_t steps, size_t batch) {
  if (mode == kLast) return (steps - 1) * batch + r;
  if (mode == kSequence) return r;
  return (r % steps) * batch + r / steps;
}

// Per-key state table [key][layer][h, c][paddedHidden] (LstmModel::StateStride() floats per key): the
// offset of h[j] of `layer` for `key`; c[j] is paddedHidden further.
SLUICE_HD inline size_t StateOffset(size_t key, size_t layer, size_t j, size_t layers, size_t paddedHidden) {
  return key * layers * 2 * paddedHidden + layer * 2 * paddedHidden + j;
}

// Element i of cuDNN's hx/cx ([layers][n][hidden]) belongs to listed key k, layer l, unit j.
struct StateElement {
  size_t k, layer, j;
};
SLUICE_HD inline StateElement StateElementOf(size_t i, size_t n, size_t hidden) {
  const size_t j = i % hidden, row = i / hidden;
  return {row % n, row / n, j};
}

// Window row t (of `steps`) of a key with `count` rows ever pushed is the key's row count − steps + t, kept
// in ring slot row % steps; negative (before its first row) reads as zeros. Returns −1 then.
SLUICE_HD inline int64_t WindowRow(uint64_t count, size_t steps, size_t t) {
  return static_cast<int64_t>(count) - static_cast<int64_t>(steps) + static_cast<int64_t>(t);
}

}  // namespace sluice::cuda_indexing

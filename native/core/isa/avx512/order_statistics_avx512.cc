// OrderStatistics' block kernels with AVX-512: counts by 8-lane comparisons and mask popcounts, shifts by
// blending each 8-value chunk with its neighbour one slot over (no library call, no branch on the size of
// the move). Same results as the portable kernels (comparisons and moves are exact).
#include <immintrin.h>

#include <limits>

#include "windows/order_statistics_kernels.h"

namespace sluice {

namespace {

template <int kPredicate>
size_t CountAvx512(const double* x, size_t n, double value) {
  const __m512d v = _mm512_set1_pd(value);
  size_t count = 0;
  for (size_t i = 0; i < n; i += 8) {
    count += static_cast<size_t>(__builtin_popcount(_mm512_cmp_pd_mask(_mm512_loadu_pd(x + i), v, kPredicate)));
  }
  return count;
}

// Lanes above `at` take their lower neighbour (read before the chunk below is written: chunks go downwards),
// lane `at` takes x. Chunks [first, last] (those from at's to count's hold every change).
inline void InsertChunks(double* block, size_t at, double x, size_t first, size_t last) {
  const __m512i lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i where = _mm512_set1_epi64(static_cast<long long>(at));
  const __m512d value = _mm512_set1_pd(x);
  for (size_t c = last + 1; c-- > first;) {
    double* chunk = block + 8 * c;
    const __m512i index = _mm512_add_epi64(lanes, _mm512_set1_epi64(static_cast<long long>(8 * c)));
    __m512d out = _mm512_mask_blend_pd(_mm512_cmpgt_epi64_mask(index, where), _mm512_loadu_pd(chunk),
                                       _mm512_loadu_pd(chunk - 1));
    out = _mm512_mask_mov_pd(out, _mm512_cmpeq_epi64_mask(index, where), value);
    _mm512_storeu_pd(chunk, out);
  }
}

// Lanes in [index, count) take their upper neighbour (read before the chunk above is written: chunks go
// upwards); the padding above stays. Slot count − 1 then holds slot count's +∞, or for a full block whatever
// follows it: set to +∞ explicitly.
inline void RemoveChunks(double* block, size_t index, size_t count, size_t first, size_t last) {
  const __m512i lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i where = _mm512_set1_epi64(static_cast<long long>(index));
  const __m512i end = _mm512_set1_epi64(static_cast<long long>(count));
  for (size_t c = first; c <= last; ++c) {
    double* chunk = block + 8 * c;
    const __m512i at = _mm512_add_epi64(lanes, _mm512_set1_epi64(static_cast<long long>(8 * c)));
    const __mmask8 moved = _mm512_mask_cmplt_epi64_mask(_mm512_cmpge_epi64_mask(at, where), at, end);
    _mm512_storeu_pd(chunk, _mm512_mask_blend_pd(moved, _mm512_loadu_pd(chunk), _mm512_loadu_pd(chunk + 1)));
  }
  block[count - 1] = std::numeric_limits<double>::infinity();
}

// Blocks of up to 64 values go through every chunk: a fixed trip count (the compiler unrolls it) costs less
// than the mispredicted exit of a loop over just the chunks that change. Larger blocks take those chunks only.
constexpr size_t kWholeBlockMax = 64;

void InsertAtAvx512(double* block, size_t capacity, size_t at, size_t count, double x) {
  if (capacity == kWholeBlockMax) InsertChunks(block, at, x, 0, kWholeBlockMax / 8 - 1);
  else if (capacity < kWholeBlockMax) InsertChunks(block, at, x, 0, capacity / 8 - 1);
  else InsertChunks(block, at, x, at / 8, count / 8);
}

void RemoveAtAvx512(double* block, size_t capacity, size_t index, size_t count) {
  if (capacity == kWholeBlockMax) RemoveChunks(block, index, count, 0, kWholeBlockMax / 8 - 1);
  else if (capacity < kWholeBlockMax) RemoveChunks(block, index, count, 0, capacity / 8 - 1);
  else RemoveChunks(block, index, count, index / 8, (count - 1) / 8);
}

}  // namespace

OrderStatisticsKernels OrderStatisticsKernelsAvx512() {
  return {&CountAvx512<_CMP_LT_OQ>, &CountAvx512<_CMP_LE_OQ>, &InsertAtAvx512, &RemoveAtAvx512};
}

}  // namespace sluice

// The fast-path window-sum kernel with AVX2: one group of 8 rows as two ymm halves. Performs exactly the
// operations of sliding_window_detail::SumGroup<false> (the core tests compare them bit for bit).
// Results must not depend on the compiler fusing a multiply and an add into an FMA (GCC does so across
// intrinsics by default in GNU mode): every kernel rounds exactly like the portable code.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <immintrin.h>

#include "sliding_window_kernels.h"

namespace sluice {

namespace {

// The canonical scan (see ScanGroup) of lanes 0–3 (`low`) and 4–7 (`high`).
inline void Scan(__m256d& low, __m256d& high) {
  const __m256d zero = _mm256_setzero_pd();
  auto shift1 = [&](__m256d v) { return _mm256_blend_pd(_mm256_permute4x64_pd(v, _MM_SHUFFLE(2, 1, 0, 0)), zero, 0x1); };
  auto shift2 = [](__m256d v) { return _mm256_permute2f128_pd(v, v, 0x08); };
  low = _mm256_add_pd(low, shift1(low));
  high = _mm256_add_pd(high, shift1(high));
  low = _mm256_add_pd(low, shift2(low));
  high = _mm256_add_pd(high, shift2(high));
  high = _mm256_add_pd(high, _mm256_permute4x64_pd(low, 0xFF));
  low = _mm256_add_pd(low, zero);
}

inline double Lane3(__m256d v) {
  const __m128d upper = _mm256_extractf128_pd(v, 1);
  return _mm_cvtsd_f64(_mm_unpackhi_pd(upper, upper));
}

}  // namespace

void SumGroupsAvx2(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups, WindowSums* sums,
                   const SumOutputs& outputs) {
  using sliding_window_detail::CompensatedAdd;
  const bool wantS2 = outputs.var || outputs.std;
  alignas(32) double s1[8], s2[8];
  const __m256d shift = _mm256_set1_pd(sums->shift);
  double s1Hi = sums->s1Hi, s1Lo = sums->s1Lo, s2Hi = sums->s2Hi, s2Lo = sums->s2Lo;
  for (size_t g = 0; g < groups; ++g) {
    const double* fresh = ring + newPos;
    const double* old = ring + oldPos;
    const __m256d inLow = _mm256_loadu_pd(fresh);
    const __m256d inHigh = _mm256_loadu_pd(fresh + 4);
    const __m256d outLow = _mm256_loadu_pd(old);
    const __m256d outHigh = _mm256_loadu_pd(old + 4);
    const __m256d d1Low = _mm256_sub_pd(inLow, outLow), d1High = _mm256_sub_pd(inHigh, outHigh);
    __m256d low = d1Low, high = d1High;
    Scan(low, high);
    const __m256d hi1 = _mm256_set1_pd(s1Hi), lo1 = _mm256_set1_pd(s1Lo);
    _mm256_store_pd(s1, _mm256_add_pd(hi1, _mm256_add_pd(lo1, low)));
    _mm256_store_pd(s1 + 4, _mm256_add_pd(hi1, _mm256_add_pd(lo1, high)));
    CompensatedAdd(s1Hi, s1Lo, Lane3(high));
    if (wantS2) {
      low = _mm256_mul_pd(d1Low, _mm256_add_pd(_mm256_sub_pd(inLow, shift), _mm256_sub_pd(outLow, shift)));
      high = _mm256_mul_pd(d1High, _mm256_add_pd(_mm256_sub_pd(inHigh, shift), _mm256_sub_pd(outHigh, shift)));
      Scan(low, high);
      const __m256d hi2 = _mm256_set1_pd(s2Hi), lo2 = _mm256_set1_pd(s2Lo);
      _mm256_store_pd(s2, _mm256_add_pd(hi2, _mm256_add_pd(lo2, low)));
      _mm256_store_pd(s2 + 4, _mm256_add_pd(hi2, _mm256_add_pd(lo2, high)));
      CompensatedAdd(s2Hi, s2Lo, Lane3(high));
    }
    sliding_window_detail::FinalizeFastRows(*sums, s1, s2, 8, outputs, 8 * g);
    newPos += 8;
    if (newPos >= capacity) newPos -= capacity;
    oldPos += 8;
    if (oldPos >= capacity) oldPos -= capacity;
  }
  sums->s1Hi = s1Hi;
  sums->s1Lo = s1Lo;
  sums->s2Hi = s2Hi;
  sums->s2Lo = s2Lo;
}

// ---- min/max scans (van Herk / Gil-Werman), 4 rows per ymm: in-register prefix (suffix) picks, then the
// carry; exactly the picks of the portable scans (picks are exact, so only their order differs).
namespace {

template <bool kMax>
inline __m256d Pick(__m256d a, __m256d b) {
  return kMax ? _mm256_max_pd(a, b) : _mm256_min_pd(a, b);  // a > b ? a : b (a < b ? a : b): NaN `a` gives b
}

template <bool kMax>
inline double PickScalar(double a, double b) {
  return kMax ? (a > b ? a : b) : (a < b ? a : b);
}

template <bool kMax>
double Forward(const double* x, size_t n, double carryValue, double extraValue, const double* suffix, double* out) {
  __m256d carry = _mm256_set1_pd(carryValue);
  const __m256d extra = _mm256_set1_pd(extraValue);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d local = _mm256_loadu_pd(x + i);
    local = Pick<kMax>(local, _mm256_permute4x64_pd(local, _MM_SHUFFLE(2, 1, 0, 0)));
    local = Pick<kMax>(local, _mm256_permute4x64_pd(local, _MM_SHUFFLE(1, 0, 1, 0)));
    const __m256d prefix = Pick<kMax>(carry, local);
    _mm256_storeu_pd(out + i, Pick<kMax>(_mm256_loadu_pd(suffix + i), Pick<kMax>(extra, prefix)));
    carry = Pick<kMax>(carry, _mm256_permute4x64_pd(local, 0xFF));
  }
  double c = _mm256_cvtsd_f64(carry);
  for (; i < n; ++i) {
    c = PickScalar<kMax>(c, x[i]);
    out[i] = PickScalar<kMax>(suffix[i], PickScalar<kMax>(extraValue, c));
  }
  return c;
}

template <bool kMax>
double Backward(const double* x, size_t n, double carryValue, double* suffix) {
  __m256d carry = _mm256_set1_pd(carryValue);
  size_t i = n;
  for (; i >= 4; i -= 4) {
    __m256d local = _mm256_loadu_pd(x + i - 4);
    local = Pick<kMax>(local, _mm256_permute4x64_pd(local, _MM_SHUFFLE(3, 3, 2, 1)));
    local = Pick<kMax>(local, _mm256_permute4x64_pd(local, _MM_SHUFFLE(3, 2, 3, 2)));
    _mm256_storeu_pd(suffix + i - 4, Pick<kMax>(carry, local));
    carry = Pick<kMax>(carry, _mm256_permute4x64_pd(local, 0x00));
  }
  double c = _mm256_cvtsd_f64(carry);
  while (i-- > 0) suffix[i] = c = PickScalar<kMax>(c, x[i]);
  return c;
}

}  // namespace

double ForwardMaxAvx2(const double* x, size_t n, double carry, double extra, const double* suffix, double* out, bool) {
  return Forward<true>(x, n, carry, extra, suffix, out);
}
double ForwardMinAvx2(const double* x, size_t n, double carry, double extra, const double* suffix, double* out, bool) {
  return Forward<false>(x, n, carry, extra, suffix, out);
}
double BackwardMaxAvx2(const double* x, size_t n, double carry, double* suffix) { return Backward<true>(x, n, carry, suffix); }
double BackwardMinAvx2(const double* x, size_t n, double carry, double* suffix) { return Backward<false>(x, n, carry, suffix); }

}  // namespace sluice

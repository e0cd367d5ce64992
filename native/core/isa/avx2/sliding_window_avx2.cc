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

#include <limits>

#include "windows/sliding_window_kernels.h"

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

// The rows' aggregates of one half group, as FinalizeFastRows computes them, stored in place.
struct HalfGroupFinisher {
  __m256d shift, count, inverse, inverseMinusOne, shiftTimesCount;
  explicit HalfGroupFinisher(const WindowSums& sums) {
    const double n = sums.count;
    shift = _mm256_set1_pd(sums.shift);
    count = _mm256_set1_pd(n);
    inverse = _mm256_set1_pd(1.0 / n);
    inverseMinusOne = _mm256_set1_pd(n > 1 ? 1.0 / (n - 1) : std::numeric_limits<double>::quiet_NaN());
    shiftTimesCount = _mm256_mul_pd(shift, count);
  }
  void Put(const SumOutputs& out, size_t row, __m256d s1, __m256d s2) const {
    if (out.count) _mm256_storeu_pd(out.count + row, count);
    if (out.sum) _mm256_storeu_pd(out.sum + row, _mm256_add_pd(shiftTimesCount, s1));
    if (out.mean) _mm256_storeu_pd(out.mean + row, _mm256_add_pd(shift, _mm256_mul_pd(s1, inverse)));
    if (out.var || out.std) {
      const __m256d m2 = _mm256_sub_pd(s2, _mm256_mul_pd(_mm256_mul_pd(s1, s1), inverse));
      // max(m2, 0) returns its second operand for NaN and for −0, like `m2 > 0 ? m2 : 0.0`.
      const __m256d var = _mm256_mul_pd(_mm256_max_pd(m2, _mm256_setzero_pd()), inverseMinusOne);
      if (out.var) _mm256_storeu_pd(out.var + row, var);
      if (out.std) _mm256_storeu_pd(out.std + row, _mm256_sqrt_pd(var));
    }
  }
};

}  // namespace

// The carried sums [s1, s2] sit side by side in the two lanes of an xmm pair (hi + lo), so one narrow TwoSum
// per group serves both; rows are finished in registers, four at a time.
void SumGroupsAvx2(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups, WindowSums* sums,
                   const SumOutputs& outputs) {
  using sliding_window_detail::CompensatedAdd;
  const bool wantS2 = outputs.var || outputs.std;
  const __m256d shift = _mm256_set1_pd(sums->shift);
  const HalfGroupFinisher finisher(*sums);
  __m128d hi = _mm_set_pd(sums->s2Hi, sums->s1Hi), lo = _mm_set_pd(sums->s2Lo, sums->s1Lo);
  PrefetchCursor prefetch(outputs.prefetch);
  for (size_t g = 0; g < groups; ++g) {
    prefetch.Step();
    const double* fresh = ring + newPos;
    const double* old = ring + oldPos;
    const __m256d inLow = _mm256_loadu_pd(fresh);
    const __m256d inHigh = _mm256_loadu_pd(fresh + 4);
    const __m256d outLow = _mm256_loadu_pd(old);
    const __m256d outHigh = _mm256_loadu_pd(old + 4);
    const __m256d d1Low = _mm256_sub_pd(inLow, outLow), d1High = _mm256_sub_pd(inHigh, outHigh);
    __m256d low1 = d1Low, high1 = d1High;
    Scan(low1, high1);
    const __m256d hi1 = _mm256_broadcastsd_pd(hi), lo1 = _mm256_broadcastsd_pd(lo);
    const __m256d s1Low = _mm256_add_pd(hi1, _mm256_add_pd(lo1, low1));
    const __m256d s1High = _mm256_add_pd(hi1, _mm256_add_pd(lo1, high1));
    __m256d s2Low = s1Low, s2High = s1High, high2 = _mm256_setzero_pd();
    if (wantS2) {
      __m256d low2 = _mm256_mul_pd(d1Low, _mm256_add_pd(_mm256_sub_pd(inLow, shift), _mm256_sub_pd(outLow, shift)));
      high2 = _mm256_mul_pd(d1High, _mm256_add_pd(_mm256_sub_pd(inHigh, shift), _mm256_sub_pd(outHigh, shift)));
      Scan(low2, high2);
      const __m256d hi2 = _mm256_permute4x64_pd(_mm256_castpd128_pd256(hi), 0x55);
      const __m256d lo2 = _mm256_permute4x64_pd(_mm256_castpd128_pd256(lo), 0x55);
      s2Low = _mm256_add_pd(hi2, _mm256_add_pd(lo2, low2));
      s2High = _mm256_add_pd(hi2, _mm256_add_pd(lo2, high2));
    }
    // [high1[3], high2[3]]: the group's totals (high2 is zero without var/std: exact no-op additions).
    const __m128d totals = _mm_unpackhi_pd(_mm256_extractf128_pd(high1, 1), _mm256_extractf128_pd(high2, 1));
    CompensatedAdd(hi, lo, totals);
    finisher.Put(outputs, 8 * g, s1Low, s2Low);
    finisher.Put(outputs, 8 * g + 4, s1High, s2High);
    newPos += 8;
    if (newPos >= capacity) newPos -= capacity;
    oldPos += 8;
    if (oldPos >= capacity) oldPos -= capacity;
  }
  sums->s1Hi = _mm_cvtsd_f64(hi);
  sums->s1Lo = _mm_cvtsd_f64(lo);
  if (wantS2) {
    sums->s2Hi = _mm_cvtsd_f64(_mm_unpackhi_pd(hi, hi));
    sums->s2Lo = _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo));
  }
}

// ---- min/max scans (van Herk / Gil-Werman), 4 rows per ymm: in-register prefix (suffix) picks, then the
// carry; exactly the picks of the portable scans (picks are exact, so only their order differs).
namespace {

template <bool kMax>
inline __m256d Pick(__m256d a, __m256d b) {
  return kMax ? _mm256_max_pd(a, b) : _mm256_min_pd(a, b);  // a > b ? a : b (a < b ? a : b): NaN `a` gives b
}

using sliding_window_detail::ForwardPickRows;
using sliding_window_detail::PickScalar;

template <bool kMax>
double Forward(const double* x, size_t n, double carryValue, double extraValue, const double* suffix, double* out,
               InputPrefetch* prefetch) {
  PrefetchCursor next(prefetch);
  __m256d carry = _mm256_set1_pd(carryValue);
  const __m256d extra = _mm256_set1_pd(extraValue);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    if (i % 8 == 0) next.Step();
    __m256d local = _mm256_loadu_pd(x + i);
    local = Pick<kMax>(local, _mm256_permute4x64_pd(local, _MM_SHUFFLE(2, 1, 0, 0)));
    local = Pick<kMax>(local, _mm256_permute4x64_pd(local, _MM_SHUFFLE(1, 0, 1, 0)));
    const __m256d prefix = Pick<kMax>(carry, local);
    _mm256_storeu_pd(out + i, Pick<kMax>(_mm256_loadu_pd(suffix + i), Pick<kMax>(extra, prefix)));
    carry = Pick<kMax>(carry, _mm256_permute4x64_pd(local, 0xFF));
  }
  return ForwardPickRows<kMax>(x, i, n, _mm256_cvtsd_f64(carry), extraValue, suffix, out);
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

double ForwardMaxAvx2(const double* x, size_t n, double carry, double extra, const double* suffix, double* out, bool,
                      InputPrefetch* prefetch) {
  return Forward<true>(x, n, carry, extra, suffix, out, prefetch);
}
double ForwardMinAvx2(const double* x, size_t n, double carry, double extra, const double* suffix, double* out, bool,
                      InputPrefetch* prefetch) {
  return Forward<false>(x, n, carry, extra, suffix, out, prefetch);
}

// ---- copying rows into the ring, with the check for NaN and ±∞ (see CopyToRingPortable) ----
namespace {

template <typename T>
bool CopyToRing(const T* source, size_t n, double* target) {
  const __m256i exponent = _mm256_set1_epi64x(0x7FF0000000000000ll), one = _mm256_set1_epi64x(1ll << 52);
  __m256i seen = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d x;
    if constexpr (sizeof(T) == 8) x = _mm256_loadu_pd(source + i);
    else x = _mm256_cvtps_pd(_mm_loadu_ps(source + i));
    _mm256_storeu_pd(target + i, x);
    seen = _mm256_or_si256(seen, _mm256_add_epi64(_mm256_and_si256(_mm256_castpd_si256(x), exponent), one));
  }
  bool nonFinite = _mm256_movemask_pd(_mm256_castsi256_pd(seen)) != 0;  // the sign bits: bit 63 of each lane
  for (; i < n; ++i) {
    target[i] = static_cast<double>(source[i]);
    nonFinite |= !std::isfinite(target[i]);
  }
  return nonFinite;
}

}  // namespace

bool CopyToRingAvx2(const double* source, size_t n, double* target) { return CopyToRing(source, n, target); }
bool CopyToRingAvx2(const float* source, size_t n, double* target) { return CopyToRing(source, n, target); }
double BackwardMaxAvx2(const double* x, size_t n, double carry, double* suffix) { return Backward<true>(x, n, carry, suffix); }
double BackwardMinAvx2(const double* x, size_t n, double carry, double* suffix) { return Backward<false>(x, n, carry, suffix); }

}  // namespace sluice

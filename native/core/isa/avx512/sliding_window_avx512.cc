// The fast-path window-sum kernel with AVX-512: one group of 8 rows per zmm register. Performs exactly the
// operations of sliding_window_detail::SumGroup<false> (the core tests compare them bit for bit).
// Results must not depend on the compiler fusing a multiply and an add into an FMA (GCC does so across
// intrinsics by default in GNU mode): every kernel rounds exactly like the portable code.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 reports its own _mm512_undefined_pd() inside the intrinsics as "maybe uninitialized" once the
// optimize pragma above is in effect: a false positive in the compiler's headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <limits>

#include "windows/sliding_window_kernels.h"

namespace sluice {

namespace {

// The canonical scan (see ScanGroup): zero-masked lane shifts add +0.0 where a lane has nothing to add.
inline __m512d Scan(__m512d v) {
  const __m512i shift1 = _mm512_set_epi64(6, 5, 4, 0, 2, 1, 0, 0);
  const __m512i shift2 = _mm512_set_epi64(5, 4, 0, 0, 1, 0, 0, 0);
  const __m512i lane3 = _mm512_set1_epi64(3);
  const __m512d t = _mm512_add_pd(v, _mm512_maskz_permutexvar_pd(0xEE, shift1, v));
  const __m512d u = _mm512_add_pd(t, _mm512_maskz_permutexvar_pd(0xCC, shift2, t));
  return _mm512_add_pd(u, _mm512_maskz_permutexvar_pd(0xF0, lane3, u));
}

// A non-temporal store (large outputs: no read for ownership, no cache pollution) or a plain one.
inline void Store(double* target, __m512d v, bool stream) {
  if (stream) _mm512_stream_pd(target, v);
  else _mm512_storeu_pd(target, v);
}

// Writes one output array, a group of 8 rows at a time. Large outputs go out with non-temporal stores of
// whole cache lines (no read for ownership, no cache pollution), also when the groups do not start on a
// line (then each line is assembled from two consecutive groups in registers; the partial lines at both
// ends get plain masked stores). Only where rows are stored changes, never their values.
class GroupWriter {
 public:
  GroupWriter(double* target, bool stream) : target_(target), stream_(stream && target) {
    if (!stream_) return;
    skew_ = static_cast<unsigned>((reinterpret_cast<uintptr_t>(target) & 63) / sizeof(double));
    alignas(64) int64_t idx[8];
    // Lane i of the line starting skew_ doubles before a group: the previous group's lane 8 − skew_ + i,
    // then the group's own lanes (index 8 + … picks from the second operand).
    for (unsigned i = 0; i < 8; ++i) idx[i] = i < skew_ ? 8 - skew_ + i : 8 + (i - skew_);
    combine_ = _mm512_load_si512(idx);
  }
  void Put(size_t group, __m512d v) {
    double* at = target_ + 8 * group;
    if (!stream_) {
      _mm512_storeu_pd(at, v);
    } else if (skew_ == 0) {
      _mm512_stream_pd(at, v);
    } else {
      if (group == 0) _mm512_mask_storeu_pd(at, static_cast<__mmask8>((1u << (8 - skew_)) - 1), v);
      else _mm512_stream_pd(at - skew_, _mm512_permutex2var_pd(previous_, combine_, v));
      previous_ = v;
    }
  }
  // The last group's lanes that spill into the next line (plain stores).
  void Finish(size_t groups) {
    if (!stream_ || skew_ == 0 || groups == 0) return;
    _mm512_mask_storeu_pd(target_ + 8 * groups - skew_, static_cast<__mmask8>((1u << skew_) - 1),
                          _mm512_permutex2var_pd(previous_, combine_, previous_));
  }

 private:
  double* target_;
  bool stream_;
  unsigned skew_ = 0;
  __m512i combine_ = _mm512_setzero_si512();
  __m512d previous_ = _mm512_setzero_pd();
};

using sliding_window_detail::CompensatedAdd;

// The carried, compensated window sums (hi + lo), kept in registers between groups.
// Σ(x − shift) alone: every zmm lane holds the sum, so a group needs no broadcast.
struct SumCarry {
  static constexpr bool kWantS2 = false;
  __m512d hi, lo;
  explicit SumCarry(const WindowSums& sums) : hi(_mm512_set1_pd(sums.s1Hi)), lo(_mm512_set1_pd(sums.s1Lo)) {}
  __m512d S1(__m512d v1) const { return _mm512_add_pd(hi, _mm512_add_pd(lo, v1)); }
  __m512d S2(__m512d) const { return _mm512_setzero_pd(); }
  void Commit(__m512d v1, __m512d) { CompensatedAdd(hi, lo, _mm512_permutexvar_pd(_mm512_set1_epi64(7), v1)); }
  void Store(WindowSums& sums) const {
    sums.s1Hi = _mm512_cvtsd_f64(hi);
    sums.s1Lo = _mm512_cvtsd_f64(lo);
  }
};

// Σ(x − shift) and Σ(x − shift)² side by side in the two lanes of an xmm pair: one narrow TwoSum serves both
// and leaves the wide units to the rows (measured faster than two wide ones).
struct SumAndSquaresCarry {
  static constexpr bool kWantS2 = true;
  __m128d hi, lo;  // [s1, s2]
  explicit SumAndSquaresCarry(const WindowSums& sums)
      : hi(_mm_set_pd(sums.s2Hi, sums.s1Hi)), lo(_mm_set_pd(sums.s2Lo, sums.s1Lo)) {}
  __m512d S1(__m512d v1) const {
    return _mm512_add_pd(_mm512_broadcastsd_pd(hi), _mm512_add_pd(_mm512_broadcastsd_pd(lo), v1));
  }
  __m512d S2(__m512d v2) const {
    const __m512i lane1 = _mm512_set1_epi64(1);
    return _mm512_add_pd(_mm512_permutexvar_pd(lane1, _mm512_castpd128_pd512(hi)),
                         _mm512_add_pd(_mm512_permutexvar_pd(lane1, _mm512_castpd128_pd512(lo)), v2));
  }
  void Commit(__m512d v1, __m512d v2) {
    const __m512i lanes7And15 = _mm512_set_epi64(15, 15, 15, 15, 15, 15, 15, 7);  // [v1[7], v2[7], …]
    CompensatedAdd(hi, lo, _mm512_castpd512_pd128(_mm512_permutex2var_pd(v1, lanes7And15, v2)));
  }
  void Store(WindowSums& sums) const {
    sums.s1Hi = _mm_cvtsd_f64(hi);
    sums.s1Lo = _mm_cvtsd_f64(lo);
    sums.s2Hi = _mm_cvtsd_f64(_mm_unpackhi_pd(hi, hi));
    sums.s2Lo = _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo));
  }
};

template <typename Carry>
void SumGroups(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups, WindowSums* sums,
               const SumOutputs& outputs) {
  // Finalisation as in FinalizeFastRows, in registers.
  const double n = sums->count;
  const __m512d shift = _mm512_set1_pd(sums->shift);
  const __m512d count = _mm512_set1_pd(n);
  const __m512d inverse = _mm512_set1_pd(1.0 / n);
  const __m512d inverseMinusOne = _mm512_set1_pd(n > 1 ? 1.0 / (n - 1) : std::numeric_limits<double>::quiet_NaN());
  const __m512d shiftTimesCount = _mm512_mul_pd(shift, count);
  const __m512d zero = _mm512_setzero_pd();
  GroupWriter countOut(outputs.count, outputs.stream), sumOut(outputs.sum, outputs.stream),
      meanOut(outputs.mean, outputs.stream), varOut(outputs.var, outputs.stream), stdOut(outputs.std, outputs.stream);
  Carry carry(*sums);
  PrefetchCursor prefetch(outputs.prefetch);
  for (size_t g = 0; g < groups; ++g) {
    prefetch.Step();
    const __m512d in = _mm512_loadu_pd(ring + newPos);
    const __m512d out = _mm512_loadu_pd(ring + oldPos);
    const __m512d d1 = _mm512_sub_pd(in, out);
    const __m512d v1 = Scan(d1);
    const __m512d s1 = carry.S1(v1);
    __m512d v2 = zero;
    if constexpr (Carry::kWantS2) {
      v2 = Scan(_mm512_mul_pd(d1, _mm512_add_pd(_mm512_sub_pd(in, shift), _mm512_sub_pd(out, shift))));
      const __m512d m2 = _mm512_sub_pd(carry.S2(v2), _mm512_mul_pd(_mm512_mul_pd(s1, s1), inverse));
      // max(m2, 0) returns 0 for NaN and for −0, like `m2 > 0 ? m2 : 0.0`.
      const __m512d var = _mm512_mul_pd(_mm512_maskz_max_pd(0xFF, m2, zero), inverseMinusOne);
      if (outputs.var) varOut.Put(g, var);
      if (outputs.std) stdOut.Put(g, _mm512_maskz_sqrt_pd(0xFF, var));
    }
    carry.Commit(v1, v2);
    if (outputs.count) countOut.Put(g, count);
    if (outputs.sum) sumOut.Put(g, _mm512_add_pd(shiftTimesCount, s1));
    if (outputs.mean) meanOut.Put(g, _mm512_add_pd(shift, _mm512_mul_pd(s1, inverse)));
    newPos += 8;
    if (newPos >= capacity) newPos -= capacity;
    oldPos += 8;
    if (oldPos >= capacity) oldPos -= capacity;
  }
  countOut.Finish(groups);
  sumOut.Finish(groups);
  meanOut.Finish(groups);
  varOut.Finish(groups);
  stdOut.Finish(groups);
  carry.Store(*sums);
}

// Bit 63 of (exponent bits + 1 << 52) is set only for an all-ones exponent (NaN, ±∞); OR-ed over all values.
inline __m512i NonFiniteBits(__m512d x, __m512i seen) {
  const __m512i exponent = _mm512_set1_epi64(0x7FF0000000000000ll), one = _mm512_set1_epi64(1ll << 52);
  return _mm512_or_si512(seen, _mm512_add_epi64(_mm512_and_si512(_mm512_castpd_si512(x), exponent), one));
}

template <typename T>
bool CopyToRing(const T* source, size_t n, double* target) {
  __m512i seen = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d x;
    if constexpr (sizeof(T) == 8) x = _mm512_loadu_pd(source + i);
    else x = _mm512_cvtps_pd(_mm256_loadu_ps(source + i));
    _mm512_storeu_pd(target + i, x);
    seen = NonFiniteBits(x, seen);
  }
  if (i < n) {  // the tail, masked
    const __mmask8 mask = static_cast<__mmask8>((1u << (n - i)) - 1);
    __m512d x;
    if constexpr (sizeof(T) == 8) x = _mm512_maskz_loadu_pd(mask, source + i);
    else x = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(mask, source + i));
    _mm512_mask_storeu_pd(target + i, mask, x);
    seen = NonFiniteBits(x, seen);
  }
  return _mm512_test_epi64_mask(seen, _mm512_set1_epi64(static_cast<long long>(1ull << 63))) != 0;
}

}  // namespace

void SumGroupsAvx512(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups,
                     WindowSums* sums, const SumOutputs& outputs) {
  if (outputs.var || outputs.std) SumGroups<SumAndSquaresCarry>(ring, capacity, newPos, oldPos, groups, sums, outputs);
  else SumGroups<SumCarry>(ring, capacity, newPos, oldPos, groups, sums, outputs);
}

// 8 windows × 8 values at a time: 8 loads (a value's 8 windows each), an 8×8 transpose in registers, 8 stores
// (a window's 8 values each); the rest one by one.
void GatherAvx512(const double* source, size_t stride, size_t values, size_t count, double* out, size_t step) {
  const __m512i low = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0), high = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
  const __m512i lowHalves = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0), highHalves = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4);
  size_t w = 0;
  for (; w + 8 <= count; w += 8) {
    size_t v = 0;
    for (; v + 8 <= values; v += 8) {
      __m512d r[8], t[8], u[8];
      for (int k = 0; k < 8; ++k) r[k] = _mm512_loadu_pd(source + (v + k) * stride + w);
      // r[k][j] = value v + k of window w + j. Pairs of values for the even and the odd windows:
      // t[k] = (k, k+1) of windows 0 2 4 6, t[k+1] = of windows 1 3 5 7 (k even).
      for (int k = 0; k < 8; k += 2) {
        t[k] = _mm512_unpacklo_pd(r[k], r[k + 1]);
        t[k + 1] = _mm512_unpackhi_pd(r[k], r[k + 1]);
      }
      // Quads: u[h] = values 0–3 of windows h and h + 4 (one per 256-bit half), u[4 + h] = values 4–7.
      for (int k = 0; k < 8; k += 4) {
        for (int h = 0; h < 2; ++h) {
          u[k + h] = _mm512_permutex2var_pd(t[k + h], low, t[k + 2 + h]);
          u[k + 2 + h] = _mm512_permutex2var_pd(t[k + h], high, t[k + 2 + h]);
        }
      }
      // Whole windows: h from the low halves, h + 4 from the high halves.
      for (int h = 0; h < 4; ++h) {
        _mm512_storeu_pd(out + (w + h) * step + v, _mm512_permutex2var_pd(u[h], lowHalves, u[4 + h]));
        _mm512_storeu_pd(out + (w + h + 4) * step + v, _mm512_permutex2var_pd(u[h], highHalves, u[4 + h]));
      }
    }
    for (; v < values; ++v) {
      for (size_t j = 0; j < 8; ++j) out[(w + j) * step + v] = source[v * stride + w + j];
    }
  }
  for (; w < count; ++w) {
    for (size_t v = 0; v < values; ++v) out[w * step + v] = source[v * stride + w];
  }
}

bool CopyToRingAvx512(const double* source, size_t n, double* target) { return CopyToRing(source, n, target); }
bool CopyToRingAvx512(const float* source, size_t n, double* target) { return CopyToRing(source, n, target); }

// ---- min/max scans (van Herk / Gil-Werman), 8 rows per zmm: an in-register prefix (suffix) scan, then
// the carry. Picking a lane with itself changes nothing, so the lane shifts need no masks.
namespace {

template <bool kMax>
inline __m512d Pick(__m512d a, __m512d b) {
  // (a > b ? a : b) for max, (a < b ? a : b) for min: exactly the portable Fast pick, NaN `a` gives b.
  return kMax ? _mm512_max_pd(a, b) : _mm512_min_pd(a, b);
}

using sliding_window_detail::ForwardPickRows;
using sliding_window_detail::PickScalar;

template <bool kMax>
inline __m512d PrefixScan(__m512d v) {
  v = Pick<kMax>(v, _mm512_permutexvar_pd(_mm512_set_epi64(6, 5, 4, 3, 2, 1, 0, 0), v));
  v = Pick<kMax>(v, _mm512_permutexvar_pd(_mm512_set_epi64(5, 4, 3, 2, 1, 0, 1, 0), v));
  return Pick<kMax>(v, _mm512_permutexvar_pd(_mm512_set_epi64(3, 2, 1, 0, 3, 2, 1, 0), v));
}

template <bool kMax>
inline __m512d SuffixScan(__m512d v) {
  v = Pick<kMax>(v, _mm512_permutexvar_pd(_mm512_set_epi64(7, 7, 6, 5, 4, 3, 2, 1), v));
  v = Pick<kMax>(v, _mm512_permutexvar_pd(_mm512_set_epi64(7, 6, 7, 6, 5, 4, 3, 2), v));
  return Pick<kMax>(v, _mm512_permutexvar_pd(_mm512_set_epi64(7, 6, 5, 4, 7, 6, 5, 4), v));
}

template <bool kMax>
double Forward(const double* x, size_t n, double carryValue, double extraValue, const double* suffix, double* out,
               bool stream, InputPrefetch* prefetch) {
  PrefetchCursor next(prefetch);
  double c = carryValue;
  size_t i = 0;
  if (stream) {  // scalar rows until `out` reaches a cache line, then aligned non-temporal stores
    for (; i < n && (reinterpret_cast<uintptr_t>(out + i) & 63) != 0; ++i) {
      c = PickScalar<kMax>(c, x[i]);
      out[i] = PickScalar<kMax>(suffix[i], PickScalar<kMax>(extraValue, c));
    }
  }
  __m512d carry = _mm512_set1_pd(c);
  const __m512d extra = _mm512_set1_pd(extraValue);
  const __m512i last = _mm512_set1_epi64(7);
  for (; i + 8 <= n; i += 8) {
    next.Step();
    const __m512d local = PrefixScan<kMax>(_mm512_loadu_pd(x + i));
    const __m512d prefix = Pick<kMax>(carry, local);
    Store(out + i, Pick<kMax>(_mm512_loadu_pd(suffix + i), Pick<kMax>(extra, prefix)), stream);
    carry = Pick<kMax>(carry, _mm512_permutexvar_pd(last, local));
  }
  return ForwardPickRows<kMax>(x, i, n, _mm512_cvtsd_f64(carry), extraValue, suffix, out);
}

template <bool kMax>
double Backward(const double* x, size_t n, double carryValue, double* suffix) {
  __m512d carry = _mm512_set1_pd(carryValue);
  const __m512i first = _mm512_setzero_si512();
  size_t i = n;
  for (; i >= 8; i -= 8) {
    const __m512d local = SuffixScan<kMax>(_mm512_loadu_pd(x + i - 8));
    _mm512_storeu_pd(suffix + i - 8, Pick<kMax>(carry, local));
    carry = Pick<kMax>(carry, _mm512_permutexvar_pd(first, local));
  }
  double c = _mm512_cvtsd_f64(carry);
  while (i-- > 0) suffix[i] = c = PickScalar<kMax>(c, x[i]);
  return c;
}

}  // namespace

double ForwardMaxAvx512(const double* x, size_t n, double carry, double extra, const double* suffix, double* out,
                        bool stream, InputPrefetch* prefetch) {
  return Forward<true>(x, n, carry, extra, suffix, out, stream, prefetch);
}
double ForwardMinAvx512(const double* x, size_t n, double carry, double extra, const double* suffix, double* out,
                        bool stream, InputPrefetch* prefetch) {
  return Forward<false>(x, n, carry, extra, suffix, out, stream, prefetch);
}
double BackwardMaxAvx512(const double* x, size_t n, double carry, double* suffix) { return Backward<true>(x, n, carry, suffix); }
double BackwardMinAvx512(const double* x, size_t n, double carry, double* suffix) { return Backward<false>(x, n, carry, suffix); }

}  // namespace sluice

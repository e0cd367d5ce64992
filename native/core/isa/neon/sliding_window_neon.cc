// The sliding window's kernels with NEON (AArch64): the window-sum group kernel, the min/max scans and the
// ring copy. Each performs exactly the operations of its portable definition in sliding_window_kernels.h /
// sliding_window.cc (the core tests compare them bit for bit), two doubles per register.
// Results must not depend on the compiler fusing a multiply and an add into an FMA (GCC does so by default
// in GNU mode, also across intrinsics): every kernel rounds exactly like the portable code.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <arm_neon.h>

#include <limits>

#include "windows/sliding_window_kernels.h"

namespace sluice {

namespace {

// The canonical scan (see ScanGroup) of one half group, lanes [a0, a1] and [b0, b1]: step 1 adds the lane
// before (0.0 into lane 0), step 2 the lane two before (0.0 into lanes 0 and 1), with the same + 0.0 additions.
inline void ScanHalf(float64x2_t& a, float64x2_t& b) {
  const float64x2_t zero = vdupq_n_f64(0.0);
  const float64x2_t a1 = vaddq_f64(a, vextq_f64(zero, a, 1));  // [a0 + 0, a1 + a0]
  const float64x2_t b1 = vaddq_f64(b, vextq_f64(a, b, 1));     // [b0 + a1, b1 + b0]
  a = vaddq_f64(a1, zero);
  b = vaddq_f64(b1, a1);
}

// The whole group v[0 … 8) as four pairs: each half scanned, then the low half's total added to the high
// half (and + 0.0 to the low half, as ScanGroup does).
inline void Scan(float64x2_t (&v)[4]) {
  ScanHalf(v[0], v[1]);
  ScanHalf(v[2], v[3]);
  const float64x2_t lowTotal = vdupq_laneq_f64(v[1], 1), zero = vdupq_n_f64(0.0);
  v[0] = vaddq_f64(v[0], zero);
  v[1] = vaddq_f64(v[1], zero);
  v[2] = vaddq_f64(v[2], lowTotal);
  v[3] = vaddq_f64(v[3], lowTotal);
}

// The rows' aggregates of one pair of rows, as FinalizeFastRows computes them.
struct PairFinisher {
  float64x2_t shift, count, inverse, inverseMinusOne, shiftTimesCount;
  explicit PairFinisher(const WindowSums& sums) {
    const double n = sums.count;
    shift = vdupq_n_f64(sums.shift);
    count = vdupq_n_f64(n);
    inverse = vdupq_n_f64(1.0 / n);
    inverseMinusOne = vdupq_n_f64(n > 1 ? 1.0 / (n - 1) : std::numeric_limits<double>::quiet_NaN());
    shiftTimesCount = vmulq_f64(shift, count);
  }
  void Put(const SumOutputs& out, size_t row, float64x2_t s1, float64x2_t s2) const {
    if (out.count) vst1q_f64(out.count + row, count);
    if (out.sum) vst1q_f64(out.sum + row, vaddq_f64(shiftTimesCount, s1));
    if (out.mean) vst1q_f64(out.mean + row, vaddq_f64(shift, vmulq_f64(s1, inverse)));
    if (out.var || out.std) {
      const float64x2_t m2 = vsubq_f64(s2, vmulq_f64(vmulq_f64(s1, s1), inverse));
      // `m2 > 0 ? m2 : 0.0`: NaN and −0 give +0 (vmaxq would keep NaN).
      const float64x2_t zero = vdupq_n_f64(0.0);
      const float64x2_t var = vmulq_f64(vbslq_f64(vcgtq_f64(m2, zero), m2, zero), inverseMinusOne);
      if (out.var) vst1q_f64(out.var + row, var);
      if (out.std) vst1q_f64(out.std + row, vsqrtq_f64(var));
    }
  }
};

}  // namespace

void SumGroupsNeon(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups, WindowSums* sums,
                   const SumOutputs& outputs) {
  using sliding_window_detail::CompensatedAdd;
  const bool wantS2 = outputs.var || outputs.std;
  const float64x2_t shift = vdupq_n_f64(sums->shift);
  const PairFinisher finisher(*sums);
  PrefetchCursor prefetch(outputs.prefetch);
  for (size_t g = 0; g < groups; ++g) {
    prefetch.Step();
    const double* fresh = ring + newPos;
    const double* old = ring + oldPos;
    float64x2_t in[4], out[4], d1[4], d2[4], s1[4], s2[4];
    for (int q = 0; q < 4; ++q) {
      in[q] = vld1q_f64(fresh + 2 * q);
      out[q] = vld1q_f64(old + 2 * q);
      d1[q] = vsubq_f64(in[q], out[q]);
    }
    float64x2_t scanned1[4] = {d1[0], d1[1], d1[2], d1[3]};
    Scan(scanned1);
    const float64x2_t hi1 = vdupq_n_f64(sums->s1Hi), lo1 = vdupq_n_f64(sums->s1Lo);
    for (int q = 0; q < 4; ++q) s2[q] = s1[q] = vaddq_f64(hi1, vaddq_f64(lo1, scanned1[q]));
    if (wantS2) {
      for (int q = 0; q < 4; ++q)
        d2[q] = vmulq_f64(d1[q], vaddq_f64(vsubq_f64(in[q], shift), vsubq_f64(out[q], shift)));
      Scan(d2);
      const float64x2_t hi2 = vdupq_n_f64(sums->s2Hi), lo2 = vdupq_n_f64(sums->s2Lo);
      for (int q = 0; q < 4; ++q) s2[q] = vaddq_f64(hi2, vaddq_f64(lo2, d2[q]));
      CompensatedAdd(sums->s2Hi, sums->s2Lo, vgetq_lane_f64(d2[3], 1));
    }
    CompensatedAdd(sums->s1Hi, sums->s1Lo, vgetq_lane_f64(scanned1[3], 1));
    for (int q = 0; q < 4; ++q) finisher.Put(outputs, 8 * g + 2 * q, s1[q], s2[q]);
    newPos += 8;
    if (newPos >= capacity) newPos -= capacity;
    oldPos += 8;
    if (oldPos >= capacity) oldPos -= capacity;
  }
}

// ---- min/max scans (van Herk / Gil-Werman), 2 rows per register: in-register prefix (suffix) picks, then the
// carry; exactly the picks of the portable scans (picks are exact, so only their order differs).
namespace {

template <bool kMax>
inline float64x2_t Pick(float64x2_t a, float64x2_t b) {  // a > b ? a : b (a < b ? a : b): NaN `a` gives b
  return vbslq_f64(kMax ? vcgtq_f64(a, b) : vcltq_f64(a, b), a, b);
}

using sliding_window_detail::ForwardPickRows;
using sliding_window_detail::PickScalar;

template <bool kMax>
double Forward(const double* x, size_t n, double carryValue, double extraValue, const double* suffix, double* out,
               InputPrefetch* prefetch) {
  PrefetchCursor next(prefetch);
  float64x2_t carry = vdupq_n_f64(carryValue);
  const float64x2_t extra = vdupq_n_f64(extraValue);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    if (i % 8 == 0) next.Step();
    const float64x2_t a = vld1q_f64(x + i), b = vld1q_f64(x + i + 2);
    // Prefixes of the four rows: [x0, x0∨x1] and [x2, x2∨x3], then the first pair's last into the second.
    // Lane 1 picks (x0, x1) in the portable order; lane 0 is replaced by x0.
    const float64x2_t pa = vcopyq_laneq_f64(Pick<kMax>(vextq_f64(a, a, 1), a), 0, a, 0);  // [x0, x0∨x1]
    const float64x2_t pbLocal = vcopyq_laneq_f64(Pick<kMax>(vextq_f64(b, b, 1), b), 0, b, 0);
    const float64x2_t pb = Pick<kMax>(vdupq_laneq_f64(pa, 1), pbLocal);
    vst1q_f64(out + i, Pick<kMax>(vld1q_f64(suffix + i), Pick<kMax>(extra, Pick<kMax>(carry, pa))));
    vst1q_f64(out + i + 2, Pick<kMax>(vld1q_f64(suffix + i + 2), Pick<kMax>(extra, Pick<kMax>(carry, pb))));
    carry = Pick<kMax>(carry, vdupq_laneq_f64(pb, 1));
  }
  return ForwardPickRows<kMax>(x, i, n, vgetq_lane_f64(carry, 0), extraValue, suffix, out);
}

template <bool kMax>
double Backward(const double* x, size_t n, double carryValue, double* suffix) {
  float64x2_t carry = vdupq_n_f64(carryValue);
  size_t i = n;
  for (; i >= 4; i -= 4) {
    const float64x2_t a = vld1q_f64(x + i - 4), b = vld1q_f64(x + i - 2);
    // Suffixes of the four rows: [x2∨x3, x3] and [x0∨x1, x1], then the second pair's first into the first.
    // Lane 0 picks (x3, x2) in the portable order; lane 1 is replaced by x3.
    const float64x2_t sb = vcopyq_laneq_f64(Pick<kMax>(vextq_f64(b, b, 1), b), 1, b, 1);
    const float64x2_t saLocal = vcopyq_laneq_f64(Pick<kMax>(vextq_f64(a, a, 1), a), 1, a, 1);
    const float64x2_t sa = Pick<kMax>(vdupq_laneq_f64(sb, 0), saLocal);
    vst1q_f64(suffix + i - 2, Pick<kMax>(carry, sb));
    vst1q_f64(suffix + i - 4, Pick<kMax>(carry, sa));
    carry = Pick<kMax>(carry, vdupq_laneq_f64(sa, 0));
  }
  double c = vgetq_lane_f64(carry, 0);
  while (i-- > 0) suffix[i] = c = PickScalar<kMax>(c, x[i]);
  return c;
}

// ---- copying rows into the ring, with the check for NaN and ±∞ (see CopyToRingPortable): bit 63 of
// (exponent bits + 1 << 52) is set only for an all-ones exponent.
inline uint64x2_t NonFiniteBits(float64x2_t x) {
  return vaddq_u64(vandq_u64(vreinterpretq_u64_f64(x), vdupq_n_u64(0x7FF0000000000000ull)),
                   vdupq_n_u64(uint64_t{1} << 52));
}

template <typename T>
bool CopyToRing(const T* source, size_t n, double* target) {
  uint64x2_t seen = vdupq_n_u64(0);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    float64x2_t a, b;
    if constexpr (sizeof(T) == 8) {
      a = vld1q_f64(source + i);
      b = vld1q_f64(source + i + 2);
    } else {
      const float32x4_t f = vld1q_f32(source + i);
      a = vcvt_f64_f32(vget_low_f32(f));
      b = vcvt_high_f64_f32(f);
    }
    vst1q_f64(target + i, a);
    vst1q_f64(target + i + 2, b);
    seen = vorrq_u64(seen, vorrq_u64(NonFiniteBits(a), NonFiniteBits(b)));
  }
  bool nonFinite = ((vgetq_lane_u64(seen, 0) | vgetq_lane_u64(seen, 1)) >> 63) != 0;
  for (; i < n; ++i) {
    target[i] = static_cast<double>(source[i]);
    nonFinite |= !std::isfinite(target[i]);
  }
  return nonFinite;
}

}  // namespace

double ForwardMaxNeon(const double* x, size_t n, double carry, double extra, const double* suffix, double* out, bool,
                      InputPrefetch* prefetch) {
  return Forward<true>(x, n, carry, extra, suffix, out, prefetch);
}
double ForwardMinNeon(const double* x, size_t n, double carry, double extra, const double* suffix, double* out, bool,
                      InputPrefetch* prefetch) {
  return Forward<false>(x, n, carry, extra, suffix, out, prefetch);
}
double BackwardMaxNeon(const double* x, size_t n, double carry, double* suffix) { return Backward<true>(x, n, carry, suffix); }
double BackwardMinNeon(const double* x, size_t n, double carry, double* suffix) { return Backward<false>(x, n, carry, suffix); }
bool CopyToRingNeon(const double* source, size_t n, double* target) { return CopyToRing(source, n, target); }
bool CopyToRingNeon(const float* source, size_t n, double* target) { return CopyToRing(source, n, target); }

}  // namespace sluice

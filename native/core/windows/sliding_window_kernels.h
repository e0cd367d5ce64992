// The arithmetic of one group of 8 rows of window sums, shared by the portable kernels and (as the
// definition they must match bit for bit) the SIMD ones in isa/. Internal to sliding_window*.cc.
#pragma once
#include <cmath>
#include <limits>

#include "windows/sliding_window.h"

namespace sluice::sliding_window_detail {
// Internal linkage on purpose: the ISA files compile these with -mavx2/-mavx512f, and a shared inline
// definition could let the linker keep an AVX copy for the portable code.
namespace {

// hi + lo += b, with the rounding error of hi + b (Knuth's TwoSum) carried in lo. For doubles and, lane by
// lane, for SIMD vectors (GCC/Clang vector arithmetic), which then round exactly like the scalar code.
template <typename V>
inline void CompensatedAdd(V& hi, V& lo, V b) {
  const V sum = hi + b;
  const V bVirtual = sum - hi;
  const V error = (hi - (sum - bVirtual)) + (b - bVirtual);
  hi = sum;
  lo += error;
}

// The canonical in-group prefix scan: a 4-lane Hillis–Steele scan in each half, then the low half's
// total added to the high half. Lanes with nothing to add get + 0.0, exactly as the SIMD kernels'
// zero-masked shifts do, so every kernel rounds identically.
inline void ScanGroup(double v[8]) {
  double t[8], u[8];
  for (int j = 0; j < 8; ++j) t[j] = v[j] + ((j & 3) >= 1 ? v[j - 1] : 0.0);
  for (int j = 0; j < 8; ++j) u[j] = t[j] + ((j & 3) >= 2 ? t[j - 2] : 0.0);
  for (int j = 0; j < 8; ++j) v[j] = u[j] + (j >= 4 ? u[3] : 0.0);
}

// One group: `fresh` are the 8 rows entering, `old` the 8 rows leaving (size rows earlier). Writes each
// row's s1/s2 (and, in the general path, count, +∞ and −∞ counts); with `commit`, advances `sums` past
// the group. kGeneral handles NaN and ±∞; for finite values it performs exactly the fast path's operations.
template <bool kGeneral>
inline void SumGroup(const double* fresh, const double* old, WindowSums* sums, bool commit, bool wantS2, double* s1,
                     double* s2, double* count, double* posInf, double* negInf) {
  const double shift = sums->shift;
  // A value that is not finite contributes as if it were `shift` (x − shift = 0). The shift cancels in
  // d1 = (in − shift) − (out − shift), so d1 is in − out: one rounding.
  double d1[8], d2[8];
  for (int j = 0; j < 8; ++j) {
    double in = fresh[j], out = old[j];
    if constexpr (kGeneral) {
      if (!std::isfinite(in)) in = shift;
      if (!std::isfinite(out)) out = shift;
    }
    d1[j] = in - out;
    d2[j] = d1[j] * ((in - shift) + (out - shift));  // (in − shift)² − (out − shift)², no FMA to fuse
  }
  ScanGroup(d1);
  for (int j = 0; j < 8; ++j) s1[j] = sums->s1Hi + (sums->s1Lo + d1[j]);
  if (wantS2) {
    ScanGroup(d2);
    for (int j = 0; j < 8; ++j) s2[j] = sums->s2Hi + (sums->s2Lo + d2[j]);
  }
  double dn[8], dp[8], dm[8];
  if constexpr (kGeneral) {
    for (int j = 0; j < 8; ++j) {
      dn[j] = (std::isnan(fresh[j]) ? 0.0 : 1.0) - (std::isnan(old[j]) ? 0.0 : 1.0);
      dp[j] = (fresh[j] == HUGE_VAL ? 1.0 : 0.0) - (old[j] == HUGE_VAL ? 1.0 : 0.0);
      dm[j] = (fresh[j] == -HUGE_VAL ? 1.0 : 0.0) - (old[j] == -HUGE_VAL ? 1.0 : 0.0);
    }
    ScanGroup(dn);
    ScanGroup(dp);
    ScanGroup(dm);
    for (int j = 0; j < 8; ++j) {
      count[j] = sums->count + dn[j];
      posInf[j] = sums->posInf + dp[j];
      negInf[j] = sums->negInf + dm[j];
    }
  }
  if (commit) {
    CompensatedAdd(sums->s1Hi, sums->s1Lo, d1[7]);
    if (wantS2) CompensatedAdd(sums->s2Hi, sums->s2Lo, d2[7]);
    if constexpr (kGeneral) {
      sums->count += dn[7];
      sums->posInf += dp[7];
      sums->negInf += dm[7];
    }
  }
}

// The fast path's aggregates of `rows` rows from their window sums (all values finite, count n = sums.count):
// the one definition every kernel follows. The general path (sliding_window.cc) does the same arithmetic.
inline void FinalizeFastRows(const WindowSums& sums, const double* s1, const double* s2, size_t rows,
                             const SumOutputs& out, size_t offset) {
  const double shift = sums.shift, n = sums.count;
  const double inverse = 1.0 / n;
  const double inverseMinusOne = n > 1 ? 1.0 / (n - 1) : std::numeric_limits<double>::quiet_NaN();
  for (size_t i = 0; i < rows; ++i) {
    if (out.count) out.count[offset + i] = n;
    if (out.sum) out.sum[offset + i] = shift * n + s1[i];
    if (out.mean) out.mean[offset + i] = shift + s1[i] * inverse;
    if (out.var || out.std) {
      const double m2 = s2[i] - s1[i] * s1[i] * inverse;
      const double var = (m2 > 0 ? m2 : 0.0) * inverseMinusOne;
      if (out.var) out.var[offset + i] = var;
      if (out.std) out.std[offset + i] = std::sqrt(var);
    }
  }
}

// max (kMax) or min as every min/max scan picks: a > b ? a : b (a < b ? a : b), so a NaN `a` gives b.
template <bool kMax>
inline double PickScalar(double a, double b) {
  return kMax ? (a > b ? a : b) : (a < b ? a : b);
}

// Rows [i, n) of a forward min/max scan one at a time (the scans' last rows): the carry picks x[i], then
// out[i] = pick(suffix[i], pick(extra, carry)). Returns the carry.
template <bool kMax>
inline double ForwardPickRows(const double* x, size_t i, size_t n, double carry, double extra, const double* suffix,
                              double* out) {
  for (; i < n; ++i) {
    carry = PickScalar<kMax>(carry, x[i]);
    out[i] = PickScalar<kMax>(suffix[i], PickScalar<kMax>(extra, carry));
  }
  return carry;
}

}  // namespace
}  // namespace sluice::sliding_window_detail

namespace sluice {
// Defined in isa/avx2 and isa/avx512 (x86-64 builds only).
void SumGroupsAvx2(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups, WindowSums* sums,
                   const SumOutputs& outputs);
void SumGroupsAvx512(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups,
                     WindowSums* sums, const SumOutputs& outputs);
double ForwardMaxAvx512(const double* x, size_t n, double carry, double extra, const double* suffix, double* out,
                        bool stream, InputPrefetch* prefetch);
double ForwardMinAvx512(const double* x, size_t n, double carry, double extra, const double* suffix, double* out,
                        bool stream, InputPrefetch* prefetch);
double BackwardMaxAvx512(const double* x, size_t n, double carry, double* suffix);
double BackwardMinAvx512(const double* x, size_t n, double carry, double* suffix);
double ForwardMaxAvx2(const double* x, size_t n, double carry, double extra, const double* suffix, double* out,
                      bool stream, InputPrefetch* prefetch);
double ForwardMinAvx2(const double* x, size_t n, double carry, double extra, const double* suffix, double* out,
                      bool stream, InputPrefetch* prefetch);
void GatherAvx512(const double* source, size_t stride, size_t values, size_t count, double* out, size_t step);
bool CopyToRingAvx512(const double* source, size_t n, double* target);
bool CopyToRingAvx512(const float* source, size_t n, double* target);
bool CopyToRingAvx2(const double* source, size_t n, double* target);
bool CopyToRingAvx2(const float* source, size_t n, double* target);
double BackwardMaxAvx2(const double* x, size_t n, double carry, double* suffix);
double BackwardMinAvx2(const double* x, size_t n, double carry, double* suffix);
// Defined in isa/neon (aarch64 builds only).
void SumGroupsNeon(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups, WindowSums* sums,
                   const SumOutputs& outputs);
double ForwardMaxNeon(const double* x, size_t n, double carry, double extra, const double* suffix, double* out,
                      bool stream, InputPrefetch* prefetch);
double ForwardMinNeon(const double* x, size_t n, double carry, double extra, const double* suffix, double* out,
                      bool stream, InputPrefetch* prefetch);
double BackwardMaxNeon(const double* x, size_t n, double carry, double* suffix);
double BackwardMinNeon(const double* x, size_t n, double carry, double* suffix);
bool CopyToRingNeon(const double* source, size_t n, double* target);
bool CopyToRingNeon(const float* source, size_t n, double* target);
}  // namespace sluice

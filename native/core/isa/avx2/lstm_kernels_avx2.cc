// AVX2/FMA instantiation of the generic LSTM kernels (compiled with -mavx2 -mfma; only called when the CPU
// has them, see LstmKernelsFor).
#include <immintrin.h>

#include "lstm/lstm_kernels_impl.h"

namespace sluice {
namespace {

struct Avx2Ops {
  using V = __m256;
  static constexpr size_t kWidth = 8;
  static constexpr int kRows = 2;  // 2×4 accumulators + 4 weight vectors + 2 broadcasts of 16 registers
  static V Load(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V LowerHalf(V v) { return _mm256_blend_ps(v, _mm256_setzero_ps(), 0xF0); }
  static V UpperHalf(V v) { return _mm256_permute2f128_ps(v, v, 0x11); }
  static V Set1(float x) { return _mm256_set1_ps(x); }
  static V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V Add(V a, V b) { return _mm256_add_ps(a, b); }
  static V Sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V Recip(V b) {  // rcp (relative error < 1.5·2^-12) + one Newton step: r·(2 − b·r)
    const V r = _mm256_rcp_ps(b);
    return _mm256_mul_ps(r, _mm256_fnmadd_ps(b, r, _mm256_set1_ps(2.0f)));
  }
  static V Min(V a, V b) { return _mm256_min_ps(a, b); }
  static V Max(V a, V b) { return _mm256_max_ps(a, b); }
  static V ScaleByPow2(V y, V n) { return Mul(y, Pow2(n)); }
  static V Pow2(V n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
};

}  // namespace

const LstmKernels* LstmKernelsAvx2() {
  static const LstmKernels kernels = lstm_kernels_impl::MakeLstmKernels<Avx2Ops>(SimdLevel::kAvx2);
  return &kernels;
}

}  // namespace sluice

// AVX-512 instantiation of the generic LSTM kernels (compiled with -mavx512f…; only called when the CPU
// has AVX-512, see LstmKernelsFor).
// GCC 12 warns falsely about _mm512_undefined_* inside its own intrinsics headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "lstm/lstm_kernels_impl.h"

namespace sluice {
namespace {

struct Avx512Ops {
  using V = __m512;
  static constexpr size_t kWidth = 16;
  static constexpr int kRows = 6;  // 6×4 accumulators + 4 weight vectors + 1 broadcast of 32 registers
  static V Load(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V LowerHalf(V v) { return _mm512_maskz_mov_ps(0x00FF, v); }
  static V UpperHalf(V v) { return _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(3, 2, 3, 2)); }
  static V Set1(float x) { return _mm512_set1_ps(x); }
  static V Fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V Add(V a, V b) { return _mm512_add_ps(a, b); }
  static V Sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V Recip(V b) {  // rcp14 (relative error < 2^-14) + one Newton step: r·(2 − b·r)
    const V r = _mm512_rcp14_ps(b);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(b, r, _mm512_set1_ps(2.0f)));
  }
  static V Min(V a, V b) { return _mm512_min_ps(a, b); }
  static V Max(V a, V b) { return _mm512_max_ps(a, b); }
  static V ScaleByPow2(V y, V n) { return _mm512_scalef_ps(y, n); }  // one instruction: y·2^n
};

}  // namespace

const LstmKernels* LstmKernelsAvx512() {
  static const LstmKernels kernels = lstm_kernels_impl::MakeLstmKernels<Avx512Ops>(SimdLevel::kAvx512);
  return &kernels;
}

}  // namespace sluice

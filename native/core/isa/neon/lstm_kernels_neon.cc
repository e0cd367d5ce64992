// NEON (AArch64 Advanced SIMD) instantiation of the generic LSTM kernels. NEON is part of the AArch64 baseline,
// so this folder needs no extra compiler flags and the level is always available on arm64 (LstmKernelsFor).
#include <arm_neon.h>

#include "lstm/lstm_kernels_impl.h"

namespace sluice {
namespace {

struct NeonOps {
  using V = float32x4_t;
  static constexpr size_t kWidth = 4;
  static constexpr int kRows = 6;  // 6×4 accumulators + 4 weight vectors + 1 broadcast of 32 registers
  static V Load(const float* p) { return vld1q_f32(p); }
  static void Store(float* p, V v) { vst1q_f32(p, v); }
  static V LowerHalf(V v) { return vcombine_f32(vget_low_f32(v), vdup_n_f32(0.0f)); }
  static V UpperHalf(V v) { return vcombine_f32(vget_high_f32(v), vget_high_f32(v)); }
  static V Set1(float x) { return vdupq_n_f32(x); }
  static V Fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
  static V Add(V a, V b) { return vaddq_f32(a, b); }
  static V Sub(V a, V b) { return vsubq_f32(a, b); }
  static V Mul(V a, V b) { return vmulq_f32(a, b); }
  static V Recip(V b) {  // estimate (8 bits) + two Newton steps r·(2 − b·r), each vrecps computing (2 − b·r)
    V r = vrecpeq_f32(b);
    r = vmulq_f32(r, vrecpsq_f32(b, r));
    return vmulq_f32(r, vrecpsq_f32(b, r));
  }
  // vminq/vmaxq would return NaN for a NaN in either operand; the kernels' contract is x86's (the second
  // operand), kept here with a compare and select.
  static V Min(V a, V b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
  static V Max(V a, V b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
  static V ScaleByPow2(V y, V n) { return Mul(y, Pow2(n)); }
  static V Pow2(V n) {
    const int32x4_t e = vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
  }
};

}  // namespace

const LstmKernels* LstmKernelsNeon() {
  static const LstmKernels kernels = lstm_kernels_impl::MakeLstmKernels<NeonOps>(SimdLevel::kNeon);
  return &kernels;
}

}  // namespace sluice

// The portable instantiation of the LSTM kernels (plain C++ over 4-float lanes, which the compiler may map
// to SSE2 on x86-64 and to NEON on arm64; isa/neon has the hand-written NEON one), the run-time choice among the built ones, and weight packing.
#include "lstm/lstm_kernels.h"

#include <algorithm>
#include <cstring>

#include "lstm/lstm_kernels_impl.h"

namespace sluice {
namespace {

struct PortableOps {
  struct V {
    float v[4];
  };
  static constexpr size_t kWidth = 4;
  static constexpr int kRows = 2;
  template <class F>
  static V Map(V a, V b, F f) {
    V r;
    for (int l = 0; l < 4; ++l) r.v[l] = f(a.v[l], b.v[l]);
    return r;
  }
  static V Load(const float* p) {
    V r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static void Store(float* p, V v) { std::memcpy(p, v.v, sizeof v.v); }
  static V LowerHalf(V v) { return V{{v.v[0], v.v[1], 0.0f, 0.0f}}; }
  static V UpperHalf(V v) { return V{{v.v[2], v.v[3], v.v[2], v.v[3]}}; }
  static V Set1(float x) { return V{{x, x, x, x}}; }
  static V Fma(V a, V b, V c) {
    V r;
    for (int l = 0; l < 4; ++l) r.v[l] = a.v[l] * b.v[l] + c.v[l];  // std::fma would be a libm call here
    return r;
  }
  static V Add(V a, V b) { return Map(a, b, [](float x, float y) { return x + y; }); }
  static V Sub(V a, V b) { return Map(a, b, [](float x, float y) { return x - y; }); }
  static V Mul(V a, V b) { return Map(a, b, [](float x, float y) { return x * y; }); }
  static V Recip(V b) { return Map(Set1(1.0f), b, [](float x, float y) { return x / y; }); }
  static V Min(V a, V b) { return Map(a, b, [](float x, float y) { return x < y ? x : y; }); }
  static V Max(V a, V b) { return Map(a, b, [](float x, float y) { return x > y ? x : y; }); }
  static V ScaleByPow2(V y, V n) { return Mul(y, Pow2(n)); }
  static V Pow2(V n) {
    for (float& l : n.v) {
      if (!(l >= -127.0f && l <= 127.0f)) l = 0.0f;  // NaN: any scale will do (the mantissa is NaN already)
      const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(l) + 127) << 23;
      std::memcpy(&l, &bits, sizeof l);
    }
    return n;
  }
};

}  // namespace

const LstmKernels* LstmKernelsPortable() {
  static const LstmKernels kernels = lstm_kernels_impl::MakeLstmKernels<PortableOps>(SimdLevel::kPortable);
  return &kernels;
}

#if !defined(SLUICE_HAVE_X86_KERNELS)
const LstmKernels* LstmKernelsAvx2() { return nullptr; }
const LstmKernels* LstmKernelsAvx512() { return nullptr; }
#endif
#if !defined(SLUICE_HAVE_NEON_KERNELS)
const LstmKernels* LstmKernelsNeon() { return nullptr; }
#endif

const LstmKernels& LstmKernelsFor(SimdLevel level) {
  return WidestBuiltKernels(level, LstmKernelsPortable, LstmKernelsNeon, LstmKernelsAvx2, LstmKernelsAvx512);
}

void PackPanels(const float* w, size_t n, size_t k, size_t kPadded, size_t width, float* out) {
  const size_t nr = 4 * width, nPadded = RoundUp(n, nr);
  for (size_t c0 = 0; c0 < nPadded; c0 += nr)
    for (size_t kk = 0; kk < kPadded; ++kk)
      for (size_t c = 0; c < nr; ++c)
        out[c0 * kPadded + kk * nr + c] = (c0 + c < n && kk < k) ? w[(c0 + c) * k + kk] : 0.0f;
}

GatePanelPlan PlanGatePanels(size_t hidden, size_t width) {
  GatePanelPlan plan;
  plan.full = hidden / width;
  const size_t rest = hidden % width;
  if (rest > width / 2) ++plan.full;
  else plan.half = rest > 0;
  return plan;
}

GateSlot GateSlotOf(size_t gate, size_t unit, size_t hidden, size_t width) {
  const size_t p = unit / width, u = unit % width;
  const float scale = gate == 2 ? 2.0f : 1.0f;     // g doubled: tanh(g) = 2·σ(2g) − 1
  if (p == PlanGatePanels(hidden, width).full) {  // the half panel: (i | f), (g | o)
    return {p * 4 * width + (gate / 2) * width + (gate % 2) * (width / 2) + u, scale};
  }
  return {p * 4 * width + gate * width + u, scale};
}

void PackGatePanels(const float* w, size_t hidden, size_t k, size_t paddedHidden, size_t kPadded, size_t width,
                    float* out) {
  const size_t nr = 4 * width;
  std::fill_n(out, paddedHidden / width * kPadded * nr, 0.0f);
  for (size_t g = 0; g < 4; ++g)
    for (size_t unit = 0; unit < hidden; ++unit) {
      const GateSlot slot = GateSlotOf(g, unit, hidden, width);
      float* panel = out + slot.column / nr * kPadded * nr + slot.column % nr;
      for (size_t kk = 0; kk < k; ++kk) panel[kk * nr] = slot.scale * w[(g * hidden + unit) * k + kk];
    }
}

void AddGateBias(const float* b, size_t hidden, size_t width, float* out) {
  if (b == nullptr) return;
  for (size_t g = 0; g < 4; ++g)
    for (size_t unit = 0; unit < hidden; ++unit) {
      const GateSlot slot = GateSlotOf(g, unit, hidden, width);
      out[slot.column] += slot.scale * b[g * hidden + unit];
    }
}

}  // namespace sluice

// The LSTM's compute kernels, one generic implementation (lstm_kernels_impl.h) instantiated per
// instruction set: portable (here), NEON (isa/neon, aarch64), AVX2/FMA (isa/avx2) and AVX-512 (isa/avx512),
// picked at run time.
//
// Layout shared by the kernels and LstmModel (MLAS / oneDNN style):
// - Hidden vectors are padded to Hp = a multiple of kLstmHiddenPad units (zeros in the pad), the same on
//   every ISA, so per-key state and snapshots do not depend on the CPU.
// - Weights are packed in panels of 4·W columns (W = floats per SIMD register). For gate matrices, panel p
//   holds hidden units [p·W, p·W + W) of the four gates side by side (i, f, g, o), so one register tile of
//   the recurrent product holds every gate of W units and the activations run on it in registers.
// - g's weights and bias are packed doubled (exact), so one sigmoid serves all four gates:
//   tanh(g) = 2·σ(2g) − 1, the very operations a tanh of g would perform.
// - When the units after the last full panel fit in half a panel (H 24 at W 16: 16 + 8), that panel is a
//   half panel: W/2 units in 2 vectors, (i | f) and (g | o). It takes half the multiply-adds and 3 of the 5
//   activation vectors of a full panel. Panels past the units in use are left out (zeros).
//   GateSlotOf says where each weight goes; the layout stays inside LstmModel (ExportWeights inverts it).
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/cpu_features.h"

namespace sluice {

inline constexpr size_t kLstmHiddenPad = 16;

inline size_t RoundUp(size_t value, size_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// Row r of a matrix whose rows are scattered: j = r % inner, o = r / inner,
// row = base + o·outerStride + (keys ? keys[j] : j)·innerStride. Covers [steps][batch] and [batch][steps]
// inputs, slices of them, and per-key state rows, without building pointer arrays.
struct RowMap {
  float* base = nullptr;
  const uint32_t* keys = nullptr;
  size_t inner = SIZE_MAX;
  size_t outerStride = 0;
  size_t innerStride = 0;

  float* Row(size_t r) const {
    const size_t j = r % inner, o = r / inner;
    return base + o * outerStride + (keys ? keys[j] : j) * innerStride;
  }
};

// One recurrent step for `rows` sequences: gates = inputGates[r] + hPrev[r]·Whh, then
// c[r] = σ(f)·c[r] + σ(i)·tanh(g) and hOut[r] = σ(o)·tanh(c[r]), all Hp units. hOut must not alias hPrev
// or x.
// Fused form (packedWih set, for single steps): gates = bias + x[r]·Wih + hPrev[r]·Whh in one register tile,
// without writing the input projection to memory.
struct LstmStepArgs {
  size_t rows = 0;
  size_t paddedHidden = 0;
  // Units in use (≤ Hp; 0: all Hp). Whh's rows for the pad are zero, so the recurrent product stops here:
  // with H 24 (Hp 32) that is a quarter of its multiply-adds.
  size_t hidden = 0;
  const float* inputGates = nullptr;  // [rows][4·Hp], panel-interleaved, bias included
  const float* packedWhh = nullptr;   // [Hp/W panels][Hp][4W]
  RowMap hPrev, c, hOut;
  const float* packedWih = nullptr;   // fused form: [Hp/W panels][inputSize][4W]
  const float* bias = nullptr;        // fused form: [4·Hp], panel-interleaved
  size_t inputSize = 0;
  RowMap x;                           // fused form: the layer's inputs
};

struct LstmKernels {
  SimdLevel level;
  size_t width;         // W: floats per register; panels are 4·W columns wide
  size_t fmaProbeFlops; // floating-point operations per iteration of fmaProbe
  // out[r][0, n) = bias[0, n) + a[r][0, k) · B for r < rows. B packed by PackPanels / PackGatePanels with this
  // width: [nPadded / 4W panels][k][4W]; bias has nPadded entries.
  void (*gemm)(size_t rows, const RowMap& a, size_t k, const float* packedB, size_t nPadded, const float* bias,
               const RowMap& out, size_t n);
  void (*lstmStep)(const LstmStepArgs& args);
  // Independent FMA chains for `iterations` rounds (a peak-throughput probe for benchmarks); returns a sum
  // so the work cannot be optimised away.
  float (*fmaProbe)(size_t iterations);
};

// The kernels for `level`, or the widest built level below it.
const LstmKernels& LstmKernelsFor(SimdLevel level);

// The gate panels that hold `hidden` units at width W: `full` panels of W units, then a half panel of W/2
// units when the rest fits in one. Defined out of line (lstm_kernels.cc), so no ISA's code is shared.
struct GatePanelPlan {
  size_t full = 0;
  bool half = false;
  size_t Units(size_t width) const { return full * width + (half ? width / 2 : 0); }
  size_t Columns(size_t width) const { return (4 * full + (half ? 2 : 0)) * width; }  // of a packed gate row
};
GatePanelPlan PlanGatePanels(size_t hidden, size_t width);

// Where gate `gate` (0 i, 1 f, 2 g, 3 o) of hidden unit `unit` sits in a packed gate row (4·Hp columns,
// panel-interleaved), and the factor its weights and bias are packed with (2 for g in a half panel).
struct GateSlot {
  size_t column;
  float scale;
};
GateSlot GateSlotOf(size_t gate, size_t unit, size_t hidden, size_t width);

// Packs w [n][k] (row-major, y = w·x) into panels: out[p][kk][c] = w[p·4W + c][kk], zero beyond n (and
// beyond k up to kPadded). out has RoundUp(n, 4W) · kPadded floats.
void PackPanels(const float* w, size_t n, size_t k, size_t kPadded, size_t width, float* out);

// Packs a gate matrix w [4H][k] (gates i, f, g, o stacked) into Hp/W panels of [kPadded][4W]:
// out[p][kk][c] = scale · w[g·H + unit][kk] with (p·4W + c, scale) = GateSlotOf(g, unit), zero elsewhere.
void PackGatePanels(const float* w, size_t hidden, size_t k, size_t paddedHidden, size_t kPadded, size_t width,
                    float* out);
// The same permutation for a bias [4H] (b may be null: zeros); out has 4·Hp floats; adds into out.
void AddGateBias(const float* b, size_t hidden, size_t width, float* out);

// Per-ISA tables (defined in isa/*; null where the ISA is not built).
const LstmKernels* LstmKernelsPortable();
const LstmKernels* LstmKernelsNeon();
const LstmKernels* LstmKernelsAvx2();
const LstmKernels* LstmKernelsAvx512();

}  // namespace sluice

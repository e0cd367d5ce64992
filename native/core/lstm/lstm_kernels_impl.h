// The generic LSTM kernels, written once over an `Ops` type that wraps one instruction set's vector type
// (see lstm_kernels.cc, isa/avx2, isa/avx512). Every ISA file includes this header and instantiates
// MakeLstmKernels<ItsOps>() with an Ops type in an anonymous namespace, so each instantiation has internal
// linkage and no code compiled for a wide ISA can be picked by the linker for another file. For the same
// reason this header uses no std:: templates.
//
// Ops must provide: V, kWidth, kRows (register tile height), Load, Store, LowerHalf (lanes W/2 … W − 1 set
// to 0), UpperHalf (lanes W/2 … W − 1 moved to the first half), Set1, Fma(a, b, c) = a·b + c,
// Add, Sub, Mul, Min, Max (returning the second operand when one is NaN, as x86 does),
// ScaleByPow2(y, n) = y·2^n (integral n in [-127, 127]), Recip (1/x to about float32 rounding: the hardware
// estimate refined by a Newton step, far cheaper than a division).
#pragma once
#include <cstring>

#include "lstm/lstm_kernels.h"

namespace sluice {
namespace lstm_kernels_impl {

// rows[i] = m.Row(r0 + i) for i < n (RowMap::Row, repeated here with internal linkage: see above). One
// division per call, not two per row: the step kernel fills these for every row of every step.
template <class Ops, class Row>
inline void RowsAt(const RowMap& m, size_t r0, size_t n, Row* rows) {
  size_t j = r0 % m.inner, o = r0 / m.inner;
  for (size_t i = 0; i < n; ++i) {
    rows[i] = m.base + o * m.outerStride + (m.keys ? m.keys[j] : j) * m.innerStride;
    if (++j == m.inner) j = 0, ++o;
  }
}

// f(0) … f(N − 1), unrolled: the activations below apply each operation to N independent vectors before the
// next operation, so each vector's chain of about 20 dependent operations (exp, reciprocal) overlaps the
// others' instead of waiting on its own latency.
template <int N, class F>
inline void Each(F f) {
#pragma GCC unroll 64
  for (int j = 0; j < N; ++j) f(j);
}

// x[j] = σ(S·x[j]) = 1 / (1 + e^−S·x[j]) for j < N, S = 1 or 2 (tanh's σ(2x) with no multiply). e^−S·x =
// 2^n · e^−S·u with n = round(−S·x·log2 e) and u = x + n·ln2/S, |S·u| ≤ ln2/2; e^−S·u is a degree-6 polynomial
// (relative error 7e-8 in float32, as Cephes' expf whose degree-7 form it replaces), so 16 operations per
// vector instead of 20. ln2 is one float constant, not two parts: the FMA adds n·ln2 exactly, and the
// constant's own error (2e-9 relative) shifts e^−S·x by at most 2.4e-7 relative, only where |n| reaches 128
// (σ within 1e-38 of 0 or 1); for |S·x| < 10 it is below 3e-8.
template <class Ops, int N, int S = 1>
inline void SigmoidChunk(typename Ops::V* x) {
  static_assert(S == 1 || S == 2, "σ(x) or σ(2x)");
  using V = typename Ops::V;
  // Minimax fit of e^t − 1 on |t| ≤ ln2/2 by relative error, t = −S·u, written as coefficients of u.
  constexpr float kS = S, kS2 = kS * kS, kS3 = kS2 * kS;
  constexpr float c1 = -kS, c2 = 4.9999994040e-01f * kS2, c3 = -1.6666431725e-01f * kS3,
                  c4 = 4.1668001562e-02f * kS2 * kS2, c5 = -8.3741554990e-03f * kS3 * kS2,
                  c6 = 1.3843653724e-03f * kS3 * kS3;
  V n[N], p[N];
  // Clamp S·x to [−88.3, 87.3] (e^−S·x stays finite and 2^n in range), the constant first: x86 min/max
  // return their second operand when one is NaN, so NaN passes through (a NaN input must give a NaN output).
  Each<N>([&](int j) { x[j] = Ops::Min(Ops::Set1(87.3f / kS), Ops::Max(Ops::Set1(-88.3f / kS), x[j])); });
  // n rounded to nearest: adding 1.5·2^23 in the FMA leaves no fraction bits (|n| < 128 after the clamp);
  // one FMA and one subtraction instead of a multiply and a rounding instruction.
  const V kRound = Ops::Set1(12582912.0f);
  Each<N>([&](int j) { n[j] = Ops::Sub(Ops::Fma(x[j], Ops::Set1(-1.44269504088896341f * kS), kRound), kRound); });
  Each<N>([&](int j) { x[j] = Ops::Fma(n[j], Ops::Set1(0.693147180559945309f / kS), x[j]); });  // u
  Each<N>([&](int j) { p[j] = Ops::Fma(Ops::Set1(c6), x[j], Ops::Set1(c5)); });
  Each<N>([&](int j) { p[j] = Ops::Fma(p[j], x[j], Ops::Set1(c4)); });
  Each<N>([&](int j) { p[j] = Ops::Fma(p[j], x[j], Ops::Set1(c3)); });
  Each<N>([&](int j) { p[j] = Ops::Fma(p[j], x[j], Ops::Set1(c2)); });
  Each<N>([&](int j) { p[j] = Ops::Fma(p[j], x[j], Ops::Set1(c1)); });
  Each<N>([&](int j) { p[j] = Ops::Fma(p[j], x[j], Ops::Set1(1.0f)); });
  Each<N>([&](int j) { x[j] = Ops::Recip(Ops::Add(Ops::Set1(1.0f), Ops::ScaleByPow2(p[j], n[j]))); });
}

template <class Ops, int N, int S = 1>
inline void Sigmoid(typename Ops::V* x) {
  // At most 8 vectors at a time: with 2 temporaries each, more spill registers (measured on AVX-512 with
  // the former 3 temporaries: 8 vectors beat 4, 12 and all 24 of a tile).
  constexpr int kChunk = 8;
  if constexpr (N > kChunk) {
    SigmoidChunk<Ops, kChunk, S>(x);
    Sigmoid<Ops, N - kChunk, S>(x + kChunk);
  } else {
    SigmoidChunk<Ops, N, S>(x);
  }
}

// x[j] = tanh(x[j]) = 2·σ(2x[j]) − 1 for j < N: absolute error stays at float32 rounding level (what the
// LSTM needs).
template <class Ops, int N>
inline void Tanh(typename Ops::V* x) {
  Sigmoid<Ops, N, 2>(x);
  Each<N>([&](int j) { x[j] = Ops::Fma(Ops::Set1(2.0f), x[j], Ops::Set1(-1.0f)); });
}

// acc[r][v] += a[r][kk] · panel[kk][v·W …] over k0 ≤ kk < k1 and v < NV: the register-tile inner loop (R
// rows × NV vectors; each weight vector is used R times, each broadcast NV times). NV < 4 serves a last
// panel with fewer columns (a forecaster's head of 2 outputs reads one vector, not four).
template <class Ops, int R, int NV = 4>
inline void Accumulate(const float* const* a, size_t k0, size_t k1, const float* panel,
                       typename Ops::V (&acc)[R][4]) {
  constexpr size_t W = Ops::kWidth;
  for (size_t kk = k0; kk < k1; ++kk) {
    const float* b = panel + kk * 4 * W;
    typename Ops::V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = Ops::Load(b + v * W);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const typename Ops::V x = Ops::Set1(a[r][kk]);
      for (int v = 0; v < NV; ++v) acc[r][v] = Ops::Fma(x, bv[v], acc[r][v]);
    }
  }
}

// Tiles are grouped (kGroupTiles register tiles) and the loops run panel by panel within a group, so a
// panel of weights is read from L1 by every tile of the group instead of being streamed from L2 once per
// tile; long recurrent panels are split in blocks of kBlockK rows of k to fit L1. Neither changes the order
// of the additions for any output, so results do not depend on how rows are grouped.
inline constexpr size_t kGroupTiles = 8;
inline constexpr size_t kBlockK = 128;

// out[r][c0, c0 + NV·W) (only columns < n) = bias + a[r] · panel, for one panel of one register tile; NV < 4
// only for a last panel whose columns from c0 + NV·W on are all ≥ n.
template <class Ops, int R, int NV>
__attribute__((noinline)) void GemmTile(const float* const* a, size_t k, const float* panel, const float* bias,
                                        float* const* out, size_t c0, size_t n) {
  constexpr size_t W = Ops::kWidth, NR = NV * W;
  typename Ops::V acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = Ops::Load(bias + c0 + v * W);
  Accumulate<Ops, R, NV>(a, 0, k, panel, acc);
  if (c0 + NR <= n) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) Ops::Store(out[r] + c0 + v * W, acc[r][v]);
  } else {  // last, partial panel: store through a buffer, copy the valid columns
    alignas(64) float tail[NR];
    for (int r = 0; r < R; ++r) {
      for (int v = 0; v < NV; ++v) Ops::Store(tail + v * W, acc[r][v]);
      std::memcpy(out[r] + c0, tail, (n - c0) * sizeof(float));
    }
  }
}

// Row pointers of one register tile (or a group of tiles) in a step.
struct StepRows {
  const float* const* hPrev;
  const float* const* gates;  // null in the fused form
  const float* const* x;      // fused form only
  float* const* c;
  float* const* hOut;
};

// pre[r] (+)= hPrev[r][k0, k1) · Whh[k0, k1) for one panel (W units × 4 gates) of one register tile; the
// first block (k0 = 0) starts from gates[r], or in the fused form from bias + x[r]·Wih. Kept out of line so
// the activations' constants cannot crowd the accumulators out of registers. NV = 2: a half panel (its two
// vectors).
template <class Ops, int R, int NV>
__attribute__((noinline)) void TileProduct(const LstmStepArgs& s, const StepRows& rows, size_t p, size_t k0,
                                           size_t k1, float* pre) {
  constexpr size_t W = Ops::kWidth;
  typename Ops::V acc[R][4];
  if (k0 > 0) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = Ops::Load(pre + (r * 4 + v) * W);
  } else if (rows.gates) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = Ops::Load(rows.gates[r] + p * 4 * W + v * W);
  } else {
    for (int v = 0; v < NV; ++v) acc[0][v] = Ops::Load(s.bias + p * 4 * W + v * W);
    for (int r = 1; r < R; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = acc[0][v];
    Accumulate<Ops, R, NV>(rows.x, 0, s.inputSize, s.packedWih + p * s.inputSize * 4 * W, acc);
  }
  Accumulate<Ops, R, NV>(rows.hPrev, k0, k1, s.packedWhh + p * s.paddedHidden * 4 * W, acc);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) Ops::Store(pre + (r * 4 + v) * W, acc[r][v]);
}

// The activations and the cell update of one register tile and panel, from its gate pre-activations
// (g's packed doubled: tanh(g) = 2·σ(2g) − 1, so all four gates take one sigmoid over the tile's 4·R vectors).
template <class Ops, int R>
void TileActivate(const StepRows& rows, size_t p, const float* pre) {
  constexpr size_t W = Ops::kWidth;
  using V = typename Ops::V;
  V gate[R * 4], cell[R];
  Each<R * 4>([&](int j) { gate[j] = Ops::Load(pre + j * W); });
  Sigmoid<Ops, R * 4>(gate);
  Each<R>([&](int r) {
    const V g = Ops::Fma(Ops::Set1(2.0f), gate[r * 4 + 2], Ops::Set1(-1.0f));
    cell[r] = Ops::Fma(gate[r * 4 + 1], Ops::Load(rows.c[r] + p * W), Ops::Mul(gate[r * 4], g));
    Ops::Store(rows.c[r] + p * W, cell[r]);
  });
  Tanh<Ops, R>(cell);
  Each<R>([&](int r) { Ops::Store(rows.hOut[r] + p * W, Ops::Mul(gate[r * 4 + 3], cell[r])); });
}

// The same for a half panel of W/2 units: pre holds (i | f) and (2g | o) per row.
template <class Ops, int R>
void TileActivateHalf(const StepRows& rows, size_t p, const float* pre) {
  constexpr size_t W = Ops::kWidth;
  using V = typename Ops::V;
  V gate[R * 2], cell[R];
  Each<R>([&](int r) {
    gate[r * 2] = Ops::Load(pre + r * 4 * W);
    gate[r * 2 + 1] = Ops::Load(pre + r * 4 * W + W);
  });
  Sigmoid<Ops, R * 2>(gate);
  Each<R>([&](int r) {
    const V iF = gate[r * 2], gO = gate[r * 2 + 1];
    const V g = Ops::Fma(Ops::Set1(2.0f), gO, Ops::Set1(-1.0f));
    // Lanes from W/2 on would hold other gates' values: they are pad units, stored as 0 (what a panel of
    // zero weights would give them).
    cell[r] = Ops::LowerHalf(Ops::Fma(Ops::UpperHalf(iF), Ops::Load(rows.c[r] + p * W), Ops::Mul(iF, g)));
    Ops::Store(rows.c[r] + p * W, cell[r]);
  });
  Tanh<Ops, R>(cell);
  Each<R>([&](int r) { Ops::Store(rows.hOut[r] + p * W, Ops::Mul(Ops::LowerHalf(Ops::UpperHalf(gate[r * 2 + 1])), cell[r])); });
}

// Calls Tile<R>() for the tile height R = rows (1 ≤ rows ≤ kRows), so short tiles do no wasted work.
template <int R, template <int> class Tile, class... Args>
inline void DispatchRows(size_t rows, Args&&... args) {
  if constexpr (R > 1) {
    if (rows < static_cast<size_t>(R)) return DispatchRows<R - 1, Tile>(rows, args...);
  }
  Tile<R>::Run(args...);
}

template <class Ops>
struct Kernels {
  static constexpr int kRows = Ops::kRows;
  template <int NV>
  struct GemmTiles {
    template <int R>
    struct At {
      static void Run(const float* const* a, size_t k, const float* panel, const float* bias, float* const* out,
                      size_t c0, size_t n) {
        GemmTile<Ops, R, NV>(a, k, panel, bias, out, c0, n);
      }
    };
  };
  template <int NV>
  struct TileProducts {
    template <int R>
    struct At {
      static void Run(const LstmStepArgs& s, const StepRows& rows, size_t p, size_t k0, size_t k1, float* pre) {
        TileProduct<Ops, R, NV>(s, rows, p, k0, k1, pre);
      }
    };
  };
  template <int R>
  struct TileActivateAt {
    static void Run(const StepRows& rows, size_t p, const float* pre) { TileActivate<Ops, R>(rows, p, pre); }
  };
  template <int R>
  struct TileActivateHalfAt {
    static void Run(const StepRows& rows, size_t p, const float* pre) { TileActivateHalf<Ops, R>(rows, p, pre); }
  };

  static constexpr size_t kGroupRows = kGroupTiles * kRows;
  static size_t TileRows(size_t groupRows, size_t r0) {
    return groupRows - r0 < static_cast<size_t>(kRows) ? groupRows - r0 : kRows;
  }

  static void Gemm(size_t rows, const RowMap& a, size_t k, const float* packedB, size_t nPadded, const float* bias,
                   const RowMap& out, size_t n) {
    constexpr size_t NR = 4 * Ops::kWidth;
    const float* aRows[kGroupRows];
    float* outRows[kGroupRows];
    for (size_t g0 = 0; g0 < rows; g0 += kGroupRows) {
      const size_t groupRows = rows - g0 < kGroupRows ? rows - g0 : kGroupRows;
      RowsAt<Ops>(a, g0, groupRows, aRows);
      RowsAt<Ops>(out, g0, groupRows, outRows);
      for (size_t c0 = 0; c0 < nPadded && c0 < n; c0 += NR) {
        // Vectors of the panel that hold columns < n.
        const size_t vectors = n - c0 >= NR ? 4 : (n - c0 + Ops::kWidth - 1) / Ops::kWidth;
        for (size_t r0 = 0; r0 < groupRows; r0 += kRows) {
          const size_t tileRows = TileRows(groupRows, r0);
          const float* const* tileA = aRows + r0;
          float* const* tileOut = outRows + r0;
          const float* panel = packedB + c0 * k;
          switch (vectors) {
            case 1: DispatchRows<kRows, GemmTiles<1>::template At>(tileRows, tileA, k, panel, bias, tileOut, c0, n); break;
            case 2: DispatchRows<kRows, GemmTiles<2>::template At>(tileRows, tileA, k, panel, bias, tileOut, c0, n); break;
            case 3: DispatchRows<kRows, GemmTiles<3>::template At>(tileRows, tileA, k, panel, bias, tileOut, c0, n); break;
            default: DispatchRows<kRows, GemmTiles<4>::template At>(tileRows, tileA, k, panel, bias, tileOut, c0, n);
          }
        }
      }
    }
  }

  static void Step(const LstmStepArgs& s) {
    constexpr size_t W = Ops::kWidth;
    const bool fused = s.packedWih != nullptr;
    const float* hRows[kGroupRows];
    const float* gateRows[kGroupRows];
    const float* xRows[kGroupRows];
    float* cRows[kGroupRows];
    float* outRows[kGroupRows];
    alignas(64) float pre[kGroupRows * 4 * W];
    const GatePanelPlan plan = PlanGatePanels(s.hidden > 0 ? s.hidden : s.paddedHidden, W);
    const size_t unitsDone = (plan.full + (plan.half ? 1 : 0)) * W;  // a half panel writes its pad lanes too
    for (size_t g0 = 0; g0 < s.rows; g0 += kGroupRows) {
      const size_t groupRows = s.rows - g0 < kGroupRows ? s.rows - g0 : kGroupRows;
      RowsAt<Ops>(s.hPrev, g0, groupRows, hRows);
      if (fused) RowsAt<Ops>(s.x, g0, groupRows, xRows);
      else
        for (size_t r = 0; r < groupRows; ++r) gateRows[r] = s.inputGates + (g0 + r) * 4 * s.paddedHidden;
      RowsAt<Ops>(s.c, g0, groupRows, cRows);
      RowsAt<Ops>(s.hOut, g0, groupRows, outRows);
      auto tileRows = [&](size_t r0) {
        return StepRows{hRows + r0, fused ? nullptr : gateRows + r0, fused ? xRows + r0 : nullptr, cRows + r0,
                        outRows + r0};
      };
      const size_t k = s.hidden > 0 && s.hidden < s.paddedHidden ? s.hidden : s.paddedHidden;
      // Panel by panel; a last half panel takes the half-width product and activations.
      const size_t panels = plan.full + (plan.half ? 1 : 0);
      for (size_t p = 0; p < panels; ++p) {
        const bool half = p == plan.full;
        for (size_t k0 = 0; k0 < k; k0 += kBlockK) {
          const size_t k1 = k - k0 < kBlockK ? k : k0 + kBlockK;
          for (size_t r0 = 0; r0 < groupRows; r0 += kRows) {
            if (half) {
              DispatchRows<kRows, TileProducts<2>::template At>(TileRows(groupRows, r0), s, tileRows(r0), p, k0, k1,
                                                                pre + r0 * 4 * W);
            } else {
              DispatchRows<kRows, TileProducts<4>::template At>(TileRows(groupRows, r0), s, tileRows(r0), p, k0, k1,
                                                                pre + r0 * 4 * W);
            }
          }
        }
        for (size_t r0 = 0; r0 < groupRows; r0 += kRows) {
          const float* tilePre = pre + r0 * 4 * W;
          if (half) DispatchRows<kRows, TileActivateHalfAt>(TileRows(groupRows, r0), tileRows(r0), p, tilePre);
          else DispatchRows<kRows, TileActivateAt>(TileRows(groupRows, r0), tileRows(r0), p, tilePre);
        }
      }
      // Units past the panels in use: h is 0, as a panel of zero weights would give (c stays 0 there), so
      // the state, snapshots and the layer above read zeros.
      if (unitsDone < s.paddedHidden) {
        for (size_t r = 0; r < groupRows; ++r)
          std::memset(outRows[r] + unitsDone, 0, (s.paddedHidden - unitsDone) * sizeof(float));
      }
    }
  }

  static constexpr int kProbeChains = 12;
  static float FmaProbe(size_t iterations) {
    typename Ops::V acc[kProbeChains];
    for (int j = 0; j < kProbeChains; ++j) acc[j] = Ops::Set1(static_cast<float>(j) * 1e-3f);
    const typename Ops::V m = Ops::Set1(0.999999f), b = Ops::Set1(1e-7f);
    for (size_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
      for (int j = 0; j < kProbeChains; ++j) acc[j] = Ops::Fma(acc[j], m, b);
    }
    alignas(64) float lanes[Ops::kWidth];
    float sum = 0;
    for (int j = 0; j < kProbeChains; ++j) {
      Ops::Store(lanes, acc[j]);
      for (size_t l = 0; l < Ops::kWidth; ++l) sum += lanes[l];
    }
    return sum;
  }
};

template <class Ops>
LstmKernels MakeLstmKernels(SimdLevel level) {
  LstmKernels k{};
  k.level = level;
  k.width = Ops::kWidth;
  k.fmaProbeFlops = 2 * Ops::kWidth * Kernels<Ops>::kProbeChains;
  k.gemm = &Kernels<Ops>::Gemm;
  k.lstmStep = &Kernels<Ops>::Step;
  k.fmaProbe = &Kernels<Ops>::FmaProbe;
  return k;
}

}  // namespace lstm_kernels_impl
}  // namespace sluice

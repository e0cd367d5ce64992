// The generic LSTM training kernels, written once over a `Vec` type that names a GCC/Clang vector extension
// type of one instruction set's width (lstm_training_kernels.cc: 16 bytes, isa/avx2: 32, isa/avx512: 64).
// Each ISA file includes this header and takes its table from KernelsOf<bytes, rows>(), whose Vec type lives
// in an anonymous namespace, so every instantiation has internal linkage (no code compiled for a wide ISA
// can be picked by the linker for another file); for the same reason this header uses no std:: templates.
//
// Vec provides: V (float vector), VI (int32 vector of the same size), kRows (register tile height).
#pragma once
#include <cstdint>
#include <cstring>

#include "lstm/lstm_training_kernels.h"

namespace sluice {
namespace lstm_training_impl {

template <class Vec>
struct Ops {
  using V = typename Vec::V;
  using VI = typename Vec::VI;
  static constexpr size_t W = sizeof(V) / sizeof(float);
  static V Load(const float* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void Store(float* p, V v) { std::memcpy(p, &v, sizeof v); }
  static V Set1(float x) { return V{} + x; }
  static V Min(V a, V b) { return a < b ? a : b; }
  static V Max(V a, V b) { return a > b ? a : b; }

  // e^x to float32 accuracy (Cephes' expf: range reduction by ln 2 in two parts, degree-5 polynomial).
  static V Exp(V x) {
    x = Min(Max(x, Set1(-87.3f)), Set1(88.3f));
    V n = x * 1.44269504088896341f;
    n = (n + 12582912.0f) - 12582912.0f;  // round to nearest (|n| < 2^22)
    V r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    V p = Set1(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const V y = p * r * r + r + 1.0f;
    const VI e = (__builtin_convertvector(n, VI) + 127) << 23;
    return y * (V)e;  // the same bits as floats: 2^n
  }
  static V Sigmoid(V x) { return 1.0f / (1.0f + Exp(-x)); }
  static V Tanh(V x) { return 2.0f / (1.0f + Exp(x * -2.0f)) - 1.0f; }
};

// out rows r0 … r0+R, columns c0 … c0 + NV·W: one register tile of matMulAcc.
template <class Vec, int R, int NV>
void MatMulTile(size_t inner, const float* a, size_t aRowStride, size_t aInnerStride, const float* b, size_t ldb,
                float* out, size_t ldo) {
  using O = Ops<Vec>;
  using V = typename O::V;
  constexpr size_t W = O::W;
  V acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = O::Load(out + r * ldo + v * W);
  for (size_t i = 0; i < inner; ++i) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = O::Load(b + i * ldb + v * W);
    const float* ai = a + i * aInnerStride;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V x = O::Set1(ai[r * aRowStride]);
      for (int v = 0; v < NV; ++v) acc[r][v] = x * bv[v] + acc[r][v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) O::Store(out + r * ldo + v * W, acc[r][v]);
}

// The last rows (fewer than kRows) as one tile of exactly that height, so a short tile does no wasted work
// and still reuses each loaded weight vector for all its rows.
template <class Vec, int R, int NV>
void MatMulRemainder(size_t rows, size_t inner, const float* a, size_t aRowStride, size_t aInnerStride,
                     const float* b, size_t ldb, float* out, size_t ldo) {
  if constexpr (R >= 1) {
    if (rows == static_cast<size_t>(R)) return MatMulTile<Vec, R, NV>(inner, a, aRowStride, aInnerStride, b, ldb, out, ldo);
    MatMulRemainder<Vec, R - 1, NV>(rows, inner, a, aRowStride, aInnerStride, b, ldb, out, ldo);
  }
}

// Rows in tiles of kRows, then one shorter tile, for a fixed number of column vectors NV.
template <class Vec, int NV>
void MatMulColumns(size_t rows, size_t inner, const float* a, size_t aRowStride, size_t aInnerStride,
                   const float* b, size_t ldb, float* out, size_t ldo) {
  constexpr int R = Vec::kRows;
  size_t r = 0;
  for (; r + R <= rows; r += R)
    MatMulTile<Vec, R, NV>(inner, a + r * aRowStride, aRowStride, aInnerStride, b, ldb, out + r * ldo, ldo);
  MatMulRemainder<Vec, R - 1, NV>(rows - r, inner, a + r * aRowStride, aRowStride, aInnerStride, b, ldb,
                                  out + r * ldo, ldo);
}

template <class Vec>
void MatMulAcc(size_t rows, size_t inner, size_t n, const float* a, size_t aRowStride, size_t aInnerStride,
               const float* b, size_t ldb, float* out, size_t ldo) {
  constexpr size_t W = Ops<Vec>::W;
  size_t c = 0;
  for (; c + 4 * W <= n; c += 4 * W)
    MatMulColumns<Vec, 4>(rows, inner, a, aRowStride, aInnerStride, b + c, ldb, out + c, ldo);
  for (; c + W <= n; c += W)
    MatMulColumns<Vec, 1>(rows, inner, a, aRowStride, aInnerStride, b + c, ldb, out + c, ldo);
  for (; c < n; ++c) {  // the last n % W columns (a head with few outputs): plain loops
    for (size_t r = 0; r < rows; ++r) {
      float sum = out[r * ldo + c];
      for (size_t i = 0; i < inner; ++i) sum += a[r * aRowStride + i * aInnerStride] * b[i * ldb + c];
      out[r * ldo + c] = sum;
    }
  }
}

// Walks [0, hidden) in vectors of W units; the last, partial vector goes through zero-padded copies
// (`count` valid units), so hidden need not be a multiple of W.
template <class Vec>
struct UnitLoop {
  static constexpr size_t W = Ops<Vec>::W;
  // Loads `count` ≤ W floats (zeros beyond) / stores the first `count` lanes.
  static typename Ops<Vec>::V LoadPart(const float* p, size_t count) {
    if (count == W) return Ops<Vec>::Load(p);
    alignas(64) float tmp[W] = {};
    std::memcpy(tmp, p, count * sizeof(float));
    return Ops<Vec>::Load(tmp);
  }
  static void StorePart(float* p, typename Ops<Vec>::V v, size_t count) {
    if (count == W) return Ops<Vec>::Store(p, v);
    alignas(64) float tmp[W];
    Ops<Vec>::Store(tmp, v);
    std::memcpy(p, tmp, count * sizeof(float));
  }
  // Runs body(g4, s, j, count) for every row r < rows (g4: its gates, s: its state offset r·stateStride) and
  // every vector [j, j + count) of the units [0, hidden).
  template <class Body>
  static void ForEachVector(size_t rows, size_t hidden, float* gates, size_t gateStride, size_t stateStride,
                            Body&& body) {
    for (size_t r = 0; r < rows; ++r)
      for (size_t j = 0; j < hidden; j += W)
        body(gates + r * gateStride, r * stateStride, j, hidden - j < W ? hidden - j : W);
  }
};

template <class Vec>
void ForwardStep(size_t rows, size_t hidden, float* gates, size_t gateStride, const float* cPrev, float* c,
                 float* h, size_t stateStride) {
  using O = Ops<Vec>;
  using U = UnitLoop<Vec>;
  using V = typename O::V;
  const size_t H = hidden;
  U::ForEachVector(rows, H, gates, gateStride, stateStride, [&](float* g4, size_t s, size_t j, size_t n) {
    const float* cp = cPrev ? cPrev + s : nullptr;
    const V i = O::Sigmoid(U::LoadPart(g4 + j, n)), f = O::Sigmoid(U::LoadPart(g4 + H + j, n));
    const V g = O::Tanh(U::LoadPart(g4 + 2 * H + j, n)), o = O::Sigmoid(U::LoadPart(g4 + 3 * H + j, n));
    const V cell = cp ? f * U::LoadPart(cp + j, n) + i * g : i * g;
    U::StorePart(g4 + j, i, n);
    U::StorePart(g4 + H + j, f, n);
    U::StorePart(g4 + 2 * H + j, g, n);
    U::StorePart(g4 + 3 * H + j, o, n);
    U::StorePart(c + s + j, cell, n);
    U::StorePart(h + s + j, o * O::Tanh(cell), n);
  });
}

template <class Vec>
void BackwardStep(size_t rows, size_t hidden, float* gates, size_t gateStride, const float* cPrev, const float* c,
                  const float* dh, float* dc, size_t stateStride) {
  using O = Ops<Vec>;
  using U = UnitLoop<Vec>;
  using V = typename O::V;
  const size_t H = hidden;
  U::ForEachVector(rows, H, gates, gateStride, stateStride, [&](float* g4, size_t s, size_t j, size_t n) {
    const V i = U::LoadPart(g4 + j, n), f = U::LoadPart(g4 + H + j, n);
    const V g = U::LoadPart(g4 + 2 * H + j, n), o = U::LoadPart(g4 + 3 * H + j, n);
    const V dhv = U::LoadPart(dh + s + j, n);
    const V tc = O::Tanh(U::LoadPart(c + s + j, n));
    const V dcv = U::LoadPart(dc + s + j, n) + dhv * o * (1.0f - tc * tc);
    const V cp = cPrev ? U::LoadPart(cPrev + s + j, n) : O::Set1(0.0f);
    U::StorePart(g4 + j, dcv * g * i * (1.0f - i), n);
    U::StorePart(g4 + H + j, dcv * cp * f * (1.0f - f), n);
    U::StorePart(g4 + 2 * H + j, dcv * i * (1.0f - g * g), n);
    U::StorePart(g4 + 3 * H + j, dhv * tc * o * (1.0f - o), n);
    U::StorePart(dc + s + j, dcv * f, n);
  });
}

template <class Vec>
LstmTrainingKernels MakeLstmTrainingKernels(SimdLevel level) {
  LstmTrainingKernels k{};
  k.level = level;
  k.width = Ops<Vec>::W;
  k.matMulAcc = &MatMulAcc<Vec>;
  k.forwardStep = &ForwardStep<Vec>;
  k.backwardStep = &BackwardStep<Vec>;
  return k;
}

namespace {  // internal linkage per including file: see the top of this header

// The Vec of an instruction set whose registers hold `Bytes` bytes, with register tiles `Rows` rows high.
template <size_t Bytes, int Rows>
struct VecOf {
  typedef float V __attribute__((vector_size(Bytes)));
  typedef int32_t VI __attribute__((vector_size(Bytes)));
  static constexpr int kRows = Rows;
};

// The kernel table of that instruction set, built on first use.
template <size_t Bytes, int Rows>
const LstmTrainingKernels* KernelsOf(SimdLevel level) {
  static const LstmTrainingKernels kernels = MakeLstmTrainingKernels<VecOf<Bytes, Rows>>(level);
  return &kernels;
}

}  // namespace
}  // namespace lstm_training_impl
}  // namespace sluice

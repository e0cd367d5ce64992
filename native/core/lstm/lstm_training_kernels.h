// The LSTM training kernels (forward with saved activations, backward pass, weight gradients): one generic
// implementation (lstm_training_kernels_impl.h, written over GCC/Clang vector extensions) instantiated per
// instruction set like the inference kernels: portable (here), AVX2/FMA (isa/avx2), AVX-512 (isa/avx512),
// picked at run time from ActiveSimdLevel() (so SLUICE_SIMD selects them too).
//
// Unlike the inference kernels these work on unpadded, row-major matrices: training keeps its weights in
// two plain layouts (see lstm_training.h) and needs the gate activations in memory for the backward pass.
#pragma once
#include <cstddef>

#include "base/cpu_features.h"

namespace sluice {

struct LstmTrainingKernels {
  SimdLevel level;
  size_t width;  // floats per vector register
  // out[r·ldo + c] += Σ_i a[r·aRowStride + i·aInnerStride] · b[i·ldb + c] for r < rows, i < inner, c < n.
  // One kernel for every product of training: inputs × weights (aInnerStride 1), gradients × weights, and
  // the weight gradients Σ_m x[m]ᵀ·d[m] (rows = the weight's rows, aRowStride 1, aInnerStride = x's row).
  void (*matMulAcc)(size_t rows, size_t inner, size_t n, const float* a, size_t aRowStride, size_t aInnerStride,
                    const float* b, size_t ldb, float* out, size_t ldo);
  // One step's activations for `rows` rows: gates[r] = [4H] pre-activations (i, f, g, o) in, activations
  // out (σ(i), σ(f), tanh(g), σ(o)); c[r] = f·cPrev[r] + i·g (cPrev null: zeros); h[r] = o·tanh(c[r]).
  // Rows are `gateStride` / `stateStride` floats apart.
  void (*forwardStep)(size_t rows, size_t hidden, float* gates, size_t gateStride, const float* cPrev, float* c,
                      float* h, size_t stateStride);
  // The step's backward pass: from the saved activations (gates), cPrev (null: zeros), c, the gradient dh of
  // h and dc of c (in: from later steps; out: the gradient of cPrev), writes the gates' pre-activation
  // gradients over `gates`.
  void (*backwardStep)(size_t rows, size_t hidden, float* gates, size_t gateStride, const float* cPrev,
                       const float* c, const float* dh, float* dc, size_t stateStride);
};

// The kernels for `level`, or the widest built level below it.
const LstmTrainingKernels& LstmTrainingKernelsFor(SimdLevel level);

const LstmTrainingKernels* LstmTrainingKernelsPortable();
const LstmTrainingKernels* LstmTrainingKernelsNeon();
const LstmTrainingKernels* LstmTrainingKernelsAvx2();
const LstmTrainingKernels* LstmTrainingKernelsAvx512();

}  // namespace sluice

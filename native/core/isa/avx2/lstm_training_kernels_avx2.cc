// Avx2 instantiation of the generic LSTM training kernels (compiled with this folder's ISA flags; only
// called when the CPU has them, see LstmTrainingKernelsFor).
#include "lstm/lstm_training_kernels_impl.h"

namespace sluice {

// 32-byte registers; tiles of 2 rows: 2×4 accumulators + 4 weight vectors + a broadcast of 16 registers.
const LstmTrainingKernels* LstmTrainingKernelsAvx2() {
  return lstm_training_impl::KernelsOf<32, 2>(SimdLevel::kAvx2);
}

}  // namespace sluice

// Avx512 instantiation of the generic LSTM training kernels (compiled with this folder's ISA flags; only
// called when the CPU has them, see LstmTrainingKernelsFor).
#include "lstm/lstm_training_kernels_impl.h"

namespace sluice {

// 64-byte registers; tiles of 6 rows: 6×4 accumulators + 4 weight vectors + a broadcast fit the register file.
const LstmTrainingKernels* LstmTrainingKernelsAvx512() {
  return lstm_training_impl::KernelsOf<64, 6>(SimdLevel::kAvx512);
}

}  // namespace sluice

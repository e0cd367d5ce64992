// NEON instantiation of the generic LSTM training kernels (NEON is baseline on AArch64: no extra flags).
#include "lstm/lstm_training_kernels_impl.h"

namespace sluice {

// 16-byte registers, but 32 of them (the portable instance assumes x86-64's 16): tiles of 6 rows, 6×4
// accumulators + 4 weight vectors + a broadcast. Tile height does not change any output's order of additions.
const LstmTrainingKernels* LstmTrainingKernelsNeon() {
  return lstm_training_impl::KernelsOf<16, 6>(SimdLevel::kNeon);
}

}  // namespace sluice

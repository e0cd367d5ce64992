// Avx512 instantiation of the generic LSTM training kernels (compiled with this folder's ISA flags; only
// called when the CPU has them, see LstmTrainingKernelsFor).
#include "lstm/lstm_training_kernels_impl.h"

namespace sluice {
namespace {

struct Avx512Vec {
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t VI __attribute__((vector_size(64)));
  static constexpr int kRows = 6;  // 6×4 accumulators + 4 weight vectors + a broadcast fit the register file
};

}  // namespace

const LstmTrainingKernels* LstmTrainingKernelsAvx512() {
  static const LstmTrainingKernels kernels =
      lstm_training_impl::MakeLstmTrainingKernels<Avx512Vec>(SimdLevel::kAvx512);
  return &kernels;
}

}  // namespace sluice

// Avx2 instantiation of the generic LSTM training kernels (compiled with this folder's ISA flags; only
// called when the CPU has them, see LstmTrainingKernelsFor).
#include "lstm/lstm_training_kernels_impl.h"

namespace sluice {
namespace {

struct Avx2Vec {
  typedef float V __attribute__((vector_size(32)));
  typedef int32_t VI __attribute__((vector_size(32)));
  static constexpr int kRows = 2;  // 2×4 accumulators + 4 weight vectors + a broadcast of 16 registers
};

}  // namespace

const LstmTrainingKernels* LstmTrainingKernelsAvx2() {
  static const LstmTrainingKernels kernels =
      lstm_training_impl::MakeLstmTrainingKernels<Avx2Vec>(SimdLevel::kAvx2);
  return &kernels;
}

}  // namespace sluice

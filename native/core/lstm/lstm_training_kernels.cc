// The portable instantiation of the training kernels (16-byte vectors: SSE2 on x86-64, NEON on arm64) and
// the run-time choice among the built ones.
#include "lstm/lstm_training_kernels.h"

#include "lstm/lstm_training_kernels_impl.h"

namespace sluice {

// 16-byte registers; tiles of 2 rows: 2×4 accumulators + 4 weight vectors + a broadcast of 16 registers.
const LstmTrainingKernels* LstmTrainingKernelsPortable() {
  return lstm_training_impl::KernelsOf<16, 2>(SimdLevel::kPortable);
}

#if !defined(SLUICE_HAVE_X86_KERNELS)
const LstmTrainingKernels* LstmTrainingKernelsAvx2() { return nullptr; }
const LstmTrainingKernels* LstmTrainingKernelsAvx512() { return nullptr; }
#endif
#if !defined(SLUICE_HAVE_NEON_KERNELS)
const LstmTrainingKernels* LstmTrainingKernelsNeon() { return nullptr; }
#endif

const LstmTrainingKernels& LstmTrainingKernelsFor(SimdLevel level) {
  return WidestBuiltKernels(level, LstmTrainingKernelsPortable, LstmTrainingKernelsNeon, LstmTrainingKernelsAvx2,
                            LstmTrainingKernelsAvx512);
}

}  // namespace sluice

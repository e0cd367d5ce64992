// The portable instantiation of the training kernels (16-byte vectors: SSE2 on x86-64, NEON on arm64) and
// the run-time choice among the built ones.
#include "lstm/lstm_training_kernels.h"

#include "lstm/lstm_training_kernels_impl.h"

namespace sluice {
namespace {

struct PortableVec {
  typedef float V __attribute__((vector_size(16)));
  typedef int32_t VI __attribute__((vector_size(16)));
  static constexpr int kRows = 2;  // 2×4 accumulators + 4 weight vectors + a broadcast of 16 registers
};

}  // namespace

const LstmTrainingKernels* LstmTrainingKernelsPortable() {
  static const LstmTrainingKernels kernels =
      lstm_training_impl::MakeLstmTrainingKernels<PortableVec>(SimdLevel::kPortable);
  return &kernels;
}

#if !defined(SLUICE_HAVE_X86_KERNELS)
const LstmTrainingKernels* LstmTrainingKernelsAvx2() { return nullptr; }
const LstmTrainingKernels* LstmTrainingKernelsAvx512() { return nullptr; }
#endif

const LstmTrainingKernels& LstmTrainingKernelsFor(SimdLevel level) {
  const LstmTrainingKernels* chosen = nullptr;
  if (level == SimdLevel::kAvx512) chosen = LstmTrainingKernelsAvx512();
  if (!chosen && (level == SimdLevel::kAvx512 || level == SimdLevel::kAvx2)) chosen = LstmTrainingKernelsAvx2();
  return chosen ? *chosen : *LstmTrainingKernelsPortable();
}

}  // namespace sluice

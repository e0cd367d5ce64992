// Flush-to-zero for float math on the calling thread while in scope (x86: MXCSR's FTZ and DAZ bits; the
// previous mode comes back at the end of the scope, so JavaScript and other callers never see it).
// Why: a saturated LSTM gate (σ of a pre-activation below about −87) is a denormal float, and every x86
// multiply or add that reads or makes one takes a microcode assist of ~100 cycles; unscaled inputs of a
// streaming pipeline hit that on most rows (a step of H 24 took 1.5× as long). Values below 1.2e-38 become
// 0, as in oneDNN, MLAS and PyTorch's flush-denormal mode; other results are unchanged.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace sluice {

class ScopedFlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  ScopedFlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
  ~ScopedFlushDenormals() { _mm_setcsr(saved_); }
#else
  ScopedFlushDenormals() {}  // arm64 floats have no assist penalty for denormals worth a mode switch
#endif
  ScopedFlushDenormals(const ScopedFlushDenormals&) = delete;
  ScopedFlushDenormals& operator=(const ScopedFlushDenormals&) = delete;

 private:
#if defined(__x86_64__) || defined(__i386__)
  static constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
  unsigned saved_;
#endif
};

}  // namespace sluice

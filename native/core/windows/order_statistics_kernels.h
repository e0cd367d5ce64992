// The per-block kernels of OrderStatistics, one table per instruction set (portable in order_statistics.cc,
// AVX-512 in isa/avx512/), chosen at run time (base/cpu_features.h). Internal to order_statistics*.cc.
// A block holds `count` ascending values followed by +∞ up to its capacity (a multiple of 8); the pool keeps
// 8 readable doubles before the first block and after the last, so a kernel may read one value past either
// end of a block (and ignore it).
#pragma once
#include <cstddef>

namespace sluice {

struct OrderStatisticsKernels {
  // How many of x[0 … n) (n a multiple of 8, ascending then +∞) are < value / ≤ value.
  size_t (*countLess)(const double* x, size_t n, double value);
  size_t (*countLessEqual)(const double* x, size_t n, double value);
  // Moves block[at … count) up one slot and writes x at `at` (count < capacity, the block's size).
  void (*insertAt)(double* block, size_t capacity, size_t at, size_t count, double x);
  // Moves block(index … count) down one slot; block[count − 1] becomes +∞.
  void (*removeAt)(double* block, size_t capacity, size_t index, size_t count);
};

OrderStatisticsKernels OrderStatisticsKernelsFor(int simdLevel);
#if defined(SLUICE_HAVE_X86_KERNELS)
OrderStatisticsKernels OrderStatisticsKernelsAvx512();
#endif

}  // namespace sluice

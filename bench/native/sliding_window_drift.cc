// Drift over 10^8 rows: a count window of 1000 over values around 10^9 with a 10^17 spike early on; three
// windows of every later batch of 10^6 rows against a long double recomputation (worst relative error).
// Build and run from the repository root (the argument is the window's threads option):
//   cmake --build build --target sluice_core
//   g++ -O2 -std=c++17 -Inative/core bench/native/sliding_window_drift.cc build/native/core/libsluice_core.a -lpthread -o /tmp/drift
//   /tmp/drift 1 && /tmp/drift 2
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <random>
#include <vector>

#include "windows/sliding_window.h"

using namespace sluice;

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 1;
  std::mt19937_64 rng(5);
  const uint64_t size = 1000;
  SlidingWindowOptions o; o.size = size; o.aggregates = {Aggregate::kSum, Aggregate::kMean, Aggregate::kVar}; o.threads = threads;
  SlidingWindow window(o);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> batch(1000000), out(3 * 1000000);
  double worst[3] = {0, 0, 0};
  for (int b = 0; b < 100; ++b) {
    for (auto& x : batch) x = 1e9 + u(rng);
    if (b == 1) batch[5] = 1e17;
    window.Push(Span<const double>(batch.data(), batch.size()), Span<double>(out.data(), out.size()));
    if (b < 2) continue;
    for (size_t end : {size_t(999), size_t(400000), batch.size() - 1}) {  // a few windows wholly inside this batch
      if (end < size - 1) continue;
      long double sum = 0;
      for (size_t i = end + 1 - size; i <= end; ++i) sum += batch[i];
      const long double mean = sum / size;
      long double m2 = 0;
      for (size_t i = end + 1 - size; i <= end; ++i) m2 += (batch[i] - mean) * (batch[i] - mean);
      const long double want[3] = {sum, mean, m2 / (size - 1)};
      for (int k = 0; k < 3; ++k) worst[k] = std::max(worst[k], (double)std::fabs((out[3 * end + k] - want[k]) / want[k]));
    }
  }
  std::printf("threads %d: worst relative error over 10^8 rows: sum %.2e mean %.2e var %.2e\n", threads, worst[0], worst[1], worst[2]);
}

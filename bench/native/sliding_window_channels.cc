// SlidingWindow with several channels and aggregates: ns per result (fastest of 10 pushes of 10^5 rows),
// for 1–16 channels. Build and run from the repository root:
//   cmake --build build --target sluice_core
//   g++ -O2 -std=c++17 -Inative/core bench/native/sliding_window_channels.cc build/native/core/libsluice_core.a -lpthread -o /tmp/channels
//   /tmp/channels
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "windows/sliding_window.h"
using namespace sluice;
double Time(uint32_t channels, std::vector<Aggregate> aggs, size_t rows) {
  SlidingWindowOptions o; o.size = 1000; o.channels = channels; o.aggregates = aggs;
  SlidingWindow w(o);
  std::vector<double> in(rows * channels), out(rows * channels * aggs.size());
  for (size_t i = 0; i < in.size(); ++i) in[i] = 1e3 + (i * 2654435761u % 1000) / 1000.0;
  double best = 1e9;
  for (int r = 0; r < 10; ++r) {
    auto t = std::chrono::steady_clock::now();
    w.Push(Span<const double>(in.data(), in.size()), Span<double>(out.data(), out.size()));
    best = std::min(best, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t).count());
  }
  return best / (rows * channels * aggs.size());
}
int main() {
  for (uint32_t c : {1u, 2u, 4u, 8u, 16u})
    std::printf("channels %2u: mean %.2f ns/value, mean+max %.2f ns/result, all nine %.2f ns/result\n", c,
                Time(c, {Aggregate::kMean}, 100000), Time(c, {Aggregate::kMean, Aggregate::kMax}, 100000),
                Time(c, {Aggregate::kCount, Aggregate::kSum, Aggregate::kMean, Aggregate::kMin, Aggregate::kMax, Aggregate::kVar, Aggregate::kStd, Aggregate::kFirst, Aggregate::kLast}, 100000));
}

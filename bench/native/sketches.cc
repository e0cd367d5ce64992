// Sketch insert costs: DDSketch.Add (lognormal latencies, α = 0.01) and HyperLogLog.Add (10^6 distinct
// values, p = 14), ns per value, fastest of 7 passes over 10^6 values; and the cost of a query. Build and run
// from the repository root (after a core build, e.g. node scripts/test-core.js --no-sanitize):
//   g++ -O2 -std=c++17 -Inative/core bench/native/sketches.cc build/core-tests/libsluice_core.a -lpthread -o /tmp/sketches
//   /tmp/sketches
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "windows/dd_sketch.h"
#include "windows/hyper_log_log.h"

namespace {
template <typename F>
double FastestNs(int passes, F&& f) {
  double best = 1e300;
  for (int i = 0; i < passes; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}
}  // namespace

int main() {
  const size_t n = 1000000;
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> latency(3, 1.5);
  std::vector<double> values(n);
  for (auto& x : values) x = latency(rng);
  std::vector<double> distinct(n);
  for (size_t i = 0; i < n; ++i) distinct[i] = static_cast<double>(i) * 1.5 + 1e9;

  double sink = 0;
  const double dd = FastestNs(7, [&] {
    sluice::DDSketch sketch;
    for (double x : values) sketch.Add(x);
    sink += sketch.Quantile(0.99);
  });
  const double hll = FastestNs(7, [&] {
    sluice::HyperLogLog sketch;
    for (double x : distinct) sketch.Add(x);
    sink += sketch.Estimate();
  });
  sluice::DDSketch filled;
  for (double x : values) filled.Add(x);
  const double query = FastestNs(7, [&] { for (int i = 0; i < 1000; ++i) sink += filled.Quantile(0.5 + i * 1e-4); });
  sluice::HyperLogLog registers;
  for (double x : distinct) registers.Add(x);
  const double estimate = FastestNs(7, [&] { for (int i = 0; i < 100; ++i) sink += registers.Estimate(); });
  std::printf("DDSketch.Add (alpha 0.01, lognormal): %.2f ns/value (with one Quantile at the end)\n", dd / n);
  std::printf("HyperLogLog.Add (p 14, 10^6 distinct): %.2f ns/value (with one Estimate at the end)\n", hll / n);
  std::printf("DDSketch.Quantile over %zu buckets: %.0f ns; HyperLogLog.Estimate (2^14 registers): %.0f ns\n",
              filled.MemoryBytes() / 8, query / 1000, estimate / 100);
  return sink == 0.123 ? 1 : 0;
}

// RollingZScore (running statistics) against the two-pass reference of lib/windows/rolling_zscore.ts: the
// same scores to rounding over many ring wraps, with channels warming up at different times (NaN values),
// flagged values left out, and a level far from zero (where plain running sums of squares would cancel).
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tests/check.h"
#include "windows/rolling_zscore.h"

namespace {

// The reference: per channel, the ring's values summed in slot order, then the squared deviations.
struct ReferenceZScore {
  sluice::RollingZScoreOptions o;
  size_t C;
  std::vector<std::vector<double>> ring;
  std::vector<size_t> head, fill;
  ReferenceZScore(const sluice::RollingZScoreOptions& options, size_t channels)
      : o(options), C(channels), ring(channels, std::vector<double>(options.window)), head(channels), fill(channels) {}
  double Score(const double* v) {
    double score = -std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < C; ++c) {
      const size_t n = fill[c];
      if (n < o.warmup || std::isnan(v[c])) {
        score = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      double sum = 0, ss = 0;
      for (size_t i = 0; i < n; ++i) sum += ring[c][i];
      const double mean = sum / n;
      for (size_t i = 0; i < n; ++i) ss += (ring[c][i] - mean) * (ring[c][i] - mean);
      const double z = std::fabs(v[c] - mean) / std::fmax(std::sqrt(ss / (n - 1)), o.minStd);
      if (!(z <= score)) score = std::isnan(score) ? score : z;
    }
    if (!(score > o.threshold && o.excludeFlagged)) {
      for (size_t c = 0; c < C; ++c) {
        if (std::isnan(v[c])) continue;
        ring[c][head[c]] = v[c];
        head[c] = (head[c] + 1) % o.window;
        if (fill[c] < o.window) ++fill[c];
      }
    }
    return score;
  }
};

}  // namespace

SLUICE_TEST(RollingZScoreMatchesTheTwoPassReference) {
  sluice::RollingZScoreOptions options;
  options.window = 7;
  options.warmup = 3;
  options.threshold = 2.5;
  sluice::RollingZScore z(options, 2, 3);
  ReferenceZScore reference(options, 3);
  std::mt19937 rng(5);
  std::normal_distribution<double> normal(0, 1);
  size_t scored = 0;
  for (int i = 0; i < 20000; ++i) {
    double v[3] = {normal(rng), 100 + normal(rng) * 0.1, normal(rng) * 5};
    if (i % 11 == 0) v[1] = std::nan("");  // channel 1 lags behind the others
    const double got = z.ScoreAndUpdate(1, v), want = reference.Score(v);
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
    } else {
      CHECK_NEAR(got, want, 1e-9 * std::fmax(1.0, want));
      ++scored;
    }
  }
  CHECK(scored > 15000);
}

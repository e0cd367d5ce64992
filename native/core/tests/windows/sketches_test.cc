// The mergeable sketches: DDSketch quantiles within their relative accuracy of the exact order statistic,
// HyperLogLog distinct counts within their stated error, on uniform, lognormal and adversarial data; merges
// equal to one sketch over the same values; bad options refused with codes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tests/check.h"
#include "windows/dd_sketch.h"
#include "windows/hyper_log_log.h"

using namespace sluice;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kQuantiles[] = {0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1};

// Every quantile of `values` (no NaN) from a sketch of accuracy α is within α of the exact order statistic of
// rank ⌊q·(n − 1)⌋ (relative; a hair of rounding allowed in the bucket's value).
void CheckAccuracy(const std::vector<double>& values, double accuracy, const char* what) {
  // The default 2048 buckets span 15 decades only down to α ≈ 0.01; finer accuracy needs more of them.
  DDSketch sketch(accuracy, accuracy < 0.01 ? 1u << 16 : DDSketch::kDefaultMaxBuckets);
  for (double x : values) sketch.Add(x);
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  CHECK(!sketch.collapsed());
  for (double q : kQuantiles) {
    const double exact = sorted[static_cast<size_t>(std::floor(q * static_cast<double>(sorted.size() - 1)))];
    const double estimate = sketch.Quantile(q);
    if (std::isinf(exact) || exact == 0) {
      CHECK_EQ(estimate, exact);
      continue;
    }
    const double error = std::fabs(estimate - exact) / std::fabs(exact);
    if (!(error <= accuracy * (1 + 1e-9))) std::printf("%s q=%g: exact %.17g estimate %.17g (error %g)\n", what, q, exact, estimate, error);
    CHECK(error <= accuracy * (1 + 1e-9));
  }
}

std::vector<double> Uniform(std::mt19937_64& rng, size_t n, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

std::vector<double> Lognormal(std::mt19937_64& rng, size_t n, double mu, double sigma) {
  std::lognormal_distribution<double> d(mu, sigma);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace

SLUICE_TEST(dd_sketch_quantiles_are_within_the_relative_accuracy_on_uniform_lognormal_and_adversarial_data) {
  std::mt19937_64 rng(201);
  for (double accuracy : {0.01, 0.05, 0.001}) {
    CheckAccuracy(Uniform(rng, 100000, 0, 1000), accuracy, "uniform");
    CheckAccuracy(Uniform(rng, 50000, -500, 300), accuracy, "uniform with negatives");
    CheckAccuracy(Lognormal(rng, 100000, 3, 2), accuracy, "lognormal (heavy-tailed latencies)");
    CheckAccuracy(std::vector<double>(10000, 42.5), accuracy, "all equal");
    std::vector<double> alternating(20001);
    for (size_t i = 0; i < alternating.size(); ++i) alternating[i] = i % 2 ? 1e-6 : 1e9;
    CheckAccuracy(alternating, accuracy, "alternating extremes");
    for (size_t i = 0; i < alternating.size(); ++i) alternating[i] = i % 3 == 0 ? -1e9 : i % 3 == 1 ? 0.0 : 3e-7;
    CheckAccuracy(alternating, accuracy, "alternating signs and zero");
    std::vector<double> special = Lognormal(rng, 1000, 0, 1);
    for (size_t i = 0; i < 30; ++i) special[i * 7] = i % 2 ? kInf : -kInf;
    CheckAccuracy(special, accuracy, "with infinities");
  }
}

SLUICE_TEST(dd_sketch_skips_nan_and_counts_what_it_took) {
  DDSketch sketch;
  CHECK(std::isnan(sketch.Quantile(0.5)));
  for (double x : {kNaN, 3.0, kNaN, -2.0, 0.0, -0.0}) sketch.Add(x);
  CHECK_EQ(sketch.count(), 4.0);
  CHECK_EQ(sketch.Quantile(0), std::fabs(sketch.Quantile(0)) * -1);  // the −2 bucket, negative
  CHECK(std::fabs(sketch.Quantile(0) + 2) <= 0.02 * 2);
  CHECK_EQ(sketch.Quantile(0.5), 0.0);  // ranks 1 and 2 of 4 are the zeros; ⌊0.5·3⌋ = 1
  CHECK(std::fabs(sketch.Quantile(1) - 3) <= 0.02 * 3);
}

SLUICE_TEST(dd_sketch_merges_equal_one_sketch_over_the_same_values_also_when_collapsed) {
  std::mt19937_64 rng(203);
  for (int trial = 0; trial < 20; ++trial) {
    const uint32_t maxBuckets = trial % 2 ? 16 : DDSketch::kDefaultMaxBuckets;
    std::vector<double> values = Lognormal(rng, 5000, 0, trial % 3 == 0 ? 12 : 2);  // σ 12: collapses at 16 buckets
    for (size_t i = 0; i < values.size(); i += 11) values[i] = -values[i];
    DDSketch whole(0.01, maxBuckets);
    for (double x : values) whole.Add(x);
    std::vector<DDSketch> parts(2 + rng() % 6, DDSketch(0.01, maxBuckets));
    for (double x : values) parts[rng() % parts.size()].Add(x);
    DDSketch merged(0.01, maxBuckets);
    for (size_t i = parts.size(); i-- > 0;) merged.Merge(parts[i]);  // any order
    CHECK(merged == whole);
    if (maxBuckets == 16 && trial % 3 == 0) CHECK(whole.collapsed());
    for (double q : kQuantiles) CHECK_EQ(merged.Quantile(q), whole.Quantile(q));
  }
}

SLUICE_TEST(dd_sketch_bucket_bound_keeps_the_largest_magnitudes_accurate) {
  std::mt19937_64 rng(205);
  DDSketch sketch(0.01, 64);
  std::vector<double> values;
  for (int i = 0; i < 10000; ++i) values.push_back(std::pow(10.0, -10 + 20 * (i % 1000) / 1000.0));  // 20 decades
  for (double x : values) sketch.Add(x);
  CHECK(sketch.collapsed());
  CHECK(sketch.MemoryBytes() < 2048);
  std::sort(values.begin(), values.end());
  for (double q : {0.99, 0.999, 1.0}) {
    const double exact = values[static_cast<size_t>(std::floor(q * (values.size() - 1)))];
    CHECK(std::fabs(sketch.Quantile(q) - exact) <= 0.01 * exact * (1 + 1e-9));
  }
  CHECK(sketch.Quantile(0) > values.front());  // folded into the lowest kept bucket: overestimated
}

SLUICE_TEST(dd_sketch_refuses_bad_options) {
  CHECK_THROWS_CODE(DDSketch{0}, codes::kOutOfRange);
  CHECK_THROWS_CODE(DDSketch{1}, codes::kOutOfRange);
  CHECK_THROWS_CODE(DDSketch{-0.01}, codes::kOutOfRange);
  CHECK_THROWS_CODE(DDSketch{kNaN}, codes::kOutOfRange);
  CHECK_THROWS_CODE(DDSketch{1e-7}, codes::kOutOfRange);
  CHECK_THROWS_CODE((DDSketch{0.01, 8}), codes::kOutOfRange);
  DDSketch a(0.01), b(0.02);
  CHECK_THROWS_CODE(a.Merge(b), codes::kInvalidArgument);
  CHECK_THROWS_CODE(a.Quantile(1.5), codes::kOutOfRange);
  CHECK_THROWS_CODE(a.Quantile(kNaN), codes::kOutOfRange);
}

SLUICE_TEST(hyper_log_log_estimates_are_within_three_standard_errors_from_10_3_to_10_6_distinct_values) {
  for (uint32_t precision : {10u, 14u}) {
    for (int trial = 0; trial < 2; ++trial) {
      HyperLogLog sketch(precision);
      std::mt19937_64 rng(207 + trial);
      size_t added = 0;
      const double base = trial ? 1e12 : 0;  // small integers, and large ones
      for (size_t target : {size_t{1000}, size_t{10000}, size_t{100000}, size_t{1000000}}) {
        for (; added < target; ++added) {
          sketch.Add(base + static_cast<double>(added));
          if (added % 3 == 0) sketch.Add(base + static_cast<double>(rng() % (added + 1)));  // repeats change nothing
        }
        const double error = std::fabs(sketch.Estimate() / static_cast<double>(target) - 1);
        if (!(error <= 3 * sketch.StandardError())) std::printf("p=%u n=%zu: estimate %.1f\n", precision, target, sketch.Estimate());
        CHECK(error <= 3 * sketch.StandardError());
      }
    }
  }
}

SLUICE_TEST(hyper_log_log_adversarial_streams_and_nan) {
  HyperLogLog sketch;
  CHECK_EQ(sketch.Estimate(), 0.0);
  for (int i = 0; i < 100000; ++i) sketch.Add(42.0);
  CHECK(std::fabs(sketch.Estimate() - 1) < 0.01);
  for (int i = 0; i < 100000; ++i) sketch.Add(i % 2 ? -1e300 : 1e300);
  CHECK(std::fabs(sketch.Estimate() - 3) < 0.03);
  sketch.Add(kNaN);
  sketch.Add(0.0);
  sketch.Add(-0.0);  // one value with +0
  sketch.Add(kInf);
  CHECK(std::fabs(sketch.Estimate() - 5) < 0.05);
}

SLUICE_TEST(hyper_log_log_merges_equal_one_sketch_over_the_same_values) {
  std::mt19937_64 rng(209);
  HyperLogLog whole(12), merged(12);
  std::vector<HyperLogLog> parts(5, HyperLogLog(12));
  for (int i = 0; i < 200000; ++i) {
    const double x = static_cast<double>(rng() % 150000);
    whole.Add(x);
    parts[rng() % parts.size()].Add(x);
  }
  for (const HyperLogLog& part : parts) merged.Merge(part);
  CHECK(merged == whole);
  CHECK_EQ(merged.Estimate(), whole.Estimate());
  CHECK_THROWS_CODE(HyperLogLog{3}, codes::kOutOfRange);
  CHECK_THROWS_CODE(HyperLogLog{19}, codes::kOutOfRange);
  CHECK_THROWS_CODE(merged.Merge(HyperLogLog(14)), codes::kInvalidArgument);
}

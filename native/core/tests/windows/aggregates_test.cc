#include <cmath>
#include <random>

#include "windows/aggregates.h"
#include "tests/check.h"

using namespace sluice;

SLUICE_TEST(aggregate_names_round_trip) {
  for (int i = 0; i < kAggregateKinds; ++i) {
    Aggregate parsed;
    CHECK(ParseAggregate(AggregateName(static_cast<Aggregate>(i)), &parsed));
    CHECK(static_cast<int>(parsed) == i);
  }
  Aggregate unused;
  CHECK(!ParseAggregate("median", &unused));
}

SLUICE_TEST(accumulator_matches_two_pass_statistics_and_skips_nan) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(1e6, 3.0);  // a large offset stresses cancellation
  std::vector<double> values;
  Accumulator acc;
  for (int i = 0; i < 1000; ++i) {
    const double x = (i % 17 == 0) ? std::nan("") : normal(rng);
    acc.Add(x);
    if (!std::isnan(x)) values.push_back(x);
  }
  double sum = 0;
  for (double v : values) sum += v;
  const double mean = sum / values.size();
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  const Summary s = acc.ToSummary();
  CHECK_EQ(Finalize(Aggregate::kCount, s), static_cast<double>(values.size()));
  CHECK_NEAR(Finalize(Aggregate::kSum, s), sum, 1e-6);
  CHECK_NEAR(Finalize(Aggregate::kMean, s), mean, 1e-7);  // the naive reference itself rounds at ~1e-10 relative
  CHECK_NEAR(Finalize(Aggregate::kVar, s), ss / (values.size() - 1), 1e-6);
  CHECK_EQ(Finalize(Aggregate::kFirst, s), values.front());
  CHECK_EQ(Finalize(Aggregate::kLast, s), values.back());
}

SLUICE_TEST(accumulator_merge_equals_adding_in_order) {
  Accumulator whole, left, right;
  for (int i = 0; i < 50; ++i) {
    const double x = std::sin(i) * 10;
    whole.Add(x);
    (i < 20 ? left : right).Add(x);
  }
  left.Merge(right);
  const Summary a = whole.ToSummary(), b = left.ToSummary();
  for (int i = 0; i < kAggregateKinds; ++i) {
    const auto agg = static_cast<Aggregate>(i);
    CHECK_NEAR(Finalize(agg, a), Finalize(agg, b), 1e-9);
  }
  Accumulator empty;
  empty.Merge(Accumulator());
  CHECK_EQ(empty.count(), 0.0);
}

SLUICE_TEST(empty_and_single_value_windows_follow_the_nan_policy) {
  Accumulator acc;
  acc.Add(std::nan(""));
  Summary s = acc.ToSummary();
  CHECK_EQ(Finalize(Aggregate::kCount, s), 0.0);
  CHECK_EQ(Finalize(Aggregate::kSum, s), 0.0);
  for (Aggregate a : {Aggregate::kMean, Aggregate::kMin, Aggregate::kMax, Aggregate::kVar, Aggregate::kFirst, Aggregate::kLast})
    CHECK(std::isnan(Finalize(a, s)));
  acc.Add(4);
  s = acc.ToSummary();
  CHECK_EQ(Finalize(Aggregate::kMin, s), 4.0);
  CHECK(std::isnan(Finalize(Aggregate::kVar, s)));
  CHECK(std::isnan(Finalize(Aggregate::kStd, s)));
}

SLUICE_TEST(compensated_sum_does_not_drift_under_subtract_on_evict) {
  CompensatedSum sum;
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> uniform(-1e8, 1e8);
  std::vector<double> window(64);
  for (auto& v : window) { v = uniform(rng); sum.Add(v); }
  for (int i = 0; i < 2'000'000; ++i) {
    const double x = uniform(rng) * ((i & 1) ? 1e-8 : 1.0);
    sum.Add(-window[i % 64]);
    window[i % 64] = x;
    sum.Add(x);
  }
  long double exact = 0;
  for (double v : window) exact += v;
  CHECK_NEAR(sum.Value(), static_cast<double>(exact), 1e-6);
}

SLUICE_TEST(infinities_propagate_as_ieee_arithmetic_says) {
  Accumulator plus;
  for (double x : {1.0, std::numeric_limits<double>::infinity(), 2.0}) plus.Add(x);
  Summary s = plus.ToSummary();
  CHECK_EQ(Finalize(Aggregate::kSum, s), std::numeric_limits<double>::infinity());
  CHECK_EQ(Finalize(Aggregate::kMax, s), std::numeric_limits<double>::infinity());
  CHECK_EQ(Finalize(Aggregate::kMin, s), 1.0);
  CHECK(std::isnan(Finalize(Aggregate::kVar, s)));
  CHECK(std::isnan(Finalize(Aggregate::kStd, s)));
  Accumulator both;
  both.Add(std::numeric_limits<double>::infinity());
  both.Add(-std::numeric_limits<double>::infinity());
  CHECK(std::isnan(Finalize(Aggregate::kSum, both.ToSummary())));
  CompensatedSum sum;
  sum.Add(-std::numeric_limits<double>::infinity());
  sum.Add(1e300);
  CHECK_EQ(sum.Value(), -std::numeric_limits<double>::infinity());
}

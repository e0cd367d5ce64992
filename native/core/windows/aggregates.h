// The aggregates every window offers, their names, and the one place that turns accumulated statistics
// into results, so count windows, time windows and event-time windows agree to the last bit of policy.
//
// NaN policy: a NaN value is a missing value. It is skipped by every aggregate: `count` counts the
// non-NaN values, sum/mean/min/max/var/std/first/last use only non-NaN values. A window with no non-NaN
// value gives count 0, sum 0 and NaN for the others; var/std need two values (sample statistics, n − 1,
// as pandas' rolling().var()) and are NaN below that. ±Infinity are ordinary values (they propagate as
// IEEE arithmetic says).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sluice {

// kQuantile and kDistinct are not named kinds (ParseAggregate does not know them, kAggregateKinds does not
// count them). kQuantile is a quantile column whose q comes from the window's `quantiles` option: exact in
// SlidingWindow, a DDSketch estimate in EventTimeWindows. kDistinct (EventTimeWindows only) is a HyperLogLog
// estimate of the number of distinct values.
enum class Aggregate : uint8_t { kCount, kSum, kMean, kMin, kMax, kVar, kStd, kFirst, kLast, kQuantile, kDistinct };
inline constexpr int kAggregateKinds = 9;

const char* AggregateName(Aggregate aggregate);
bool ParseAggregate(const std::string& name, Aggregate* aggregate);
// The quantile names of count windows: p50, p90, p99, p999 (q = 0.5, 0.9, 0.99, 0.999).
bool ParseQuantileName(const std::string& name, double* q);

// The statistics of a set of values, from which any aggregate is finalised. `mean`/`m2` are Welford's
// running mean and sum of squared deviations; `sum` is compensated (Neumaier) by whoever fills it.
struct Summary {
  double count = 0;
  double sum = 0;
  double mean = 0;
  double m2 = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double first = std::numeric_limits<double>::quiet_NaN();
  double last = std::numeric_limits<double>::quiet_NaN();
};

// The value of `aggregate` for `s`, following the NaN policy above.
double Finalize(Aggregate aggregate, const Summary& s);

// Neumaier-compensated running sum: exact to ~1 ulp of the true sum after 10^8 terms, and invertible
// (Add(-x) undoes Add(x) up to rounding), so subtract-on-evict does not drift.
struct CompensatedSum {
  double sum = 0;
  double compensation = 0;

  void Add(double x) {
    const double t = sum + x;
    // Once the sum is ±Infinity or NaN the compensation term would be inf − inf = NaN: skip it, so an
    // infinite value gives an infinite sum (and +∞ plus −∞ gives NaN), as plain IEEE addition does.
    if (std::isfinite(t)) compensation += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  double Value() const { return std::isfinite(sum) ? sum + compensation : sum; }
};

// A mergeable accumulator of one channel's values (for panes and time windows): Add is O(1), Merge is
// O(1) (Chan et al.'s parallel update of mean and M2), both follow the NaN policy.
class Accumulator {
 public:
  void Add(double x) {
    if (std::isnan(x)) return;
    count_ += 1;
    sum_.Add(x);
    const double delta = x - mean_;
    mean_ += delta / count_;
    m2_ += delta * (x - mean_);
    if (x < min_) min_ = x;
    if (x > max_) max_ = x;
    if (count_ == 1) first_ = x;
    last_ = x;
  }

  // Appends `later`, whose values come after this one's (first/last depend on that order).
  void Merge(const Accumulator& later) {
    if (later.count_ == 0) return;
    if (count_ == 0) {
      *this = later;
      return;
    }
    const double n = count_ + later.count_;
    const double delta = later.mean_ - mean_;
    mean_ += delta * (later.count_ / n);
    m2_ += later.m2_ + delta * delta * (count_ * later.count_ / n);
    count_ = n;
    sum_.Add(later.sum_.sum);
    sum_.Add(later.sum_.compensation);
    if (later.min_ < min_) min_ = later.min_;
    if (later.max_ > max_) max_ = later.max_;
    last_ = later.last_;
  }

  Summary ToSummary() const {
    Summary s;
    s.count = count_;
    s.sum = sum_.Value();
    s.mean = mean_;
    s.m2 = m2_;
    s.min = min_;
    s.max = max_;
    s.first = first_;
    s.last = last_;
    return s;
  }

  double count() const { return count_; }

 private:
  double count_ = 0;
  CompensatedSum sum_;
  double mean_ = 0;
  double m2_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
  double first_ = std::numeric_limits<double>::quiet_NaN();
  double last_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace sluice

// DDSketch (Masson, Rim, Lee, "DDSketch: a fast and fully-mergeable quantile sketch with relative-error
// guarantees", VLDB 2019): quantiles of a stream with a relative-accuracy guarantee, mergeable exactly.
//
// With relative accuracy α (0 < α < 1, default 0.01) and γ = (1 + α)/(1 − α), a positive value x goes to
// bucket i = ⌈log_γ x⌉, which holds the values in (γ^(i−1), γ^i]; a bucket is read back as 2γ^i/(γ + 1), within
// a factor (1 ± α) of every value in it. Negative values go to a second store by |x|; zeros (and values of
// magnitude below 1e-300, which round to zero) are counted apart, as are +∞ and −∞. NaN is a missing value
// (skipped). Quantile(q) returns the estimate of the value of rank ⌊q·(n − 1)⌋ in sorted order (the lower
// of numpy's two neighbours): for every q it is within relative error α of that exact order statistic,
// unless the bucket bound below collapsed it.
//
// Bucket bound: each store keeps at most `maxBuckets` (default 2048) consecutive bucket counts. When a value
// would need more, the lowest buckets (values of smallest magnitude) are folded into the lowest kept one
// (DDSketch's collapsing-lowest store): quantiles among the largest magnitudes keep the guarantee, those in
// the folded range are overestimated (positive) or underestimated in magnitude (negative). With α = 0.01,
// 2048 buckets span a ratio γ^2048 ≈ 6·10^17 between the smallest and largest magnitude kept (1 ns to 19
// years in nanoseconds), so typical latency data never collapses. Memory: 8·(2·maxBuckets) bytes at most
// (16 KB per sketch at the default), allocated as the range grows.
//
// Merge adds bucket counts: the merged sketch equals the sketch of the union of the two streams, bucket for
// bucket (collapsing is a function of the highest index seen, so it commutes with merging). Insert is O(1)
// (one logarithm) unless the range grows; merge is O(buckets).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace sluice {

class SnapshotWriter;
class SnapshotReader;

class DDSketch {
 public:
  static constexpr double kDefaultAccuracy = 0.01;
  static constexpr uint32_t kDefaultMaxBuckets = 2048;
  static constexpr double kMinMagnitude = 1e-300;  // below: counted as zero

  // ERR_OUT_OF_RANGE unless 0 < accuracy < 1 and 16 ≤ maxBuckets ≤ 2^20.
  explicit DDSketch(double accuracy = kDefaultAccuracy, uint32_t maxBuckets = kDefaultMaxBuckets);

  void Add(double x) {
    if (x != x) return;  // NaN
    count_ += 1;
    const double magnitude = std::fabs(x);
    if (magnitude >= kMinMagnitude && magnitude <= std::numeric_limits<double>::max()) {
      // Inline for the common case, a bucket inside the store's range.
      Store& store = x > 0 ? positive_ : negative_;
      const int32_t index = Index(magnitude);
      const size_t at = static_cast<size_t>(static_cast<int64_t>(index) - store.offset);
      if (at < store.counts.size()) {
        store.counts[at] += 1;
        store.total += 1;
        return;
      }
      store.Add(index, 1, maxBuckets_);
      return;
    }
    AddZeroOrInfinity(x);
  }
  // Adds `other`'s values (ERR_INVALID_ARGUMENT if its accuracy or bucket bound differ).
  void Merge(const DDSketch& other);
  void Clear();

  // Values added (NaN excluded).
  double count() const { return count_; }
  // The q-quantile estimate (0 ≤ q ≤ 1, else ERR_OUT_OF_RANGE); NaN for an empty sketch.
  double Quantile(double q) const;

  double accuracy() const { return accuracy_; }
  uint32_t maxBuckets() const { return maxBuckets_; }
  // Whether some values were folded by the bucket bound (their quantiles lose the guarantee).
  bool collapsed() const { return positive_.collapsed || negative_.collapsed; }
  size_t MemoryBytes() const;
  bool operator==(const DDSketch& other) const;

  // Snapshots: the counts of both stores and the special values. Read replaces this sketch's contents
  // (keeping its accuracy and bucket bound) after checking them: counts whole and non-negative, each store's
  // total their sum, at most maxBuckets per store, bucket indices within those of the doubles' range, the
  // folding bound consistent, count the sum of all (ERR_MALFORMED_DATA naming the field otherwise).
  void Write(SnapshotWriter& w) const;
  void Read(SnapshotReader& r);

 private:
  // Counts of consecutive bucket indices [offset, offset + counts.size()).
  struct Store {
    std::vector<double> counts;
    int32_t offset = 0;
    double total = 0;
    bool collapsed = false;
    int32_t lowestKept = INT32_MIN;  // indices below it are folded into it (the bound, once reached)
    void Add(int32_t index, double count, uint32_t maxBuckets);
    void Clear();
    bool operator==(const Store& other) const;
  };
  int32_t Index(double magnitude) const {
    return static_cast<int32_t>(std::ceil(std::log(magnitude) * inverseLogGamma_));
  }
  void AddZeroOrInfinity(double x);
  double Value(int32_t index) const;  // the estimate of bucket `index`

  double accuracy_;
  uint32_t maxBuckets_;
  double gamma_;
  double inverseLogGamma_;
  Store positive_, negative_;
  double zero_ = 0, positiveInfinity_ = 0, negativeInfinity_ = 0;
  double count_ = 0;
};

}  // namespace sluice

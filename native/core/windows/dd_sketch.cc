#include "windows/dd_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.h"
#include "base/snapshot.h"

namespace sluice {

namespace {
constexpr int32_t kNoBound = std::numeric_limits<int32_t>::min();
}

DDSketch::DDSketch(double accuracy, uint32_t maxBuckets) : accuracy_(accuracy), maxBuckets_(maxBuckets) {
  // Below 1e-6 the bucket indices of the doubles' range would not fit 32 bits.
  Require(accuracy >= 1e-6 && accuracy < 1, codes::kOutOfRange, "accuracy must be in [1e-6, 1)");
  Require(maxBuckets >= 16 && maxBuckets <= (1u << 20), codes::kOutOfRange, "maxBuckets must be in [16, 2^20]");
  gamma_ = (1 + accuracy) / (1 - accuracy);
  inverseLogGamma_ = 1 / std::log(gamma_);
}

void DDSketch::Clear() {
  positive_.Clear();
  negative_.Clear();
  zero_ = positiveInfinity_ = negativeInfinity_ = count_ = 0;
}

void DDSketch::Store::Clear() {
  counts.clear();
  offset = 0;
  total = 0;
  collapsed = false;
  lowestKept = kNoBound;
}

double DDSketch::Value(int32_t index) const { return 2 * std::pow(gamma_, index) / (gamma_ + 1); }

void DDSketch::AddZeroOrInfinity(double x) {
  if (std::isinf(x)) {
    (x > 0 ? positiveInfinity_ : negativeInfinity_) += 1;
  } else {
    zero_ += 1;
  }
}

// Adds `count` at `index`, first widening the range to hold it; the lowest buckets fold into the lowest kept
// one when the range would exceed maxBuckets (and every later index below it folds there too).
void DDSketch::Store::Add(int32_t index, double count, uint32_t maxBuckets) {
  if (index < lowestKept) index = lowestKept;
  const int32_t highest = offset + static_cast<int32_t>(counts.size()) - 1;
  if (counts.empty() || index < offset || index > highest) {
    int64_t lo = counts.empty() ? index : std::min(index, offset);
    const int64_t hi = counts.empty() ? index : std::max(index, highest);
    if (hi - lo + 1 > static_cast<int64_t>(maxBuckets)) {
      lowestKept = static_cast<int32_t>(hi - maxBuckets + 1);
      lo = lowestKept;
      collapsed = true;
    }
    std::vector<double> next(static_cast<size_t>(hi - lo + 1), 0.0);
    for (size_t i = 0; i < counts.size(); ++i) {
      const int64_t at = std::max<int64_t>(offset + static_cast<int64_t>(i), lo);
      next[static_cast<size_t>(at - lo)] += counts[i];
    }
    counts = std::move(next);
    offset = static_cast<int32_t>(lo);
    if (index < offset) index = offset;
  }
  counts[static_cast<size_t>(index - offset)] += count;
  total += count;
}

void DDSketch::Merge(const DDSketch& other) {
  Require(other.accuracy_ == accuracy_ && other.maxBuckets_ == maxBuckets_, codes::kInvalidArgument,
          "only sketches of the same accuracy and bucket bound merge");
  for (auto [from, to] : {std::pair{&other.positive_, &positive_}, std::pair{&other.negative_, &negative_}}) {
    if (from->counts.empty()) continue;
    // Widen once to both ends, then add every bucket (its folding bound comes along).
    to->Add(from->offset + static_cast<int32_t>(from->counts.size()) - 1, 0, maxBuckets_);
    to->Add(from->offset, 0, maxBuckets_);
    if (from->collapsed) {
      // Its folded values lie below its lowest kept bucket, so the union reaches down that far: fold below
      // highest − maxBuckets + 1 (adding nothing one bucket below that bound sets it).
      to->Add(to->offset + static_cast<int32_t>(to->counts.size()) - 1 - static_cast<int32_t>(maxBuckets_), 0, maxBuckets_);
    }
    for (size_t i = 0; i < from->counts.size(); ++i) {
      if (from->counts[i] != 0) to->Add(from->offset + static_cast<int32_t>(i), from->counts[i], maxBuckets_);
    }
  }
  zero_ += other.zero_;
  positiveInfinity_ += other.positiveInfinity_;
  negativeInfinity_ += other.negativeInfinity_;
  count_ += other.count_;
}

double DDSketch::Quantile(double q) const {
  Require(q >= 0 && q <= 1, codes::kOutOfRange, "a quantile must be a number in [0, 1]");
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  const double rank = std::floor(q * (count_ - 1));
  // Ascending order: −∞, negatives from the largest magnitude down, zeros, positives up, +∞.
  double seen = negativeInfinity_;
  if (rank < seen) return -std::numeric_limits<double>::infinity();
  for (size_t i = negative_.counts.size(); i-- > 0;) {
    seen += negative_.counts[i];
    if (rank < seen) return -Value(negative_.offset + static_cast<int32_t>(i));
  }
  seen += zero_;
  if (rank < seen) return 0.0;
  for (size_t i = 0; i < positive_.counts.size(); ++i) {
    seen += positive_.counts[i];
    if (rank < seen) return Value(positive_.offset + static_cast<int32_t>(i));
  }
  return std::numeric_limits<double>::infinity();
}

size_t DDSketch::MemoryBytes() const {
  return sizeof(*this) + 8 * (positive_.counts.capacity() + negative_.counts.capacity());
}

// The same counts at the same indices (however each vector happens to be laid out) and the same bound.
bool DDSketch::Store::operator==(const Store& other) const {
  if (total != other.total || collapsed != other.collapsed || lowestKept != other.lowestKept) return false;
  auto at = [](const Store& s, int64_t index) {
    const int64_t i = index - s.offset;
    return i >= 0 && i < static_cast<int64_t>(s.counts.size()) ? s.counts[static_cast<size_t>(i)] : 0.0;
  };
  const int64_t lo = std::min<int64_t>(offset, other.offset);
  const int64_t hi = std::max<int64_t>(offset + static_cast<int64_t>(counts.size()),
                                       other.offset + static_cast<int64_t>(other.counts.size()));
  for (int64_t index = lo; index < hi; ++index) {
    if (at(*this, index) != at(other, index)) return false;
  }
  return true;
}

bool DDSketch::operator==(const DDSketch& other) const {
  return accuracy_ == other.accuracy_ && maxBuckets_ == other.maxBuckets_ && count_ == other.count_ &&
         zero_ == other.zero_ && positiveInfinity_ == other.positiveInfinity_ &&
         negativeInfinity_ == other.negativeInfinity_ && positive_ == other.positive_ && negative_ == other.negative_;
}

void DDSketch::Write(SnapshotWriter& w) const {
  for (const Store* store : {&positive_, &negative_}) {
    w.Put<int32_t>(store->offset);
    w.Put<int32_t>(store->lowestKept);
    w.Put<uint8_t>(store->collapsed ? 1 : 0);
    w.PutVector(store->counts);
  }
  for (double x : {zero_, positiveInfinity_, negativeInfinity_, count_}) w.Put<double>(x);
}

void DDSketch::Read(SnapshotReader& r) {
  // The bucket indices that values of magnitude kMinMagnitude … DBL_MAX map to.
  const int64_t lowest = Index(kMinMagnitude), highest = Index(std::numeric_limits<double>::max());
  Store stores[2];
  for (Store& store : stores) {
    store.offset = r.Get<int32_t>();
    store.lowestKept = r.Get<int32_t>();
    store.collapsed = r.GetField<uint8_t>("quantile sketch collapsed flag", [](uint8_t x) { return x <= 1; }) == 1;
    store.counts = r.GetVector<double>(maxBuckets_);
    store.total = 0;
    for (double count : store.counts) {
      CheckField(IsCount(count), "quantile sketch bucket count");
      store.total += count;
    }
    CheckField(IsCount(store.total), "quantile sketch bucket total");
    const int64_t last = int64_t{store.offset} + static_cast<int64_t>(store.counts.size()) - 1;
    CheckField(store.counts.empty() || (store.offset >= lowest && last <= highest), "quantile sketch bucket index");
    // Folding: a bound exactly when collapsed, and no bucket below it.
    CheckField(store.collapsed ? (store.lowestKept >= lowest && store.lowestKept <= highest && (store.counts.empty() || store.offset >= store.lowestKept))
                               : store.lowestKept == kNoBound,
               "quantile sketch folding bound");
  }
  double special[4];
  for (double& x : special) x = r.GetField<double>("quantile sketch count", [](double v) { return IsCount(v); });
  CheckField(special[3] == stores[0].total + stores[1].total + special[0] + special[1] + special[2], "quantile sketch count (the sum of its buckets)");
  positive_ = std::move(stores[0]);
  negative_ = std::move(stores[1]);
  zero_ = special[0];
  positiveInfinity_ = special[1];
  negativeInfinity_ = special[2];
  count_ = special[3];
}

}  // namespace sluice

// A sorted multiset of doubles with insert, erase and select-by-rank: the order-statistic structure behind
// SlidingWindow's exact quantiles.
//
// Layout: a list of sorted blocks of at most 2·load values (up to capacity 4096 one block that never splits,
// a flat sorted array; above, load is the power of two ≥ 4·√capacity, up to 16384),
// each block at least load/2 full when there are several (sortedcontainers' scheme: split a full block in
// two, merge a block that falls below load/2 with a neighbour, re-split if the pair is too large). Per
// block position the list keeps the block's largest value and its count, so an insert or erase finds its
// block among the maxima, moves at most 2·load values inside one block, and select walks the counts.
// Costs per operation: O(log(n/load) + load) for insert/erase, O(n/load) for select: O(√n) for load ∝ √n;
// a split or merge (at most one per load/2 operations) also shifts the O(n/load) entries of the list.
// No allocation after construction: the blocks come from a pool sized for `capacity` values.
//
// Values must not be NaN. −0.0 is stored as +0.0 (the two compare equal, so an erase could otherwise take
// the other one and make the stored zero depend on the order of operations). ±Infinity are ordinary values.
#pragma once
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace sluice {

class OrderStatistics {
 public:
  // Room for `capacity` values at once (≥ 1).
  explicit OrderStatistics(size_t capacity);

  void Insert(double x);
  // Removes one value equal to x, which must be held (else ERR_INVALID_STATE: a broken invariant).
  void Erase(double x);
  // Erase(old) then Insert(x), moving only the values between the two places when they share a block.
  void Replace(double old, double x);
  void Clear();
  size_t size() const { return size_; }
  // The value of rank `rank` (0-based, < size()) in ascending order.
  double Select(size_t rank) const;
  // Values of ascending ranks: out[i] = Select(ranks[i]) for ranks sorted ascending, in one walk.
  void SelectSorted(const size_t* ranks, size_t count, double* out) const;
  size_t MemoryBytes() const;
  size_t load() const { return load_; }

 private:
  size_t FindBlock(double x) const;  // the first position whose maximum is ≥ x, or the last position
  double* Block(size_t position) { return pool_.data() + static_cast<size_t>(ids_[position]) * blockCapacity_; }
  const double* Block(size_t position) const {
    return pool_.data() + static_cast<size_t>(ids_[position]) * blockCapacity_;
  }
  void InsertPosition(size_t position, uint32_t id, double max, uint32_t count);
  void RemovePosition(size_t position);
  void Split(size_t position);
  void Rebalance(size_t position);

  size_t load_;
  size_t blockCapacity_;          // 2·load (one block: capacity + 1)
  size_t size_ = 0;
  std::vector<double> pool_;      // [block id][blockCapacity_]
  std::vector<uint32_t> free_;    // unused block ids
  // Per block position, in value order:
  std::vector<uint32_t> ids_;
  std::vector<double> max_;
  std::vector<uint32_t> count_;
};

// The q-quantile (0 ≤ q ≤ 1) of n sorted values with linear interpolation between order statistics
// (numpy's and pandas' default, "type 7"): h = (n − 1)·q, the value at rank ⌊h⌋ plus (h − ⌊h⌋) times the
// step to the next rank. Equal neighbours give their value (so a window of +∞ gives +∞); an infinite
// neighbour gives that infinity, −∞ and +∞ as neighbours give NaN. `lowRank` and `fraction` come from
// QuantilePosition.
struct QuantilePosition {
  size_t lowRank = 0;
  double fraction = 0;  // 0: the value at lowRank alone
};
inline QuantilePosition QuantileAt(double q, size_t n) {
  const double h = static_cast<double>(n - 1) * q;
  QuantilePosition p;
  p.lowRank = static_cast<size_t>(h);
  if (p.lowRank >= n - 1) {
    p.lowRank = n - 1;
    return p;
  }
  p.fraction = h - static_cast<double>(p.lowRank);
  return p;
}

inline double Interpolate(double low, double high, double fraction) {
  if (fraction == 0 || low == high) return low;
  const bool lowInfinite = std::isinf(low), highInfinite = std::isinf(high);
  if (lowInfinite || highInfinite) {
    return lowInfinite && highInfinite ? std::numeric_limits<double>::quiet_NaN() : lowInfinite ? low : high;
  }
  const double step = high - low;
  // Two finite values whose difference overflows: weigh them instead (no overflow for fraction in (0, 1)).
  if (std::isinf(step)) return low * (1 - fraction) + high * fraction;
  return low + step * fraction;
}

}  // namespace sluice

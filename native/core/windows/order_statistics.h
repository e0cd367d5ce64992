// A sorted multiset of doubles with insert, erase, replace and select-by-rank: the order-statistic structure
// behind SlidingWindow's exact quantiles.
//
// Layout: a list of small sorted blocks of at most B values each (B = 32 up to capacity 4096, 64 up to 16384,
// larger above: BlockCapacityFor), in value order. Per block position the list keeps the block's largest value and its
// count in two flat arrays, so an operation finds its block by counting the maxima below the value, finds its
// place in the block the same way (blocks are padded with +∞, so the counts run over whole groups of 8 with no
// branch on the data), and moves fewer than B values. The counts and moves are kernels chosen at run time
// (order_statistics_kernels.h: SSE2-width vectors and memmove, or AVX-512 compares and blends).
// A replace (the erase and insert of one slide step) edits one block when both values fall in it, else two
// (never an erase and an insert as two full operations). A block that fills up is split in two halves; one
// that drops below B/4 values is merged with a neighbour, or, if the two would fill a block, shares their
// values evenly. Select sums the counts eight at a time up to the rank, then loads one value.
// Costs per operation: O(n/B + B) with small constants (at n = 1000: ≈ 45 maxima, < 32 values moved), where
// the flat sorted array this replaces moved ≈ n/3 values per replace (bench/native/order_statistics.cc).
// No allocation after construction: the blocks come from a pool sized for `capacity` values (every block
// but the only one holds ≥ B/4 values, so at most 4·capacity/B + 2 blocks exist: memory ≈ 4 doubles per
// value of capacity for large capacities, MemoryBytes()).
//
// Values must not be NaN. −0.0 is stored as +0.0 (the two compare equal, so an erase could otherwise take
// the other one and make the stored zero depend on the order of operations). ±Infinity are ordinary values.
// The values held, hence every Select, depend only on the multiset: never on the order of operations.
#pragma once
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "windows/order_statistics_kernels.h"

namespace sluice {

class OrderStatistics {
 public:
  // Room for `capacity` values at once (≥ 1). `blockCapacity` (≥ 4, a power of two) overrides the block size
  // chosen for `capacity`, for benchmarks and tests; 0 chooses it.
  explicit OrderStatistics(size_t capacity, size_t blockCapacity = 0);

  void Insert(double x);
  // Removes one value equal to x, which must be held (else ERR_INVALID_STATE: a broken invariant).
  void Erase(double x);
  // Erase(old) then Insert(x) in one pass (old must be held, as for Erase).
  void Replace(double old, double x);
  void Clear();
  size_t size() const { return size_; }
  // The value of rank `rank` (0-based, < size()) in ascending order.
  double Select(size_t rank) const;
  // Values of ascending ranks: out[i] = Select(ranks[i]) for ranks sorted ascending, in one walk.
  void SelectSorted(const size_t* ranks, size_t count, double* out) const;
  size_t MemoryBytes() const;
  size_t blockCapacity() const { return blockCapacity_; }
  // The block size chosen for a capacity (one block of capacity + 1 values below the default block size).
  static size_t BlockCapacityFor(size_t capacity);
  // The block kernels of another SIMD level (the widest built at or below it); results are the same.
  void SetSimdLevelForTesting(int simdLevel);

 private:
  size_t FindBlock(double x) const;  // the first position whose maximum is ≥ x, or the last position
  double* Block(size_t position) { return pool_.data() + kPoolPadding + static_cast<size_t>(ids_[position]) * blockCapacity_; }
  const double* Block(size_t position) const {
    return pool_.data() + kPoolPadding + static_cast<size_t>(ids_[position]) * blockCapacity_;
  }
  double* BlockOfId(uint32_t id) { return pool_.data() + kPoolPadding + static_cast<size_t>(id) * blockCapacity_; }
  // Where old is in block `position` (checked: ERR_INVALID_STATE if it is not there).
  size_t IndexOf(size_t position, double old) const;
  void InsertInto(size_t position, double x);           // no split
  void RemoveAt(size_t position, size_t index);          // no merge
  void SetMax(size_t position);
  void Pad(size_t position);  // +∞ in the block's slots past its count
  void InsertPosition(size_t position, uint32_t id);
  void RemovePosition(size_t position);
  bool SplitIfFull(size_t position);  // true if it split
  void MergeIfSparse(size_t position);

  static constexpr size_t kPoolPadding = 8;  // readable doubles before the first block and after the last
  OrderStatisticsKernels kernels_;
  size_t blockCapacity_;          // B: a block holding B values is split
  size_t minFill_;                // B/4: a block below it is merged (when there are several)
  size_t capacity_;
  size_t size_ = 0;
  size_t blocks_ = 0;             // positions in use (≥ 1: an empty set keeps one empty block)
  std::vector<double> pool_;      // padding, [block id][blockCapacity_], padding
  std::vector<uint32_t> free_;    // unused block ids: a stack of freeCount_
  size_t freeCount_ = 0;
  // Per block position, in value order (sized for the pool; the first blocks_ are in use):
  std::vector<uint32_t> ids_;
  std::vector<double> max_;       // +∞ for an empty block and past the last position (padding)
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

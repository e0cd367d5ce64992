#include "windows/order_statistics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/error.h"

namespace sluice {

namespace {
constexpr double kNegativeInfinity = -std::numeric_limits<double>::infinity();
// Blocks of 64 values: at n = 1000 (≈ 25 blocks) a replace then counts ≈ 25 maxima and ≤ 64 values and moves
// < 64; measured against 32 and 128 in bench/native/order_statistics.cc (docs/benchmarks.md).
constexpr size_t kSmallBlock = 64;
// Above this capacity the count walk of select over n/B blocks dominates, so blocks grow with √capacity.
constexpr size_t kSmallBlockMaxCapacity = 8192;
// Up to this many values, a position is counted with a loop the compiler vectorises (no dependent chain of
// loads); above, a binary search.
constexpr size_t kLinearSearchMax = 64;
// Select adds this many block counts at a time (a vectorised sum) before walking single blocks.
constexpr size_t kCountStride = 8;

// How many of the ascending x[0 … n) are < value (kStrict) or ≤ value, without branches on the data (over
// random values a branchy search mispredicts about every other step).
template <bool kStrict>
size_t CountBelow(const double* x, size_t n, double value) {
  if (n <= kLinearSearchMax) {
    int64_t count = 0;
    for (size_t i = 0; i < n; ++i) count += kStrict ? x[i] < value : x[i] <= value;
    return static_cast<size_t>(count);
  }
  const double* base = x;
  while (n > 1) {
    const size_t half = n / 2;
    // An index step times a comparison (0 or 1), so the compiler emits no branch for it.
    base += half * static_cast<size_t>(kStrict ? base[half - 1] < value : base[half - 1] <= value);
    n -= half;
  }
  return static_cast<size_t>(base - x) + (kStrict ? *base < value : *base <= value);
}
}  // namespace

size_t OrderStatistics::BlockCapacityFor(size_t capacity) {
  capacity = std::max<size_t>(capacity, 1);
  if (capacity < kSmallBlock) return capacity + 1;  // one block that never fills
  size_t block = kSmallBlock;
  if (capacity > kSmallBlockMaxCapacity) {
    while (block * block < 4 * capacity) block *= 2;
  }
  return block;
}

OrderStatistics::OrderStatistics(size_t capacity, size_t blockCapacity) {
  capacity = std::max<size_t>(capacity, 1);
  Require(blockCapacity == 0 || blockCapacity >= 4, codes::kInvalidArgument, "order statistics: blocks of < 4 values");
  blockCapacity_ = blockCapacity != 0 ? blockCapacity : BlockCapacityFor(capacity);
  minFill_ = blockCapacity_ / 4;
  capacity_ = capacity;
  // A set that cannot fill a block keeps one; else every block but the only one holds ≥ minFill values
  // between operations, and one operation splits at most one block before it merges another.
  const size_t blocks = capacity < blockCapacity_ ? 1 : capacity / minFill_ + 2;
  pool_.resize(blocks * blockCapacity_);
  free_.resize(blocks);
  ids_.resize(blocks);
  max_.resize(blocks);
  count_.resize(blocks);
  Clear();
}

void OrderStatistics::Clear() {
  size_ = 0;
  const size_t blocks = free_.size();
  for (size_t i = 0; i < blocks; ++i) free_[i] = static_cast<uint32_t>(blocks - 1 - i);
  freeCount_ = blocks - 1;  // block id 0 is the one empty block
  ids_[0] = 0;
  max_[0] = kNegativeInfinity;
  count_[0] = 0;
  blocks_ = 1;
}

size_t OrderStatistics::MemoryBytes() const {
  return sizeof(*this) + 8 * pool_.capacity() + 4 * free_.capacity() + 4 * ids_.capacity() + 8 * max_.capacity() +
         4 * count_.capacity();
}

size_t OrderStatistics::FindBlock(double x) const {
  // The first maximum ≥ x (the maxima ascend; an empty block is alone).
  return std::min(CountBelow<true>(max_.data(), blocks_, x), blocks_ - 1);
}

size_t OrderStatistics::IndexOf(size_t position, double old) const {
  const double* block = Block(position);
  const size_t count = count_[position];
  const size_t i = CountBelow<true>(block, count, old);
  Require(i < count && block[i] == old, codes::kInvalidState, "order statistics: erase of a value not held");
  return i;
}

void OrderStatistics::SetMax(size_t position) {
  const size_t count = count_[position];
  max_[position] = count != 0 ? Block(position)[count - 1] : kNegativeInfinity;
}

void OrderStatistics::InsertInto(size_t position, double x) {
  double* block = Block(position);
  const size_t count = count_[position];
  double* at = block + CountBelow<false>(block, count, x);
  std::memmove(at + 1, at, static_cast<size_t>(block + count - at) * sizeof(double));
  *at = x;
  count_[position] = static_cast<uint32_t>(count + 1);
  if (x > max_[position]) max_[position] = x;
}

void OrderStatistics::RemoveAt(size_t position, size_t index) {
  double* block = Block(position);
  const size_t count = count_[position];
  std::memmove(block + index, block + index + 1, (count - 1 - index) * sizeof(double));
  count_[position] = static_cast<uint32_t>(count - 1);
  SetMax(position);
}

void OrderStatistics::InsertPosition(size_t position, uint32_t id) {
  const size_t after = blocks_ - position;
  std::memmove(&ids_[position + 1], &ids_[position], after * sizeof(uint32_t));
  std::memmove(&max_[position + 1], &max_[position], after * sizeof(double));
  std::memmove(&count_[position + 1], &count_[position], after * sizeof(uint32_t));
  ids_[position] = id;
  ++blocks_;
}

void OrderStatistics::RemovePosition(size_t position) {
  free_[freeCount_++] = ids_[position];
  const size_t after = blocks_ - position - 1;
  std::memmove(&ids_[position], &ids_[position + 1], after * sizeof(uint32_t));
  std::memmove(&max_[position], &max_[position + 1], after * sizeof(double));
  std::memmove(&count_[position], &count_[position + 1], after * sizeof(uint32_t));
  --blocks_;
}

void OrderStatistics::Insert(double x) {
  x += 0.0;  // −0.0 → +0.0
  Require(size_ < capacity_, codes::kInvalidState, "order statistics: insert beyond the capacity");
  const size_t position = FindBlock(x);
  InsertInto(position, x);
  ++size_;
  SplitIfFull(position);
}

void OrderStatistics::Erase(double x) {
  x += 0.0;
  const size_t position = FindBlock(x);
  RemoveAt(position, IndexOf(position, x));
  --size_;
  MergeIfSparse(position);
}

void OrderStatistics::Replace(double old, double x) {
  old += 0.0;
  x += 0.0;
  if (old == x) return;
  const size_t from = FindBlock(old), to = FindBlock(x);
  const size_t i = IndexOf(from, old);  // checked before anything changes
  if (from != to) {
    // Erasing old changes no maximum that decides x's block (positions before `to` have maxima < x, and
    // `to`'s own is ≥ x or it is the last): the two block edits are independent.
    RemoveAt(from, i);
    InsertInto(to, x);
    // The split (if any) shifts the positions after `to` by one; `from` then keeps the rest of the invariant.
    const bool split = SplitIfFull(to);
    MergeIfSparse(split && from > to ? from + 1 : from);
    return;
  }
  // Both in one block: shift the values between their places by one.
  double* block = Block(from);
  const size_t count = count_[from];
  const size_t j = CountBelow<false>(block, count, x);  // where x goes, counting old
  if (j > i) {
    std::memmove(block + i, block + i + 1, (j - 1 - i) * sizeof(double));
    block[j - 1] = x;
  } else {
    std::memmove(block + j + 1, block + j, (i - j) * sizeof(double));
    block[j] = x;
  }
  max_[from] = block[count - 1];
}

// A full block becomes two of B/2 values each.
bool OrderStatistics::SplitIfFull(size_t position) {
  if (count_[position] < blockCapacity_) return false;
  const uint32_t id = free_[--freeCount_];
  const size_t half = blockCapacity_ / 2;
  double* low = Block(position);
  std::memcpy(pool_.data() + static_cast<size_t>(id) * blockCapacity_, low + half,
              (blockCapacity_ - half) * sizeof(double));
  InsertPosition(position + 1, id);
  count_[position] = static_cast<uint32_t>(half);
  count_[position + 1] = static_cast<uint32_t>(blockCapacity_ - half);
  max_[position + 1] = max_[position];
  max_[position] = low[half - 1];
  return true;
}

// A block below B/4 values (when there are several) is merged with a neighbour (the next one, or the previous
// one for the last block); if the pair would fill a block, they share their values evenly instead (each then
// holds ≥ B/2).
void OrderStatistics::MergeIfSparse(size_t position) {
  if (blocks_ == 1 || count_[position] >= minFill_) return;
  const size_t left = position + 1 < blocks_ ? position : position - 1, right = left + 1;
  double* a = Block(left);
  double* b = Block(right);
  const size_t na = count_[left], nb = count_[right], total = na + nb;
  if (total < blockCapacity_) {
    std::memcpy(a + na, b, nb * sizeof(double));
    count_[left] = static_cast<uint32_t>(total);
    RemovePosition(right);
    SetMax(left);
    return;
  }
  const size_t keep = total / 2;  // values the left block ends with
  if (na < keep) {
    const size_t move = keep - na;
    std::memcpy(a + na, b, move * sizeof(double));
    std::memmove(b, b + move, (nb - move) * sizeof(double));
  } else {
    const size_t move = na - keep;
    std::memmove(b + move, b, nb * sizeof(double));
    std::memcpy(b, a + keep, move * sizeof(double));
  }
  count_[left] = static_cast<uint32_t>(keep);
  count_[right] = static_cast<uint32_t>(total - keep);
  SetMax(left);
  SetMax(right);
}

double OrderStatistics::Select(size_t rank) const {
  double value;
  SelectSorted(&rank, 1, &value);
  return value;
}

void OrderStatistics::SelectSorted(const size_t* ranks, size_t count, double* out) const {
  size_t position = 0, before = 0;  // values in the blocks before `position`
  const uint32_t* counts = count_.data();
  for (size_t i = 0; i < count; ++i) {
    const size_t rank = ranks[i];
    Require(rank < size_, codes::kInvalidState, "order statistics: rank out of range");
    while (position + kCountStride <= blocks_) {
      uint32_t stride = 0;
      for (size_t k = 0; k < kCountStride; ++k) stride += counts[position + k];
      if (rank < before + stride) break;
      before += stride;
      position += kCountStride;
    }
    while (rank >= before + counts[position]) before += counts[position++];
    out[i] = Block(position)[rank - before];
  }
}

}  // namespace sluice

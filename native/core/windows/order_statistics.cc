#include "windows/order_statistics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/cpu_features.h"
#include "base/error.h"

namespace sluice {

namespace {
constexpr double kInfinity = std::numeric_limits<double>::infinity();
// Blocks of 32 values up to capacity 4096, 64 up to 16384, then the power of two ≥ √capacity / 2 (256 at
// 10^5): the fastest of 32 … 1024 at sizes 100, 1000, 10^4 and 10^5 in bench/native/order_statistics.cc
// (a replace counts a block's values and the maxima, ≈ n/B of them; select walks the counts).
constexpr size_t kSmallBlock = 32;
constexpr size_t kSmallBlockMaxCapacity = 4096;
constexpr size_t kMediumBlock = 64;
constexpr size_t kMediumBlockMaxCapacity = 16384;
// Counts run over whole groups of this many values (the padding makes that exact).
constexpr size_t kGroup = 8;
// Up to this many block positions their maxima are counted in full; above, a binary search.
constexpr size_t kLinearMaximaMax = 256;
// Select adds this many block counts at a time (a vectorised sum) before walking single blocks.
constexpr size_t kCountStride = 8;

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Two lanes of GCC/Clang vector extensions: SSE2 on any x86-64, NEON on arm64. A comparison gives −1 per
// true lane, so subtracting masks counts.
typedef double Double2 __attribute__((vector_size(16)));
typedef int64_t Int2 __attribute__((vector_size(16)));

// How many of x[0 … n) (n a multiple of kGroup) are < value (kStrict) or ≤ value, for x ascending and
// padded with +∞: a fixed number of vector comparisons, no branch on the data (over random values a search
// mispredicts every other step, and a scalar loop's exit at a varying count once per call).
template <bool kStrict>
size_t CountBelow(const double* x, size_t n, double value) {
  const Double2 v = {value, value};
  Int2 c0 = {0, 0}, c1 = c0, c2 = c0, c3 = c0;
  for (size_t i = 0; i < n; i += kGroup) {
    Double2 a, b, c, d;
    std::memcpy(&a, x + i, 16);
    std::memcpy(&b, x + i + 2, 16);
    std::memcpy(&c, x + i + 4, 16);
    std::memcpy(&d, x + i + 6, 16);
    if constexpr (kStrict) {
      c0 -= a < v; c1 -= b < v; c2 -= c < v; c3 -= d < v;
    } else {
      c0 -= a <= v; c1 -= b <= v; c2 -= c <= v; c3 -= d <= v;
    }
  }
  const Int2 sum = (c0 + c1) + (c2 + c3);
  return static_cast<size_t>(sum[0] + sum[1]);
}

void InsertAtPortable(double* block, size_t, size_t at, size_t count, double x) {
  std::memmove(block + at + 1, block + at, (count - at) * sizeof(double));  // into the first padding slot
  block[at] = x;
}

void RemoveAtPortable(double* block, size_t, size_t index, size_t count) {
  std::memmove(block + index, block + index + 1, (count - 1 - index) * sizeof(double));
  block[count - 1] = kInfinity;
}

// The same count over a long ascending array by a branch-free binary search.
size_t CountBelowSearch(const double* x, size_t n, double value) {
  const double* base = x;
  while (n > 1) {
    const size_t half = n / 2;
    // An index step times a comparison (0 or 1), so the compiler emits no branch for it.
    base += half * static_cast<size_t>(base[half - 1] < value);
    n -= half;
  }
  return static_cast<size_t>(base - x) + (*base < value);
}
}  // namespace

OrderStatisticsKernels OrderStatisticsKernelsFor(int simdLevel) {
#if defined(SLUICE_HAVE_X86_KERNELS)
  if (simdLevel >= static_cast<int>(SimdLevel::kAvx512)) return OrderStatisticsKernelsAvx512();
#endif
  (void)simdLevel;
  return {&CountBelow<true>, &CountBelow<false>, &InsertAtPortable, &RemoveAtPortable};
}

size_t OrderStatistics::BlockCapacityFor(size_t capacity) {
  capacity = std::max<size_t>(capacity, 1);
  if (capacity < kSmallBlock) return RoundUp(capacity + 1, kGroup);  // one block that never fills
  if (capacity <= kSmallBlockMaxCapacity) return kSmallBlock;
  size_t block = kMediumBlock;
  if (capacity > kMediumBlockMaxCapacity) {
    while (4 * block * block < capacity) block *= 2;
  }
  return block;
}

OrderStatistics::OrderStatistics(size_t capacity, size_t blockCapacity)
    : kernels_(OrderStatisticsKernelsFor(static_cast<int>(ActiveSimdLevel()))) {
  capacity = std::max<size_t>(capacity, 1);
  Require(blockCapacity == 0 || (blockCapacity >= kGroup && blockCapacity % kGroup == 0), codes::kInvalidArgument,
          "order statistics: blocks must hold a multiple of 8 values");
  blockCapacity_ = blockCapacity != 0 ? blockCapacity : BlockCapacityFor(capacity);
  minFill_ = blockCapacity_ / 4;
  capacity_ = capacity;
  // A set that cannot fill a block keeps one; else every block but the only one holds ≥ minFill values
  // between operations, and one operation splits at most one block before it merges another.
  const size_t blocks = capacity < blockCapacity_ ? 1 : capacity / minFill_ + 2;
  pool_.resize(kPoolPadding + blocks * blockCapacity_ + kPoolPadding);
  free_.resize(blocks);
  ids_.resize(blocks);
  max_.resize(RoundUp(blocks, kGroup));
  count_.resize(blocks);
  Clear();
}

void OrderStatistics::SetSimdLevelForTesting(int simdLevel) { kernels_ = OrderStatisticsKernelsFor(simdLevel); }

void OrderStatistics::Clear() {
  size_ = 0;
  const size_t blocks = free_.size();
  for (size_t i = 0; i < blocks; ++i) free_[i] = static_cast<uint32_t>(blocks - 1 - i);
  freeCount_ = blocks - 1;  // block id 0 is the one empty block
  ids_[0] = 0;
  count_[0] = 0;
  std::fill(max_.begin(), max_.end(), kInfinity);
  blocks_ = 1;
  Pad(0);
}

size_t OrderStatistics::MemoryBytes() const {
  return sizeof(*this) + 8 * pool_.capacity() + 4 * free_.capacity() + 4 * ids_.capacity() + 8 * max_.capacity() +
         4 * count_.capacity();
}

size_t OrderStatistics::FindBlock(double x) const {
  // How many maxima are < x (the maxima ascend, then +∞ up to the padded end): the first position whose
  // maximum is ≥ x, or past the last one.
  const size_t below = blocks_ <= kLinearMaximaMax ? kernels_.countLess(max_.data(), RoundUp(blocks_, kGroup), x)
                                                   : CountBelowSearch(max_.data(), blocks_, x);
  return std::min(below, blocks_ - 1);
}

size_t OrderStatistics::IndexOf(size_t position, double old) const {
  const double* block = Block(position);
  const size_t i = kernels_.countLess(block, blockCapacity_, old);
  Require(i < count_[position] && block[i] == old, codes::kInvalidState, "order statistics: erase of a value not held");
  return i;
}

void OrderStatistics::Pad(size_t position) {
  double* block = Block(position);
  std::fill(block + count_[position], block + blockCapacity_, kInfinity);
}

void OrderStatistics::SetMax(size_t position) {
  const size_t count = count_[position];
  max_[position] = count != 0 ? Block(position)[count - 1] : kInfinity;
}

void OrderStatistics::InsertInto(size_t position, double x) {
  double* block = Block(position);
  const size_t count = count_[position];
  // ≤ x counts the padding too when x is +∞.
  kernels_.insertAt(block, blockCapacity_, std::min(kernels_.countLessEqual(block, blockCapacity_, x), count), count, x);
  count_[position] = static_cast<uint32_t>(count + 1);
  if (x > max_[position] || count == 0) max_[position] = x;
}

void OrderStatistics::RemoveAt(size_t position, size_t index) {
  double* block = Block(position);
  const size_t count = count_[position];
  kernels_.removeAt(block, blockCapacity_, index, count);
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
  max_[blocks_] = kInfinity;
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
    // A split shifts the positions after `to` by one.
    const bool split = SplitIfFull(to);
    MergeIfSparse(split && from > to ? from + 1 : from);
    return;
  }
  // Both in one block: no split nor merge can follow (its count is unchanged).
  RemoveAt(from, i);
  InsertInto(from, x);
}

// A full block becomes two of B/2 values each.
bool OrderStatistics::SplitIfFull(size_t position) {
  if (count_[position] < blockCapacity_) return false;
  // The pool holds every block the fill invariant allows; running out would mean a broken invariant.
  Require(freeCount_ > 0, codes::kInvalidState, "order statistics: no free block");
  const uint32_t id = free_[--freeCount_];
  const size_t half = blockCapacity_ / 2;
  double* low = Block(position);
  std::memcpy(BlockOfId(id), low + half,
              (blockCapacity_ - half) * sizeof(double));
  InsertPosition(position + 1, id);
  count_[position] = static_cast<uint32_t>(half);
  count_[position + 1] = static_cast<uint32_t>(blockCapacity_ - half);
  max_[position + 1] = max_[position];
  max_[position] = low[half - 1];
  Pad(position);
  Pad(position + 1);
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
  Pad(left);
  Pad(right);
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

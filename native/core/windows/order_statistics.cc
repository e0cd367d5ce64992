#include "windows/order_statistics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/error.h"

namespace sluice {

namespace {
// load ≈ 4·√capacity: moving a value costs far less than visiting a block (a binary-search step or a count
// in select), so blocks larger than √n pay (measured at size 1000 against 1·√n and 8·√n: 5–15 % faster).
constexpr size_t kLoadFactor = 16;
// Up to this capacity the values stay in one sorted block (a flat sorted array): a replace then moves only
// the values between the old and the new one's places (≈ n/3 on random data) and select is one load, which
// measured faster than several blocks up to n ≈ 4000–8000 (at 1000: 74 against 122 ns per row, CPU time).
constexpr size_t kOneBlockMax = 4096;
// Up to this many values, a position is counted with a loop the compiler vectorises (no dependent chain of
// loads); above, a binary search.
constexpr size_t kLinearSearchMax = 64;
size_t LoadFor(size_t capacity) {
  size_t load = 16;
  while (load < 16384 && load * load < kLoadFactor * capacity) load *= 2;
  return load;
}
}  // namespace

OrderStatistics::OrderStatistics(size_t capacity) {
  capacity = std::max<size_t>(capacity, 1);
  size_t blocks = 1;
  if (capacity <= kOneBlockMax) {
    // One block with room for one value more than ever held: it never splits (nor merges: it is alone).
    load_ = capacity;
    blockCapacity_ = capacity + 1;
  } else {
    load_ = LoadFor(capacity);
    blockCapacity_ = 2 * load_;
    blocks = 2 * capacity / load_ + 3;  // every block but one holds ≥ load/2 values; a split needs one more
  }
  pool_.resize(blocks * blockCapacity_);
  ids_.reserve(blocks);
  max_.reserve(blocks);
  count_.reserve(blocks);
  Clear();
}

void OrderStatistics::Clear() {
  size_ = 0;
  ids_.clear();
  max_.clear();
  count_.clear();
  const size_t blocks = pool_.size() / blockCapacity_;
  free_.resize(blocks);
  for (size_t i = 0; i < blocks; ++i) free_[i] = static_cast<uint32_t>(blocks - 1 - i);
}

size_t OrderStatistics::MemoryBytes() const {
  return sizeof(*this) + 8 * pool_.size() + 4 * free_.capacity() + 4 * ids_.capacity() + 8 * max_.capacity() +
         4 * count_.capacity();
}

namespace {
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

size_t OrderStatistics::FindBlock(double x) const {
  // The first maximum ≥ x (the maxima ascend): counted when there are few blocks, else a binary search.
  const size_t n = max_.size();
  return std::min(CountBelow<true>(max_.data(), n, x), n - 1);
}

void OrderStatistics::InsertPosition(size_t position, uint32_t id, double max, uint32_t count) {
  ids_.insert(ids_.begin() + position, id);
  max_.insert(max_.begin() + position, max);
  count_.insert(count_.begin() + position, count);
}

void OrderStatistics::RemovePosition(size_t position) {
  free_.push_back(ids_[position]);
  ids_.erase(ids_.begin() + position);
  max_.erase(max_.begin() + position);
  count_.erase(count_.begin() + position);
}

void OrderStatistics::Insert(double x) {
  x += 0.0;  // −0.0 → +0.0
  if (ids_.empty()) {
    const uint32_t id = free_.back();
    free_.pop_back();
    InsertPosition(0, id, x, 1);
    Block(0)[0] = x;
    size_ = 1;
    return;
  }
  const size_t position = FindBlock(x);
  double* block = Block(position);
  const size_t count = count_[position];
  double* at = block + CountBelow<false>(block, count, x);
  std::memmove(at + 1, at, static_cast<size_t>(block + count - at) * sizeof(double));
  *at = x;
  count_[position] = static_cast<uint32_t>(count + 1);
  if (x > max_[position]) max_[position] = x;
  ++size_;
  if (count + 1 == blockCapacity_) Split(position);
}

// A full block becomes two of `load` values each.
void OrderStatistics::Split(size_t position) {
  const uint32_t id = free_.back();
  free_.pop_back();
  double* low = Block(position);
  double* high = pool_.data() + static_cast<size_t>(id) * blockCapacity_;
  std::memcpy(high, low + load_, load_ * sizeof(double));
  count_[position] = static_cast<uint32_t>(load_);
  const double highMax = max_[position];
  max_[position] = low[load_ - 1];
  InsertPosition(position + 1, id, highMax, static_cast<uint32_t>(load_));
}

void OrderStatistics::Replace(double old, double x) {
  old += 0.0;
  x += 0.0;
  if (old == x) return;
  const size_t position = FindBlock(old);
  if (FindBlock(x) != position) {
    Erase(old);
    Insert(x);
    return;
  }
  // Both in one block: shift the values between their places by one.
  double* block = Block(position);
  const size_t count = count_[position];
  const size_t i = CountBelow<true>(block, count, old);  // where old is
  Require(i < count && block[i] == old, codes::kInvalidState, "order statistics: erase of a value not held");
  const size_t j = CountBelow<false>(block, count, x);   // where x goes, counting old
  if (j > i) {
    std::memmove(block + i, block + i + 1, (j - 1 - i) * sizeof(double));
    block[j - 1] = x;
  } else {
    std::memmove(block + j + 1, block + j, (i - j) * sizeof(double));
    block[j] = x;
  }
  max_[position] = block[count - 1];
}

void OrderStatistics::Erase(double x) {
  x += 0.0;
  Require(!ids_.empty(), codes::kInvalidState, "order statistics: erase from an empty set");
  const size_t position = FindBlock(x);
  double* block = Block(position);
  const size_t count = count_[position];
  double* at = block + CountBelow<true>(block, count, x);
  Require(at != block + count && *at == x, codes::kInvalidState, "order statistics: erase of a value not held");
  std::memmove(at, at + 1, static_cast<size_t>(block + count - at - 1) * sizeof(double));
  --size_;
  if (count == 1) {
    RemovePosition(position);
    return;
  }
  count_[position] = static_cast<uint32_t>(count - 1);
  max_[position] = block[count - 2];
  if (count - 1 < load_ / 2 && ids_.size() > 1) Rebalance(position);
}

// A block below load/2 is merged with a neighbour (the next one, or the previous one for the last block);
// if the pair would fill a block, it is split evenly instead, each half then ≥ load values.
void OrderStatistics::Rebalance(size_t position) {
  const size_t left = position + 1 < ids_.size() ? position : position - 1, right = left + 1;
  double* a = Block(left);
  double* b = Block(right);
  const size_t na = count_[left], nb = count_[right], total = na + nb;
  if (total < blockCapacity_) {
    std::memcpy(a + na, b, nb * sizeof(double));
    count_[left] = static_cast<uint32_t>(total);
    max_[left] = max_[right];
    RemovePosition(right);
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
  max_[left] = a[keep - 1];
}

double OrderStatistics::Select(size_t rank) const {
  double value;
  SelectSorted(&rank, 1, &value);
  return value;
}

void OrderStatistics::SelectSorted(const size_t* ranks, size_t count, double* out) const {
  size_t position = 0, before = 0;  // values in the blocks before `position`
  for (size_t i = 0; i < count; ++i) {
    const size_t rank = ranks[i];
    Require(rank < size_, codes::kInvalidState, "order statistics: rank out of range");
    while (rank >= before + count_[position]) before += count_[position++];
    out[i] = Block(position)[rank - before];
  }
}

}  // namespace sluice

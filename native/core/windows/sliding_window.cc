// Results must not depend on the compiler fusing a multiply and an add into an FMA (GCC does so across
// intrinsics by default in GNU mode): every kernel rounds exactly like the portable code.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "windows/sliding_window.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base/cpu_features.h"
#include "windows/sliding_window_kernels.h"
#include "base/snapshot.h"
#include "base/thread_pool.h"

namespace sluice {

using sliding_window_detail::SumGroup;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// Rows one stream may see: 2^53, the counts a double (a JS number) holds exactly. push() refuses more and
// restore() refuses a snapshot that claims more, so a restored window behaves as one that saw its rows.
constexpr int64_t kMaxRows = int64_t{1} << 53;

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t CeilDiv(int64_t a, int64_t b) { return -FloorDiv(-a, b); }

void PortableSumGroups(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups,
                       WindowSums* sums, const SumOutputs& outputs) {
  const bool wantS2 = outputs.var || outputs.std;
  double s1[8], s2[8];
  PrefetchCursor prefetch(outputs.prefetch);
  for (size_t g = 0; g < groups; ++g) {
    prefetch.Step();
    SumGroup<false>(ring + newPos, ring + oldPos, sums, true, wantS2, s1, s2, nullptr, nullptr, nullptr);
    sliding_window_detail::FinalizeFastRows(*sums, s1, s2, 8, outputs, 8 * g);
    newPos += 8;
    if (newPos >= capacity) newPos -= capacity;
    oldPos += 8;
    if (oldPos >= capacity) oldPos -= capacity;
  }
}

// max/min as the two kernels need them: `General` skips NaN (fmax/fmin: NaN is a missing value, and a
// window of NaN only stays NaN); `Fast` is the branch-free pick for NaN-free windows. The NaN sentinel
// of the suffix array is the identity of both.
struct MaxPick {
  static constexpr bool kMax = true;
  static double General(double a, double b) { return std::fmax(a, b); }
  static double Fast(double a, double b) { return sliding_window_detail::PickScalar<kMax>(a, b); }
  static constexpr double kIdentity = -std::numeric_limits<double>::infinity();
};
struct MinPick {
  static constexpr bool kMax = false;
  static double General(double a, double b) { return std::fmin(a, b); }
  static double Fast(double a, double b) { return sliding_window_detail::PickScalar<kMax>(a, b); }
  static constexpr double kIdentity = std::numeric_limits<double>::infinity();
};

// The portable scans: runs of 8 whose local prefixes (suffixes) do not depend on the carry, so the
// processor overlaps them and only one pick per 8 rows is a loop-carried dependency.
template <typename Pick>
double ForwardPicks(const double* x, size_t n, double carry, double extra, const double* suffix, double* out, bool,
                    InputPrefetch* prefetch) {
  PrefetchCursor next(prefetch);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    next.Step();
    double local[8];
    local[0] = x[i];
    for (int j = 1; j < 8; ++j) local[j] = Pick::Fast(local[j - 1], x[i + j]);
    for (int j = 0; j < 8; ++j) out[i + j] = Pick::Fast(suffix[i + j], Pick::Fast(extra, Pick::Fast(carry, local[j])));
    carry = Pick::Fast(carry, local[7]);
  }
  return sliding_window_detail::ForwardPickRows<Pick::kMax>(x, i, n, carry, extra, suffix, out);
}

template <typename Pick>
double BackwardPicks(const double* x, size_t n, double carry, double* suffix) {
  size_t i = n;
  for (; i >= 8; i -= 8) {
    const size_t base = i - 8;
    double local[8];
    local[7] = x[base + 7];
    for (int j = 6; j >= 0; --j) local[j] = Pick::Fast(local[j + 1], x[base + j]);
    for (int j = 0; j < 8; ++j) suffix[base + j] = Pick::Fast(carry, local[j]);
    carry = suffix[base];
  }
  while (i-- > 0) suffix[i] = carry = Pick::Fast(carry, x[i]);
  return carry;
}

// Copies source[0], source[stride], … (n values) to target as doubles; returns whether any is NaN or ±∞.
// Bit 63 of (exponent bits + 1 << 52) is set only for an all-ones exponent: a branch-free check the
// compiler vectorises where the stride is 1.
template <typename T>
inline bool CopyStridedToRing(const T* source, size_t n, size_t stride, double* target) {
  constexpr uint64_t kExponent = 0x7FF0000000000000ull;
  uint64_t nonFinite = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(source[i * stride]);
    target[i] = x;
    uint64_t bits;
    std::memcpy(&bits, &x, 8);
    nonFinite |= (bits & kExponent) + (uint64_t{1} << 52);
  }
  return (nonFinite >> 63) != 0;
}

template <typename T>
bool CopyToRingPortable(const T* source, size_t n, double* target) {
  return CopyStridedToRing(source, n, 1, target);
}

bool SameBits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// The index of the first finite value of x[0 … n), or n.
size_t FirstFinite(const double* x, size_t n) {
  size_t i = 0;
  while (i < n && !std::isfinite(x[i])) ++i;
  return i;
}

void GatherPortable(const double* source, size_t stride, size_t values, size_t count, double* out, size_t step) {
  for (size_t w = 0; w < count; ++w) {
    const double* column = source + w;
    double* row = out + w * step;
    for (size_t v = 0; v < values; ++v) row[v] = column[v * stride];
  }
}

}  // namespace

SumGroupsKernel SumGroupsKernelPortable() { return &PortableSumGroups; }

GatherKernel GatherKernelFor(int simdLevel) {
#if defined(SLUICE_HAVE_X86_KERNELS)
  if (simdLevel >= static_cast<int>(SimdLevel::kAvx512)) return &GatherAvx512;
#endif
  (void)simdLevel;
  return &GatherPortable;
}

RingCopyKernels RingCopyKernelsFor(int simdLevel) {
#if defined(SLUICE_HAVE_X86_KERNELS)
  using D = bool (*)(const double*, size_t, double*);
  using F = bool (*)(const float*, size_t, double*);
  if (simdLevel >= static_cast<int>(SimdLevel::kAvx512)) return {static_cast<D>(&CopyToRingAvx512), static_cast<F>(&CopyToRingAvx512)};
  if (simdLevel >= static_cast<int>(SimdLevel::kAvx2)) return {static_cast<D>(&CopyToRingAvx2), static_cast<F>(&CopyToRingAvx2)};
#endif
#if defined(SLUICE_HAVE_NEON_KERNELS)
  using D = bool (*)(const double*, size_t, double*);
  using F = bool (*)(const float*, size_t, double*);
  if (simdLevel == static_cast<int>(SimdLevel::kNeon)) return {static_cast<D>(&CopyToRingNeon), static_cast<F>(&CopyToRingNeon)};
#endif
  (void)simdLevel;
  return {&CopyToRingPortable<double>, &CopyToRingPortable<float>};
}

// The min (Pick = MinPick) or max scans for `simdLevel`: the widest built ones at or below it.
template <typename Pick>
ExtremeKernels ExtremeKernelsFor(int simdLevel) {
#if defined(SLUICE_HAVE_X86_KERNELS)
  constexpr bool kMax = Pick::kMax;
  if (simdLevel >= static_cast<int>(SimdLevel::kAvx512))
    return kMax ? ExtremeKernels{&ForwardMaxAvx512, &BackwardMaxAvx512} : ExtremeKernels{&ForwardMinAvx512, &BackwardMinAvx512};
  if (simdLevel >= static_cast<int>(SimdLevel::kAvx2))
    return kMax ? ExtremeKernels{&ForwardMaxAvx2, &BackwardMaxAvx2} : ExtremeKernels{&ForwardMinAvx2, &BackwardMinAvx2};
#endif
#if defined(SLUICE_HAVE_NEON_KERNELS)
  if (simdLevel == static_cast<int>(SimdLevel::kNeon))
    return Pick::kMax ? ExtremeKernels{&ForwardMaxNeon, &BackwardMaxNeon} : ExtremeKernels{&ForwardMinNeon, &BackwardMinNeon};
#endif
  (void)simdLevel;
  return {&ForwardPicks<Pick>, &BackwardPicks<Pick>};
}

ExtremeKernels MaxKernelsFor(int simdLevel) { return ExtremeKernelsFor<MaxPick>(simdLevel); }
ExtremeKernels MinKernelsFor(int simdLevel) { return ExtremeKernelsFor<MinPick>(simdLevel); }

void SlidingWindow::SetSimdLevelForTesting(int simdLevel) {
  sumKernel_ = SumGroupsKernelFor(simdLevel);
  maxKernels_ = MaxKernelsFor(simdLevel);
  minKernels_ = MinKernelsFor(simdLevel);
  copyKernels_ = RingCopyKernelsFor(simdLevel);
  gatherKernel_ = GatherKernelFor(simdLevel);
  for (OrderStatistics& set : orderStatistics_) set.SetSimdLevelForTesting(simdLevel);
}

SumGroupsKernel SumGroupsKernelFor(int simdLevel) {
#if defined(SLUICE_HAVE_X86_KERNELS)
  if (simdLevel >= static_cast<int>(SimdLevel::kAvx512)) return &SumGroupsAvx512;
  if (simdLevel >= static_cast<int>(SimdLevel::kAvx2)) return &SumGroupsAvx2;
#endif
#if defined(SLUICE_HAVE_NEON_KERNELS)
  if (simdLevel == static_cast<int>(SimdLevel::kNeon)) return &SumGroupsNeon;
#endif
  (void)simdLevel;
  return &PortableSumGroups;
}

SlidingWindow::SlidingWindow(SlidingWindowOptions options) : options_(std::move(options)) {
  const SlidingWindowOptions& o = options_;
  Require(o.size >= 1 && o.size <= kMaxSize, codes::kOutOfRange, "size must be in [1, 2^26]");
  Require(o.slide >= 1 && o.slide <= kMaxSlide, codes::kOutOfRange, "slide must be in [1, 2^40]");
  Require(o.channels >= 1 && o.channels <= kMaxChannels, codes::kOutOfRange, "channels must be in [1, 65536]");
  Require(o.threads >= 1 && o.threads <= kMaxThreads, codes::kOutOfRange, "threads must be in [1, 256]");
  Require(!o.aggregates.empty(), codes::kInvalidArgument, "aggregates must name at least one aggregate");
  std::fill(std::begin(aggregateIndex_), std::end(aggregateIndex_), -1);
  std::vector<std::pair<double, size_t>> quantiles;  // (q, column)
  for (size_t i = 0; i < o.aggregates.size(); ++i) {
    if (o.aggregates[i] == Aggregate::kQuantile) {
      Require(quantiles.size() < o.quantiles.size(), codes::kInvalidArgument, "a quantile column has no q");
      quantiles.emplace_back(o.quantiles[quantiles.size()], i);
      continue;
    }
    const int kind = static_cast<int>(o.aggregates[i]);
    Require(kind >= 0 && kind < kAggregateKinds, codes::kInvalidArgument, "unknown aggregate");
    Require(aggregateIndex_[kind] < 0, codes::kInvalidArgument, "duplicate aggregate");
    aggregateIndex_[kind] = static_cast<int>(i);
  }
  Require(quantiles.size() == o.quantiles.size(), codes::kInvalidArgument, "more quantiles than quantile columns");
  Require(quantiles.size() <= kMaxQuantiles, codes::kOutOfRange, "at most 256 quantiles");
  for (const auto& entry : quantiles) {
    Require(entry.first >= 0 && entry.first <= 1, codes::kOutOfRange, "a quantile must be a number in [0, 1]");
  }
  std::sort(quantiles.begin(), quantiles.end());
  for (size_t i = 0; i < quantiles.size(); ++i) {
    Require(i == 0 || quantiles[i].first != quantiles[i - 1].first, codes::kInvalidArgument, "duplicate quantile");
    quantileQs_.push_back(quantiles[i].first);
    quantileColumns_.push_back(quantiles[i].second);
  }
  auto wants = [&](Aggregate a) { return aggregateIndex_[static_cast<int>(a)] >= 0; };
  wantS2_ = wants(Aggregate::kVar) || wants(Aggregate::kStd);
  wantS1_ = wantS2_ || wants(Aggregate::kSum) || wants(Aggregate::kMean);
  wantCount_ = wantS1_ || wants(Aggregate::kCount);

  capacity_ = static_cast<size_t>((o.size + kChunkRows + kGroupRows + 7) / 8 * 8);
  // Fresh sums for each resync cost one addition for size of every resyncRows_ rows (≤ 1/16 per row);
  // between resyncs the compensated running sums carry the error of at most that many updates.
  resyncRows_ = std::max<uint64_t>(16 * o.size, 8192);
  resyncRows_ = (resyncRows_ + 7) / 8 * 8;
  Require(static_cast<double>(capacity_ + o.size) * o.channels <= static_cast<double>(uint64_t{1} << 31),
          codes::kOutOfRange, "size × channels is too large (more than 2^31 values of state)");

  state_.resize(o.channels);
  ring_.resize(o.channels * (capacity_ + kGroupRows));
  halfBlock_ = std::max<size_t>(1, static_cast<size_t>(o.size / 2));
  suffixStride_ = 2 * (halfBlock_ + 1);
  if (wants(Aggregate::kFirst)) validRows_.resize(o.channels * o.size);
  if (wants(Aggregate::kMax)) maxSuffix_.resize(o.channels * suffixStride_);
  if (wants(Aggregate::kMin)) minSuffix_.resize(o.channels * suffixStride_);
  if (!quantileQs_.empty()) {
    orderStatistics_.reserve(o.channels);
    for (size_t c = 0; c < o.channels; ++c) orderStatistics_.emplace_back(static_cast<size_t>(o.size));
    quantileRanks_.resize(2 * quantileQs_.size());
    quantileValues_.resize(2 * quantileQs_.size());
    quantilePositions_.resize(quantileQs_.size());
  }
  // Results of blocks of (stepRows_ rows × gatherChannels_ channels) are gathered into `out` together: at
  // most kGatherValues of them, all channels when that allows steps of 8 rows or more.
  const size_t perRow = o.channels * o.aggregates.size();
  stepRows_ = std::clamp<size_t>(kGatherValues / perRow / kGroupRows * kGroupRows, kGroupRows, kChunkRows);
  gatherChannels_ = std::clamp<size_t>(kGatherValues / (stepRows_ * o.aggregates.size()), 1, o.channels);
  scratch_.resize(gatherChannels_ * o.aggregates.size() * stepRows_ + 5 * (kChunkRows + 16));
  SetSimdLevelForTesting(static_cast<int>(ActiveSimdLevel()));
  InitState();
}

void SlidingWindow::InitState() {
  rowsSeen_ = 0;
  std::fill(state_.begin(), state_.end(), ChannelState{});
  // Rows before the first are missing values: partial windows are windows with NaN rows.
  std::fill(ring_.begin(), ring_.end(), kNaN);
  std::fill(maxSuffix_.begin(), maxSuffix_.end(), kNaN);
  std::fill(minSuffix_.begin(), minSuffix_.end(), kNaN);
  for (OrderStatistics& set : orderStatistics_) set.Clear();
}

void SlidingWindow::Reset() { InitState(); }

size_t SlidingWindow::MemoryBytes() const {
  size_t bytes = sizeof(*this) + state_.size() * sizeof(ChannelState) +
                 8 * (ring_.size() + maxSuffix_.size() + minSuffix_.size() + scratch_.size() + validRows_.size() +
                      discard_.size());
  for (const OrderStatistics& set : orderStatistics_) bytes += set.MemoryBytes();
  for (const auto& helper : helpers_) bytes += helper->MemoryBytes();
  return bytes;
}

size_t SlidingWindow::Pos(int64_t row) const {
  const int64_t c = static_cast<int64_t>(capacity_);
  const int64_t m = row % c;
  return static_cast<size_t>(m < 0 ? m + c : m);
}

namespace {
// The number of windows ending in rows [lo, hi), and the first such row.
struct EmittedRange {
  int64_t count = 0;
  int64_t firstRow = 0;
};
EmittedRange Emitted(const SlidingWindowOptions& o, int64_t lo, int64_t hi) {
  const int64_t anchor = static_cast<int64_t>(o.size) - 1;
  const int64_t slide = static_cast<int64_t>(o.slide);
  lo = std::max(lo, o.emitPartial ? int64_t{0} : anchor);
  EmittedRange range;
  if (lo >= hi) return range;
  const int64_t kMin = CeilDiv(lo - anchor, slide);
  const int64_t kMax = FloorDiv(hi - 1 - anchor, slide);
  range.count = kMax >= kMin ? kMax - kMin + 1 : 0;
  range.firstRow = anchor + kMin * slide;
  return range;
}
}  // namespace

uint64_t SlidingWindow::WindowsFor(uint64_t rows) const {
  Require(rows <= static_cast<uint64_t>(kMaxRows - rowsSeen_), codes::kOutOfRange, "too many rows for one stream");
  return static_cast<uint64_t>(Emitted(options_, rowsSeen_, rowsSeen_ + static_cast<int64_t>(rows)).count);
}

template <typename T>
uint64_t SlidingWindow::CheckPush(Span<const T> values, Span<double> out) const {
  const size_t channels = options_.channels;
  Require(values.size % channels == 0, codes::kInvalidLength, "values.length must be a multiple of channels");
  const uint64_t rows = values.size / channels;
  const uint64_t windows = WindowsFor(rows);
  Require(out.size / windowWidth() >= windows, codes::kInvalidLength, "out is too small for the windows of this push");
  // Results are written while later rows are still to be read: out must not share memory with values.
  const auto valuesBegin = reinterpret_cast<uintptr_t>(values.data), valuesEnd = valuesBegin + values.size * sizeof(T);
  const auto outBegin = reinterpret_cast<uintptr_t>(out.data), outEnd = outBegin + windows * windowWidth() * sizeof(double);
  Require(windows == 0 || values.size == 0 || outEnd <= valuesBegin || valuesEnd <= outBegin, codes::kInvalidArgument,
          "out must not overlap values");
  return windows;
}

template uint64_t SlidingWindow::CheckPush<double>(Span<const double>, Span<double>) const;
template uint64_t SlidingWindow::CheckPush<float>(Span<const float>, Span<double>) const;

template <typename T>
uint64_t SlidingWindow::Push(Span<const T> values, Span<double> out) {
  const uint64_t windows = CheckPush(values, out);
  const int64_t last = rowsSeen_ + static_cast<int64_t>(values.size / options_.channels);
  if (!PushInParallel(values.data, last, out.data)) PushRows(values.data, last, out.data);
  return windows;
}

// Rows [rowsSeen_, last) from `values` (row rowsSeen_ first); their windows go to out[0…).
template <typename T>
void SlidingWindow::PushRows(const T* values, int64_t last, double* out) {
  const size_t channels = options_.channels;
  const int64_t first = rowsSeen_;
  const uint64_t windows = static_cast<uint64_t>(Emitted(options_, first, last).count);
  uint64_t written = 0;
  streamOutput_ = windows * windowWidth() * sizeof(double) >= kStreamOutputBytes;
  for (int64_t begin = first; begin < last;) {
    const int64_t chunkEnd = std::min<int64_t>(last, (begin / kChunkRows + 1) * kChunkRows);
    CopyIntoRing(values + (begin - first) * channels, begin, chunkEnd);
    ringEnd_ = chunkEnd;
    // The kernels ask for the next chunk's input while they compute this one.
    const int64_t nextEnd = std::min<int64_t>(last, chunkEnd + static_cast<int64_t>(kChunkRows));
    prefetch_.next = reinterpret_cast<const char*>(values + (chunkEnd - first) * channels);
    prefetch_.end = reinterpret_cast<const char*>(values + (nextEnd - first) * channels);
    // Steps of stepRows_ rows (the whole chunk unless there are many channels × aggregates), so the
    // results of all channels of a step fit the scratch and are gathered into `out` in one pass.
    const int64_t stepRows = static_cast<int64_t>(stepRows_);
    for (int64_t step = begin; step < chunkEnd;) {
      const int64_t stepEnd = std::min<int64_t>(chunkEnd, (step / stepRows + 1) * stepRows);
      ProcessChunk(step, stepEnd, out, written);
      written += static_cast<uint64_t>(Emitted(options_, step, stepEnd).count);
      step = stepEnd;
    }
    begin = chunkEnd;
  }
  rowsSeen_ = last;
  prefetch_ = {};  // holds no pointer into the caller's array past the push
#if defined(__SSE2__)
  if (streamOutput_) _mm_sfence();  // make the non-temporal stores visible before returning
#endif
}

// The first row a helper replays to reach the state at `cut` (a resync boundary): before the group where
// the fresh sums start (G), and two min/max blocks before the cut's block (whose suffix array is built
// during the block before it), rounded down to a group.
int64_t SlidingWindow::ReplayStart(int64_t cut) const {
  const int64_t size = static_cast<int64_t>(options_.size), b = static_cast<int64_t>(halfBlock_);
  const int64_t sumsStart = (cut - size) / 8 * 8 - 8;
  const int64_t blocksStart = (cut / b - 2) * b;
  return FloorDiv(std::min(sumsStart, blocksStart), 8) * 8;
}

// Resync boundaries where a push of rows [first, last) is cut for `threads` threads: near equal pieces,
// each at least parallelMinRows_ rows (default: 2^16 values) and 4 replays long.
std::vector<int64_t> SlidingWindow::ParallelCuts(int64_t first, int64_t last, size_t threads) const {
  std::vector<int64_t> cuts;
  const int64_t r = static_cast<int64_t>(resyncRows_);
  const int64_t replay = static_cast<int64_t>(options_.size + 3 * halfBlock_) + 32;  // ≥ cut − ReplayStart(cut)
  const int64_t minRows = std::max<int64_t>(
      parallelMinRows_ ? static_cast<int64_t>(parallelMinRows_) : std::max<int64_t>(1, (int64_t{1} << 16) / options_.channels),
      4 * replay);
  const int64_t rows = last - first;
  const int64_t pieces = std::min<int64_t>(static_cast<int64_t>(threads), rows / minRows);
  for (int64_t i = 1; i < pieces; ++i) {
    const int64_t target = first + rows * i / pieces;
    const int64_t cut = (target + r / 2) / r * r;
    const int64_t previous = cuts.empty() ? first : cuts.back();
    if (cut - previous < minRows || last - cut < minRows || ReplayStart(cut) < first) continue;
    cuts.push_back(cut);
  }
  return cuts;
}

// Sets this helper to the state of a window with `parent`'s settings that has seen `row` rows, all NaN.
void SlidingWindow::StartAsHelperOf(const SlidingWindow& parent, int64_t row) {
  resyncRows_ = parent.resyncRows_;
  forceGeneral_ = parent.forceGeneral_;
  sumKernel_ = parent.sumKernel_;
  maxKernels_ = parent.maxKernels_;
  minKernels_ = parent.minKernels_;
  copyKernels_ = parent.copyKernels_;
  gatherKernel_ = parent.gatherKernel_;
  InitState();
  rowsSeen_ = row;
  for (ChannelState& st : state_) st.lastNonFinite = row - 1;
}

// Takes the helper's state (the helper keeps this window's old one, which it never uses again).
void SlidingWindow::AdoptStateOf(SlidingWindow& helper) {
  std::swap(rowsSeen_, helper.rowsSeen_);
  std::swap(state_, helper.state_);
  std::swap(ring_, helper.ring_);
  std::swap(maxSuffix_, helper.maxSuffix_);
  std::swap(minSuffix_, helper.minSuffix_);
  std::swap(validRows_, helper.validRows_);
  std::swap(orderStatistics_, helper.orderStatistics_);
}

template <typename T>
bool SlidingWindow::PushInParallel(const T* values, int64_t last, double* out) {
  if (options_.threads <= 1) return false;
  const int64_t first = rowsSeen_;
  if (last - first < 2 * static_cast<int64_t>(resyncRows_)) return false;
  SharedPoolLease lease;
  if (!lease.pool()) return false;  // another push has the pool: this one runs alone
  // Pieces beyond the pool's threads just queue (each costs one short replay).
  const std::vector<int64_t> cuts = ParallelCuts(first, last, options_.threads);
  if (cuts.empty()) return false;
  // Everything that can throw (allocation) happens before any state changes.
  const size_t helpers = cuts.size();
  SlidingWindowOptions helperOptions = options_;
  helperOptions.threads = 1;
  while (helpers_.size() < helpers) helpers_.push_back(std::make_unique<SlidingWindow>(helperOptions));
  const size_t width = windowWidth();
  int64_t longestReplay = 0;
  for (int64_t cut : cuts) longestReplay = std::max(longestReplay, cut - ReplayStart(cut));
  const size_t discardPerHelper = static_cast<size_t>(longestReplay) * width + 8;
  if (discard_.size() < helpers * discardPerHelper) discard_.resize(helpers * discardPerHelper);

  for (size_t i = 0; i < helpers; ++i) helpers_[i]->StartAsHelperOf(*this, ReplayStart(cuts[i]));

  const size_t channels = options_.channels;
  lease.pool()->Run(helpers + 1, [&](size_t piece, size_t) {
    if (piece == 0) {
      PushRows(values, cuts[0], out);
      return;
    }
    SlidingWindow& helper = *helpers_[piece - 1];
    const int64_t start = cuts[piece - 1], end = piece < helpers ? cuts[piece] : last;
    const int64_t replay = helper.rowsSeen_;
    helper.PushRows(values + (replay - first) * channels, start, discard_.data() + (piece - 1) * discardPerHelper);
    helper.PushRows(values + (start - first) * channels, end,
                    out + static_cast<size_t>(Emitted(options_, first, start).count) * width);
  });
  AdoptStateOf(*helpers_[helpers - 1]);
  return true;
}

template uint64_t SlidingWindow::Push<double>(Span<const double>, Span<double>);
template uint64_t SlidingWindow::Push<float>(Span<const float>, Span<double>);

template <typename T>
void SlidingWindow::CopyIntoRing(const T* values, int64_t begin, int64_t end) {
  const size_t channels = options_.channels;
  // Rows in tiles, every channel per tile: the tile's input lines stay in L1 while each channel takes its
  // column (a channel at a time over the whole chunk would read every input line once per channel).
  const int64_t tileRows =
      channels == 1 ? end - begin : std::max<int64_t>(8, static_cast<int64_t>(kCopyTileBytes / (channels * sizeof(T))));
  for (int64_t tileBegin = begin; tileBegin < end; tileBegin += tileRows) {
    const int64_t tileEnd = std::min(end, tileBegin + tileRows);
    for (size_t c = 0; c < channels; ++c) {
      double* ring = Ring(c);
      for (int64_t row = tileBegin; row < tileEnd;) {
        const size_t pos = Pos(row);
        const size_t run = static_cast<size_t>(std::min<int64_t>(tileEnd - row, static_cast<int64_t>(capacity_ - pos)));
        const T* source = values + (row - begin) * channels + c;
        double* target = ring + pos;
        bool nonFinite;
        if (channels == 1) {  // contiguous: the SIMD copy
          if constexpr (std::is_same_v<T, double>) nonFinite = copyKernels_.fromDouble(source, run, target);
          else nonFinite = copyKernels_.fromFloat(source, run, target);
        } else {
          nonFinite = CopyStridedToRing(source, run, channels, target);
        }
        ChooseShiftIfUnset(c, target, run);
        if (nonFinite) {
          for (size_t i = run; i-- > 0;) {
            if (!std::isfinite(target[i])) {
              state_[c].lastNonFinite = row + static_cast<int64_t>(i);
              break;
            }
          }
        }
        row += static_cast<int64_t>(run);
      }
    }
  }
  for (size_t c = 0; c < channels; ++c) {
    std::memcpy(Ring(c) + capacity_, Ring(c), kGroupRows * sizeof(double));  // the mirror after the ring
  }
}

// While a channel's sums hold no finite value, no sum depends on the shift: it is chosen from the first
// finite value to come (here, rows x[0 … n) not yet summed), which keeps (x − shift)² small from the start.
void SlidingWindow::ChooseShiftIfUnset(size_t channel, const double* x, size_t n) {
  ChannelState& st = state_[channel];
  if (st.shiftChosen) return;
  const size_t i = FirstFinite(x, n);
  if (i == n) return;
  st.sums.shift = x[i];
  st.shiftChosen = 1;
}

void SlidingWindow::ProcessChunk(int64_t begin, int64_t end, double* out, uint64_t firstWindow) {
  const size_t channels = options_.channels;
  const size_t width = options_.aggregates.size();
  const int64_t size = static_cast<int64_t>(options_.size);
  const bool contiguous = channels == 1 && width == 1 && options_.slide == 1;
  const EmittedRange emitted = Emitted(options_, begin, end);
  // One channel, one aggregate, every row of the chunk emitted: the kernels write straight into `out`,
  // for large pushes with non-temporal stores of whole cache lines issued while they compute (the AVX-512
  // window-sum kernel assembles the lines from consecutive groups when groups do not start on a line).
  const bool direct = contiguous && emitted.count == end - begin;
  streamDirect_ = direct && streamOutput_;
  auto index = [&](Aggregate a) { return aggregateIndex_[static_cast<int>(a)]; };

  // Channels are computed in blocks of gatherChannels_, each into its own scratch rows, and the block is then
  // gathered row by row: every emitted window writes gatherChannels_ × width consecutive doubles of `out`
  // (one channel at a time would write one value per cache line and pass over the chunk's output lines once
  // per channel).
  for (size_t c0 = 0; c0 < channels; c0 += gatherChannels_) {
    const size_t blockChannels = std::min(gatherChannels_, channels - c0);
    for (size_t c = c0; c < c0 + blockChannels; ++c) {
      double* rows = scratch_.data() + (c - c0) * width * stepRows_;
      double* destinations[kAggregateKinds];
      for (int kind = 0; kind < kAggregateKinds; ++kind) {
        const int i = aggregateIndex_[kind];
        destinations[kind] = i < 0 ? nullptr : direct ? out + firstWindow : rows + i * stepRows_;
      }
      const int64_t groupStart = begin - begin % static_cast<int64_t>(kGroupRows);
      // The fast path needs every row that enters or leaves the chunk's groups to be finite.
      const bool general = forceGeneral_ || state_[c].lastNonFinite >= groupStart - size;
      if (wantCount_) ProcessSums(c, begin, end, general, destinations);
      if (index(Aggregate::kMax) >= 0) {
        ProcessExtreme<MaxPick>(c, begin, end, general, maxKernels_, &state_[c].maxPrefix, &state_[c].maxPrevious,
                                maxSuffix_.data() + c * suffixStride_,
                                destinations[static_cast<int>(Aggregate::kMax)]);
      }
      if (index(Aggregate::kMin) >= 0) {
        ProcessExtreme<MinPick>(c, begin, end, general, minKernels_, &state_[c].minPrefix, &state_[c].minPrevious,
                                minSuffix_.data() + c * suffixStride_,
                                destinations[static_cast<int>(Aggregate::kMin)]);
      }
      if (index(Aggregate::kFirst) >= 0 || index(Aggregate::kLast) >= 0) {
        ProcessFirstLast(c, begin, end, destinations[static_cast<int>(Aggregate::kFirst)],
                         destinations[static_cast<int>(Aggregate::kLast)]);
      }
      if (!quantileQs_.empty()) {
        double* quantileDestinations[kMaxQuantiles];
        for (size_t j = 0; j < quantileColumns_.size(); ++j) {
          quantileDestinations[j] = direct ? out + firstWindow : rows + quantileColumns_[j] * stepRows_;
        }
        ProcessQuantiles(c, begin, end, quantileDestinations);
      }
    }
    if (emitted.count == 0 || direct) continue;
    if (contiguous) {
      CopyOut(out + firstWindow, scratch_.data() + (emitted.firstRow - begin), static_cast<size_t>(emitted.count));
      continue;
    }
    // Gather the emitted rows into out[window][channel][aggregate], each window's values of the block in one run.
    double* target = out + (firstWindow * channels + c0) * width;
    const size_t step = channels * width, values = blockChannels * width, stride = stepRows_;
    const size_t count = static_cast<size_t>(emitted.count), slide = static_cast<size_t>(options_.slide);
    const double* first = scratch_.data() + (emitted.firstRow - begin);
    // The SIMD transpose pays for 8 to 32 values per window; with more, its stores jump between windows
    // instead of writing each window's run in order, and the plain loop was faster (measured).
    if (slide != 1) {
      for (size_t w = 0; w < count; ++w) GatherPortable(first + w * slide, stride, values, 1, target + w * step, step);
    } else {
      (values >= 8 && values <= 32 ? gatherKernel_ : &GatherPortable)(first, stride, values, count, target, step);
    }
  }
}

// Calls f(pointer, count, offset) for the contiguous ring pieces holding rows [begin, end) (at most two).
template <typename F>
void SlidingWindow::ForEachRingRun(const double* ring, int64_t begin, int64_t end, F&& f) const {
  size_t offset = 0;
  while (begin < end) {
    const size_t pos = Pos(begin);
    const size_t n = static_cast<size_t>(std::min<int64_t>(end - begin, static_cast<int64_t>(capacity_ - pos)));
    f(ring + pos, n, offset);
    begin += static_cast<int64_t>(n);
    offset += n;
  }
}

// Results of large pushes go to memory with non-temporal stores: they bypass the cache (which they would
// only flush) and skip reading each output line before writing it.
void SlidingWindow::CopyOut(double* target, const double* source, size_t count) {
#if defined(__SSE2__)
  if (streamOutput_) {
    // Only whole cache lines go non-temporal: a line written partly by plain and partly by streaming
    // stores (at a chunk boundary) forces a partial write-combining flush, which costs more than it saves.
    size_t i = 0;
    for (; i < count && (reinterpret_cast<uintptr_t>(target + i) & 63) != 0; ++i) target[i] = source[i];
    for (; i + 8 <= count; i += 8) {
      for (size_t j = 0; j < 8; j += 2) _mm_stream_pd(target + i + j, _mm_loadu_pd(source + i + j));
    }
    for (; i < count; ++i) target[i] = source[i];
    return;
  }
#endif
  std::memcpy(target, source, count * sizeof(double));
}

void SlidingWindow::ProcessSums(size_t channel, int64_t begin, int64_t end, bool general, double* const* destinations) {
  WindowSums& sums = state_[channel].sums;
  const double* ring = Ring(channel);
  const int64_t size = static_cast<int64_t>(options_.size);
  const int64_t g0 = begin - begin % static_cast<int64_t>(kGroupRows);
  const int64_t fullEnd = end - end % static_cast<int64_t>(kGroupRows);
  // Per-row arrays, indexed from g0.
  double* s1 = scratch_.data() + gatherChannels_ * options_.aggregates.size() * stepRows_;
  double* s2 = s1 + (kChunkRows + 16);
  double* count = s2 + (kChunkRows + 16);
  double* posInf = count + (kChunkRows + 16);
  double* negInf = posInf + (kChunkRows + 16);

  for (int64_t g = g0; g < end;) {
    const int64_t rowFrom = std::max(begin, g);
    if (g + static_cast<int64_t>(kGroupRows) <= end) {
      // Whole groups up to the chunk's last whole group or the next resync boundary, whichever comes first.
      const int64_t runEnd = std::min(fullEnd, NextSumBoundary(g));
      const size_t groups = static_cast<size_t>(runEnd - g) / kGroupRows;
      if (!general && g >= begin) {
        // The fast kernel writes the aggregates itself.
        auto target = [&](Aggregate a) {
          double* d = destinations[static_cast<int>(a)];
          return d ? d + (g - begin) : nullptr;
        };
        SumOutputs outputs;
        outputs.count = target(Aggregate::kCount);
        outputs.sum = target(Aggregate::kSum);
        outputs.mean = target(Aggregate::kMean);
        outputs.var = target(Aggregate::kVar);
        outputs.std = target(Aggregate::kStd);
        outputs.stream = streamDirect_;
        outputs.prefetch = &prefetch_;
        if (wantS1_) sumKernel_(ring, capacity_, Pos(g), Pos(g - size), groups, &sums, outputs);
        else if (outputs.count) std::fill(outputs.count, outputs.count + (runEnd - g), sums.count);
        if (wantS1_) AfterCommit(channel, g, runEnd);
        g = runEnd;
        continue;
      }
      const int64_t stop = general ? runEnd : g + static_cast<int64_t>(kGroupRows);  // fast: the group before `begin`
      for (int64_t row = g; row < stop; row += static_cast<int64_t>(kGroupRows)) {
        const size_t i = static_cast<size_t>(row - g0);
        if (general) {
          SumGroup<true>(ring + Pos(row), ring + Pos(row - size), &sums, true, wantS2_, s1 + i, s2 + i, count + i,
                         posInf + i, negInf + i);
        } else {
          SumGroup<false>(ring + Pos(row), ring + Pos(row - size), &sums, true, wantS2_, s1 + i, s2 + i, nullptr,
                          nullptr, nullptr);
        }
      }
      FinalizeSums(sums, s1 + (rowFrom - g0), s2 + (rowFrom - g0), count + (rowFrom - g0), posInf + (rowFrom - g0),
                   negInf + (rowFrom - g0), static_cast<size_t>(stop - rowFrom), general, destinations,
                   static_cast<size_t>(rowFrom - begin));
      if (wantS1_) AfterCommit(channel, g, stop);
      g = stop;
    } else {
      // The last, incomplete group: computed but not committed (the next push recomputes it).
      const size_t at = static_cast<size_t>(g - g0);
      if (general) {
        SumGroup<true>(ring + Pos(g), ring + Pos(g - size), &sums, false, wantS2_, s1 + at, s2 + at, count + at,
                       posInf + at, negInf + at);
      } else {
        SumGroup<false>(ring + Pos(g), ring + Pos(g - size), &sums, false, wantS2_, s1 + at, s2 + at, nullptr, nullptr,
                        nullptr);
      }
      FinalizeSums(sums, s1 + (rowFrom - g0), s2 + (rowFrom - g0), count + (rowFrom - g0), posInf + (rowFrom - g0),
                   negInf + (rowFrom - g0), static_cast<size_t>(end - rowFrom), general, destinations,
                   static_cast<size_t>(rowFrom - begin));
      g = end;
    }
  }
}

// Turns per-row window sums into aggregates, following aggregates.h's policy exactly as Finalize does (the
// core tests check the two agree). Division by the count is a multiplication by its reciprocal, in both
// paths. `shift` and, in the fast path, `count` come from `sums` (constant within a run).
void SlidingWindow::FinalizeSums(const WindowSums& sums, const double* s1, const double* s2, const double* count,
                                 const double* posInf, const double* negInf, size_t rows, bool general,
                                 double* const* destinations, size_t offset) {
  if (rows == 0) return;
  const double shift = sums.shift;
  auto target = [&](Aggregate a) { return destinations[static_cast<int>(a)] ? destinations[static_cast<int>(a)] + offset : nullptr; };
  double* countOut = target(Aggregate::kCount);
  double* sumOut = target(Aggregate::kSum);
  double* meanOut = target(Aggregate::kMean);
  double* varOut = target(Aggregate::kVar);
  double* stdOut = target(Aggregate::kStd);
  if (!general) {
    SumOutputs outputs;
    outputs.count = countOut;
    outputs.sum = sumOut;
    outputs.mean = meanOut;
    outputs.var = varOut;
    outputs.std = stdOut;
    sliding_window_detail::FinalizeFastRows(sums, s1, s2, rows, outputs, 0);
    return;
  }
  for (size_t i = 0; i < rows; ++i) {
    const double n = count[i];
    const bool pos = posInf[i] > 0, neg = negInf[i] > 0;
    const double infinite = pos && neg ? kNaN : pos ? kInf : -kInf;
    const double inverse = 1.0 / n;
    if (countOut) countOut[i] = n;
    if (sumOut) sumOut[i] = n == 0 ? 0.0 : (pos || neg) ? infinite : shift * n + s1[i];
    if (meanOut) meanOut[i] = n == 0 ? kNaN : (pos || neg) ? infinite : shift + s1[i] * inverse;
    if (varOut || stdOut) {
      double var = kNaN;
      if (n > 1 && !pos && !neg) {
        const double m2 = s2[i] - s1[i] * s1[i] * inverse;
        var = (m2 > 0 ? m2 : 0.0) * (1.0 / (n - 1));
      }
      if (varOut) varOut[i] = var;
      if (stdOut) stdOut[i] = std::sqrt(var);
    }
  }
}

// Resyncs, de-amortised. At every multiple E of resyncRows_ the window sums are replaced by sums
// accumulated afresh over exactly that window, rows [E − size, E), relative to a new shift (the window's
// first finite value), set up at the group boundary G = ⌊(E − size)/8⌋·8: rounding in the running sums
// cannot outlive resyncRows_ rows, and the shift follows the data. Each committed row in that range is
// added once (one addition per row, never an O(size) step). Lanes follow ring positions (mod 8), so the
// result depends only on the stream, not on how it was cut; and the sums after a resync depend only on
// that window's rows, which is what lets a parallel push start helpers at resync boundaries.
int64_t SlidingWindow::NextSumBoundary(int64_t g) const {
  const int64_t r = static_cast<int64_t>(resyncRows_), size = static_cast<int64_t>(options_.size);
  const int64_t e = (g / r + 1) * r;
  const int64_t start = (e - size) / 8 * 8;
  return start > g ? start : e;
}

void SlidingWindow::AfterCommit(size_t channel, int64_t from, int64_t to) {
  ChannelState& st = state_[channel];
  WindowSums& sums = st.sums;
  const int64_t r = static_cast<int64_t>(resyncRows_), size = static_cast<int64_t>(options_.size);
  const int64_t e = (from / r + 1) * r;
  // Add the committed rows that belong to the window ending at e − 1.
  const int64_t addFrom = std::max(from, e - size), addTo = std::min(to, e);
  if (addFrom < addTo) {
    ForEachRingRun(Ring(channel), addFrom, addTo, [&](const double* x, size_t n, size_t) {
      const size_t first = static_cast<size_t>(x - Ring(channel));
      size_t i = 0;
      if (std::isnan(st.freshShift)) {
        // The shift is the window's first finite value (the rows before it add nothing whatever the shift):
        // it depends on the stream alone, so a helper that starts mid-stream resyncs to the same sums.
        i = FirstFinite(x, n);
        if (i == n) return;
        st.freshShift = x[i];
      }
      const double shift = st.freshShift;
      auto add = [&](size_t k) {
        const double d = std::isfinite(x[k]) ? x[k] - shift : 0.0;
        st.fresh1[(first + k) & 7] += d;
        st.fresh2[(first + k) & 7] += d * d;
      };
      for (; i < n && ((first + i) & 7) != 0; ++i) add(i);
      for (; i + 8 <= n; i += 8) {
        for (size_t j = 0; j < 8; ++j) {  // lane j: vectorisable
          const double d = std::isfinite(x[i + j]) ? x[i + j] - shift : 0.0;
          st.fresh1[j] += d;
          st.fresh2[j] += d * d;
        }
      }
      for (; i < n; ++i) add(i);
    });
  }
  auto combine = [](const double* a) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); };
  if (to == e) {  // the window ending at e − 1 is complete: its fresh sums replace the running ones
    sums.s1Lo = 0;
    sums.s2Lo = 0;
    if (std::isnan(st.freshShift)) {
      // No finite value in the window: the sums are zero whatever the shift, which is chosen again from the
      // next finite value, as at the stream's start (rows already in the ring here, else the next copy's).
      sums.shift = 0;
      sums.s1Hi = 0;
      sums.s2Hi = 0;
      st.shiftChosen = 0;
      ForEachRingRun(Ring(channel), e, ringEnd_,
                     [&](const double* x, size_t n, size_t) { ChooseShiftIfUnset(channel, x, n); });
    } else {
      sums.shift = st.freshShift;
      sums.s1Hi = combine(st.fresh1);
      sums.s2Hi = combine(st.fresh2);
    }
  }
  const int64_t next = (to / r + 1) * r;
  if (to == (next - size) / 8 * 8) {  // set up the next window's fresh sums; its shift is chosen as they start
    st.freshShift = kNaN;
    std::fill(std::begin(st.fresh1), std::end(st.fresh1), 0.0);
    std::fill(std::begin(st.fresh2), std::end(st.fresh2), 0.0);
  }
}

// van Herk / Gil-Werman, de-amortised: blocks of B = ⌊size/2⌋ rows aligned to absolute row 0. The window
// ending at row r (offset o in block k) is the suffix of block k − 2 from offset j = o + 2B + 1 − size
// (j = B: none), all of block k − 1 (`previous`, its final prefix) and the prefix of block k up to r. The
// suffix array of block k − 1 is built during block k, one entry per row, backwards from its end, so it is
// complete when block k + 1 needs it: every row costs a constant number of picks (worst case O(1), no
// O(size) step at block ends). Two suffix arrays of B + 1 entries alternate by block parity; entry B is
// the NaN sentinel. size 1 is the value itself. The fast path runs the same steps through vector kernels
// (exact picks: identical results).
template <typename Pick>
void SlidingWindow::ProcessExtreme(size_t channel, int64_t begin, int64_t end, bool general,
                                   const ExtremeKernels& kernels, double* prefix, double* previous,
                                   double* suffixes, double* destination) {
  const double* ring = Ring(channel);
  const int64_t w = static_cast<int64_t>(options_.size);
  if (w == 1) {
    ForEachRingRun(ring, begin, end, [&](const double* x, size_t n, size_t at) { std::copy(x, x + n, destination + at); });
    return;
  }
  const int64_t b = static_cast<int64_t>(halfBlock_);
  const double identity = general ? kNaN : Pick::kIdentity;  // fmax/fmin skip NaN; the fast picks start from ±∞
  for (int64_t row = begin; row < end;) {
    const int64_t block = row / b, offset = row % b;
    const int64_t segmentEnd = std::min(end, (block + 1) * b);
    const int64_t n = segmentEnd - row;
    double* building = suffixes + (block & 1) * (b + 1);        // block k − 1, built now
    const double* ready = suffixes + ((block & 1) ^ 1) * (b + 1);  // block k − 2
    // 1. Suffix entries [b − offset − n, b − offset) of block k − 1, newest first.
    const int64_t lo = b - offset - n, hi = b - offset;
    const int64_t previousStart = (block - 1) * b;
    double carry = hi == b ? identity : building[hi];
    if (general) {
      for (int64_t e = hi - 1; e >= lo; --e) building[e] = carry = Pick::General(ring[Pos(previousStart + e)], carry);
    } else {
      struct Run { const double* x; size_t n, at; };
      Run runs[2];
      int count = 0;
      ForEachRingRun(ring, previousStart + lo, previousStart + hi,
                     [&](const double* x, size_t len, size_t at) { runs[count++] = {x, len, at}; });
      for (int k = count; k-- > 0;) carry = kernels.backward(runs[k].x, runs[k].n, carry, building + lo + runs[k].at);
    }
    // 2. Prefix of block k and the windows' results.
    double p = offset == 0 ? identity : *prefix;
    const double* from = ready + (offset + 2 * b + 1 - w);
    double* out = destination + (row - begin);
    if (general) {
      size_t pos = Pos(row);
      for (int64_t i = 0; i < n; ++i) {
        p = Pick::General(p, ring[pos]);
        out[i] = Pick::General(from[i], Pick::General(*previous, p));
        if (++pos == capacity_) pos = 0;
      }
    } else {
      ForEachRingRun(ring, row, segmentEnd, [&](const double* x, size_t len, size_t at) {
        p = kernels.forward(x, len, p, *previous, from + at, out + at, streamDirect_, &prefetch_);
      });
    }
    *prefix = p;
    if (segmentEnd == (block + 1) * b) *previous = p;  // block k is complete
    row = segmentEnd;
  }
}

void SlidingWindow::ProcessFirstLast(size_t channel, int64_t begin, int64_t end, double* first, double* last) {
  ChannelState& st = state_[channel];
  const double* ring = Ring(channel);
  const int64_t size = static_cast<int64_t>(options_.size);
  // The ring position of a row `back` rows before row r (at `pos`), without a division.
  auto before = [&](size_t pos, int64_t back) {
    const size_t b = static_cast<size_t>(back);
    return pos >= b ? pos - b : pos + capacity_ - b;
  };
  int64_t* fifo = first ? validRows_.data() + channel * options_.size : nullptr;
  size_t head = static_cast<size_t>(st.firstHead % size), tail = static_cast<size_t>(st.firstTail % size);
  const size_t slots = static_cast<size_t>(size);
  size_t pos = Pos(begin);
  for (int64_t r = begin; r < end; ++r) {
    const int64_t start = r - size + 1;
    const bool valid = !std::isnan(ring[pos]);
    if (valid) st.lastValid = r;
    if (last) last[r - begin] = st.lastValid >= start ? ring[before(pos, r - st.lastValid)] : kNaN;
    if (first) {
      // Rows leave the window one per row, so at most one entry leaves the FIFO: O(1) in the worst case.
      if (st.firstHead < st.firstTail && fifo[head] < start) {
        ++st.firstHead;
        if (++head == slots) head = 0;
      }
      if (valid) {
        fifo[tail] = r;
        ++st.firstTail;
        if (++tail == slots) tail = 0;
      }
      first[r - begin] = st.firstHead < st.firstTail ? ring[before(pos, r - fifo[head])] : kNaN;
    }
    if (++pos == capacity_) pos = 0;
  }
}

// Every row: the value leaving the window is erased and the one entering inserted (NaN: neither); every
// emitted window (rows firstRow + k·slide) selects its quantiles' ranks in one walk. destinations[j] is
// quantile j's (in quantileQs_ order) per-row output, indexed from `begin`.
void SlidingWindow::ProcessQuantiles(size_t channel, int64_t begin, int64_t end, double* const* destinations) {
  OrderStatistics& set = orderStatistics_[channel];
  const double* ring = Ring(channel);
  const int64_t size = static_cast<int64_t>(options_.size), slide = static_cast<int64_t>(options_.slide);
  const EmittedRange emitted = Emitted(options_, begin, end);
  int64_t nextEmitted = emitted.count > 0 ? emitted.firstRow : end;
  const size_t quantiles = quantileQs_.size();
  size_t* ranks = quantileRanks_.data();
  double* values = quantileValues_.data();
  size_t pos = Pos(begin), oldPos = Pos(begin - size);
  for (int64_t r = begin; r < end; ++r) {
    const double leaving = ring[oldPos], entering = ring[pos];
    if (++pos == capacity_) pos = 0;
    if (++oldPos == capacity_) oldPos = 0;
    if (!std::isnan(leaving) && !std::isnan(entering)) {
      set.Replace(leaving, entering);
    } else if (!std::isnan(leaving)) {
      set.Erase(leaving);
    } else if (!std::isnan(entering)) {
      set.Insert(entering);
    }
    if (r != nextEmitted) continue;
    nextEmitted += slide;
    const size_t at = static_cast<size_t>(r - begin), n = set.size();
    if (n == 0) {
      for (size_t j = 0; j < quantiles; ++j) destinations[j][at] = kNaN;
      continue;
    }
    QuantilePosition* positions = quantilePositions_.data();
    for (size_t j = 0; j < quantiles; ++j) {
      positions[j] = QuantileAt(quantileQs_[j], n);
      ranks[2 * j] = positions[j].lowRank;
      ranks[2 * j + 1] = positions[j].fraction == 0 ? positions[j].lowRank : positions[j].lowRank + 1;
    }
    set.SelectSorted(ranks, 2 * quantiles, values);
    for (size_t j = 0; j < quantiles; ++j) {
      destinations[j][at] = Interpolate(values[2 * j], values[2 * j + 1], positions[j].fraction);
    }
  }
}

// The order-statistic structures from the ring: the non-NaN values of the window ending at rowsSeen − 1.
void SlidingWindow::RebuildOrderStatistics() {
  for (size_t c = 0; c < orderStatistics_.size(); ++c) {
    orderStatistics_[c].Clear();
    ForEachRingRun(Ring(c), rowsSeen_ - static_cast<int64_t>(options_.size), rowsSeen_, [&](const double* x, size_t n, size_t) {
      for (size_t i = 0; i < n; ++i) {
        if (!std::isnan(x[i])) orderStatistics_[c].Insert(x[i]);
      }
    });
  }
}

// Snapshot payload: the options (checked on restore), rowsSeen, then per channel its state, the last
// size + 16 rows of its ring (all that any later row can read), and the min/max suffix arrays.
std::vector<uint8_t> SlidingWindow::Snapshot() const {
  SnapshotWriter writer(SnapshotKind::kSlidingWindow);
  writer.Put<uint64_t>(options_.size);
  writer.Put<uint64_t>(options_.slide);
  writer.Put<uint32_t>(options_.channels);
  writer.Put<uint8_t>(options_.emitPartial ? 1 : 0);
  writer.PutVector(options_.aggregates);
  writer.PutVector(options_.quantiles);  // since format version 2
  writer.Put<int64_t>(rowsSeen_);
  const size_t keep = options_.size + 16;
  std::vector<double> rows(keep);
  for (size_t c = 0; c < options_.channels; ++c) {
    writer.Put(state_[c]);
    size_t pos = Pos(rowsSeen_ - static_cast<int64_t>(keep));
    for (size_t k = 0; k < keep; ++k) {
      rows[k] = Ring(c)[pos];
      if (++pos == capacity_) pos = 0;
    }
    writer.PutVector(rows);
    if (!maxSuffix_.empty()) writer.PutArray(maxSuffix_.data() + c * suffixStride_, suffixStride_);
    if (!minSuffix_.empty()) writer.PutArray(minSuffix_.data() + c * suffixStride_, suffixStride_);
    if (!validRows_.empty()) {
      std::vector<int64_t> fifo;
      for (int64_t i = state_[c].firstHead; i < state_[c].firstTail; ++i) {
        fifo.push_back(validRows_[c * options_.size + static_cast<size_t>(i % static_cast<int64_t>(options_.size))]);
      }
      writer.PutVector(fifo);
    }
  }
  return writer.Finish();
}

void SlidingWindow::Restore(Span<const uint8_t> bytes) {
  SnapshotReader reader(bytes, SnapshotKind::kSlidingWindow);
  const uint64_t size = reader.Get<uint64_t>();
  const uint64_t slide = reader.Get<uint64_t>();
  const uint32_t channels = reader.Get<uint32_t>();
  const uint8_t emitPartial = reader.Get<uint8_t>();
  const std::vector<Aggregate> aggregates = reader.GetVector<Aggregate>(kAggregateKinds + kMaxQuantiles);
  // Version 1 had no quantiles (and so no quantile columns).
  const std::vector<double> quantiles =
      reader.version() >= 2 ? reader.GetVector<double>(kMaxQuantiles) : std::vector<double>{};
  Require(size == options_.size && slide == options_.slide && channels == options_.channels &&
              (emitPartial != 0) == options_.emitPartial && aggregates == options_.aggregates &&
              SameBits(quantiles, options_.quantiles),
          codes::kInvalidArgument, "the snapshot was taken from a SlidingWindow with other options");
  const int64_t rowsSeen = reader.GetField<int64_t>("rowsSeen", [](int64_t n) { return n >= 0 && n <= kMaxRows; });
  const size_t keep = options_.size + 16;
  std::vector<ChannelState> states(channels);
  std::vector<double> rows(channels * keep);
  std::vector<double> maxSuffix(maxSuffix_.size()), minSuffix(minSuffix_.size());
  std::vector<int64_t> validRows(validRows_.size());
  for (size_t c = 0; c < channels; ++c) {
    states[c] = reader.Get<ChannelState>();
    const ChannelState& s = states[c];
    // Rows before 0 count as non-finite (-1); lastValid starts far below any row (ChannelState).
    CheckField(s.lastNonFinite >= -1 && s.lastNonFinite < rowsSeen, "lastNonFinite");
    CheckField(s.lastValid == ChannelState().lastValid || (s.lastValid >= 0 && s.lastValid < rowsSeen), "lastValid");
    CheckField(s.shiftChosen == 0 || s.shiftChosen == 1, "shiftChosen");
    reader.GetArray(rows.data() + c * keep, keep);
    if (!maxSuffix.empty()) reader.GetArray(maxSuffix.data() + c * suffixStride_, suffixStride_);
    if (!minSuffix.empty()) reader.GetArray(minSuffix.data() + c * suffixStride_, suffixStride_);
    if (!validRows.empty()) {
      const std::vector<int64_t> fifo = reader.GetVector<int64_t>(size);
      for (size_t i = 0; i < fifo.size(); ++i) {
        Require(fifo[i] < rowsSeen && fifo[i] > rowsSeen - 1 - static_cast<int64_t>(size) && (i == 0 || fifo[i] > fifo[i - 1]),
                codes::kMalformedData, "snapshot first-value rows out of range");
        validRows[c * size + i] = fifo[i];
      }
      states[c].firstHead = 0;  // re-based: the FIFO starts at slot 0
      states[c].firstTail = static_cast<int64_t>(fifo.size());
    }
  }
  reader.ExpectEnd();
  // Everything is read and checked: now replace the state.
  InitState();
  rowsSeen_ = rowsSeen;
  state_ = std::move(states);
  maxSuffix_ = std::move(maxSuffix);
  minSuffix_ = std::move(minSuffix);
  validRows_ = std::move(validRows);
  for (size_t c = 0; c < channels; ++c) {
    double* ring = Ring(c);
    size_t pos = Pos(rowsSeen_ - static_cast<int64_t>(keep));
    for (size_t k = 0; k < keep; ++k) {
      ring[pos] = rows[c * keep + k];
      if (++pos == capacity_) pos = 0;
    }
    std::memcpy(ring + capacity_, ring, kGroupRows * sizeof(double));
  }
  RebuildOrderStatistics();
}

}  // namespace sluice

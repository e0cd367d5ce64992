// Count-based sliding windows over a stream of rows of `channels` values each.
//
// Window k covers rows [k·slide, k·slide + size) of the stream (rows counted from 0 since construction or
// reset()); it is emitted when its last row arrives. With `emitPartial`, the same grid extended before
// row 0 is emitted too: windows ending at rows size−1 − j·slide ≥ 0 hold only the rows seen so far (with
// slide 1: a result for every row, like pandas' rolling(min_periods=1)). slide > size is allowed: rows
// between windows then belong to none. Aggregates follow the NaN policy of aggregates.h.
//
// How (all O(1) per row and channel, no allocation after construction):
// - Rows are copied (float → double) into a per-channel ring of `size + kChunkRows + 8` rows, so every
//   kernel reads contiguous doubles whatever the input type, channel count or batch cut. Pushes run in
//   chunks of kChunkRows rows; while a chunk is computed, its kernels prefetch the next chunk's input.
// - count/sum/mean/var/std: window sums of (x − shift) and (x − shift)² by subtract-on-evict, evaluated
//   for groups of 8 rows aligned to the absolute row index as a fixed-order prefix scan of the
//   differences added to a Neumaier/TwoSum-compensated base. Every `resyncRows` rows the base is
//   replaced by sums accumulated afresh (one addition per row) over exactly the window then ending, with
//   the shift moved to that window's first finite value, so error cannot grow with the stream's length.
//   Because the groups, scans and resyncs depend only on absolute row positions, results are bit-for-bit
//   independent of how the stream is cut into batches (a push that ends inside a group is finished by the
//   next one, which recomputes that group from the ring).
// - min/max: van Herk / Gil-Werman de-amortised: blocks of ⌊size/2⌋ rows; a window is the suffix of the
//   block two back, the whole previous block and the prefix of the current one, and the suffix array of a
//   block is built during the next block, one entry per row: a constant number of picks per row, worst case.
// - first/last: a FIFO of the window's non-NaN rows (one push and at most one pop per row) and the index
//   of the newest one.
// - quantiles (Aggregate::kQuantile columns, q from options.quantiles): per channel an order-statistic
//   structure (order_statistics.h) holding the window's non-NaN values: each row erases the value leaving
//   and inserts the one entering (O(√size)), and each emitted window selects its ranks in one walk
//   (linear interpolation between order statistics, see QuantileAt). The structure holds exactly the
//   window's values, so results depend on them alone: not on batch cuts, threads or restores (a restore
//   rebuilds it from the ring).
// Runs whose windows hold only finite values take a fast path (SIMD kernels chosen at run time); others
// take the general path. Both compute the same floating-point operations, so they agree bit for bit.
// - Parallel pushes (threads > 1): a large push is cut at resync boundaries. Everything a window holds
//   right after a resync is a function of the rows before it alone (sums, counts, min/max blocks, the
//   first/last FIFO), so a helper that replays the ~2.5·size rows before a cut from an all-NaN past
//   reaches exactly the state the window would have there, and takes the rows from the cut on while the
//   window takes the rows before it. The window then adopts the last helper's state. Results are bit for
//   bit those of one thread. Helpers run on a process-wide pool; a push that finds it busy runs alone.
//
// Memory per channel: 8·(size + kChunkRows + 16) bytes of ring, + 16·(max(1, ⌊size/2⌋) + 1) bytes for each
// of min and max when asked for, + 8·size bytes for first, + ~270 bytes of state; plus
// 8·(stepRows_·gatherChannels_·#aggregates + 5·(kChunkRows + 16)) bytes of scratch per window (≤ 172 KB);
// with quantiles, 8·(size + 1) bytes per channel for the sorted values up to size 4096, above that
// ≈ 8·(2·size + 6·load) for the blocks (load the power of two ≥ 4·√size) + ~100 bytes;
// with threads > 1, as much again for each helper once a push is cut. Rows are copied into the ring (the
// caller's arrays are read in place, never retained).
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "windows/aggregates.h"
#include "windows/order_statistics.h"
#include "base/span.h"

namespace sluice {

struct SlidingWindowOptions {
  uint64_t size = 0;                // rows per window, 1 … kMaxSize
  uint64_t slide = 1;               // rows between consecutive windows, 1 … kMaxSlide
  uint32_t channels = 1;            // values per row, 1 … kMaxChannels
  std::vector<Aggregate> aggregates;  // at least one, no duplicates; output order
  // The q (in [0, 1], no duplicates) of each kQuantile entry of `aggregates`, in their order.
  std::vector<double> quantiles;
  bool emitPartial = false;         // also emit windows that end before the first `size` rows
  uint32_t threads = 1;             // most threads one push may use, 1 … kMaxThreads (results do not depend on it)
};

// The window sums that the count/sum/mean/var/std aggregates are finalised from, at the start of a group
// of 8 rows: s1 = Σ(x − shift) and s2 = Σ(x − shift)² over the finite values (compensated: hi + lo),
// count of non-NaN values, and counts of +∞ and −∞ (exact integers held in doubles).
struct WindowSums {
  double shift = 0;
  double s1Hi = 0, s1Lo = 0, s2Hi = 0, s2Lo = 0;
  double count = 0, posInf = 0, negInf = 0;
};

// The caller's input that the next chunk will read. Kernels ask for one cache line of it per group of 8 rows
// they process, so reading memory overlaps their arithmetic: requesting a whole chunk at once stalls on
// the line-fill buffers, and the hardware prefetcher alone left input streams ~1.5× slower (measured).
struct InputPrefetch {
  const char* next = nullptr;
  const char* end = nullptr;
  void Step() {
    if (next >= end) return;
#if defined(__GNUC__) || defined(__clang__)
    // Into L2 (prefetcht1), not L1: the ring copy reads it a chunk later, and L1 holds the ring and the
    // kernels' working set meanwhile (measured 3–10 % faster than prefetcht0 on 10^7-row pushes).
    __builtin_prefetch(next, 0, 2);
#endif
    next += 64;
  }
};

// A kernel's own copy of the cursor (kept in registers, not reloaded after every store), written back when
// the kernel returns. `shared` may be null: then Step() does nothing.
class PrefetchCursor {
 public:
  explicit PrefetchCursor(InputPrefetch* shared) : shared_(shared), local_(shared ? *shared : InputPrefetch{}) {}
  ~PrefetchCursor() {
    if (shared_) *shared_ = local_;
  }
  PrefetchCursor(const PrefetchCursor&) = delete;
  PrefetchCursor& operator=(const PrefetchCursor&) = delete;
  void Step() { local_.Step(); }

 private:
  InputPrefetch* shared_;
  InputPrefetch local_;
};

// Where the fast path writes finished aggregates, row i of a run at [i]; null for those not asked for.
struct SumOutputs {
  double* count = nullptr;
  double* sum = nullptr;
  double* mean = nullptr;
  double* var = nullptr;
  double* std = nullptr;
  bool stream = false;  // large output: kernels may use non-temporal stores (of whole cache lines)
  InputPrefetch* prefetch = nullptr;  // advanced one line per group when given
};

// The fast-path kernel: `groups` whole groups of 8 rows whose windows hold only finite values (so the
// count is sums->count for every row). New rows start at ring[newPos] (a multiple of 8), evicted rows at
// ring[oldPos]; positions wrap at `capacity` and the ring has 8 mirrored doubles after it, so every group
// reads 8 contiguous values. Writes each row's aggregates to `outputs` and advances `sums` past the groups.
using SumGroupsKernel = void (*)(const double* ring, size_t capacity, size_t newPos, size_t oldPos, size_t groups,
                                 WindowSums* sums, const SumOutputs& outputs);

// Fast-path min/max scans over finite values. Picks are exact, so every kernel gives the same results.
struct ExtremeKernels {
  // out[i] = pick(suffix[i], pick(extra, pick(carry, x[0], …, x[i]))) (suffix[i] may be the NaN sentinel:
  // then it is left out); returns pick(carry, x[0], …, x[n − 1]).
  // `stream`: large output, non-temporal stores allowed; `prefetch` (may be null): advanced one line per 8 rows.
  double (*forward)(const double* x, size_t n, double carry, double extra, const double* suffix, double* out,
                    bool stream, InputPrefetch* prefetch);
  // suffix[i] = pick(x[i], …, x[n − 1], carry); returns pick of them all.
  double (*backward)(const double* x, size_t n, double carry, double* suffix);
};
ExtremeKernels MaxKernelsFor(int simdLevel);
ExtremeKernels MinKernelsFor(int simdLevel);

// Copies n values into the ring as doubles; returns whether any is NaN or ±∞.
struct RingCopyKernels {
  bool (*fromDouble)(const double* source, size_t n, double* target);
  bool (*fromFloat)(const float* source, size_t n, double* target);
};
RingCopyKernels RingCopyKernelsFor(int simdLevel);

// The gather of a step's results into `out`, a transpose: out[w·step + v] = source[v·stride + w] for
// w < count windows and v < values (each window's values in one run).
using GatherKernel = void (*)(const double* source, size_t stride, size_t values, size_t count, double* out,
                              size_t step);
GatherKernel GatherKernelFor(int simdLevel);

// Kernels by SIMD level (portable always; others when built and supported), for dispatch and tests.
SumGroupsKernel SumGroupsKernelFor(int simdLevel);
SumGroupsKernel SumGroupsKernelPortable();

class SlidingWindow {
 public:
  static constexpr uint64_t kMaxSize = uint64_t{1} << 26;
  static constexpr uint64_t kMaxSlide = uint64_t{1} << 40;
  static constexpr uint32_t kMaxChannels = 1u << 16;
  static constexpr uint32_t kMaxThreads = 256;
  static constexpr size_t kMaxQuantiles = 256;
  static constexpr size_t kChunkRows = 1024;  // rows per processing chunk (a multiple of 8; measured best of 256, 512, 1024, 2048)
  static constexpr size_t kGroupRows = 8;

  // Validates the options (ERR_OUT_OF_RANGE for sizes and for q outside [0, 1], ERR_INVALID_ARGUMENT for
  // aggregates).
  explicit SlidingWindow(SlidingWindowOptions options);

  const SlidingWindowOptions& options() const { return options_; }
  int64_t rowsSeen() const { return rowsSeen_; }
  // Doubles per emitted window: channels × aggregates.
  size_t windowWidth() const { return options_.channels * options_.aggregates.size(); }
  // How many windows pushing `rows` more rows emits.
  uint64_t WindowsFor(uint64_t rows) const;
  // Bytes this window holds natively.
  size_t MemoryBytes() const;

  // Appends whole rows (values.size a multiple of channels) and writes one row of windowWidth() doubles
  // per emitted window into `out`, laid out [window][channel][aggregate]. Returns the number of windows.
  // Checks everything before changing any state (ERR_INVALID_LENGTH).
  template <typename T>
  uint64_t Push(Span<const T> values, Span<double> out);
  // Push's checks alone (nothing changes): the number of windows it would write, or the error it would throw.
  template <typename T>
  uint64_t CheckPush(Span<const T> values, Span<double> out) const;

  std::vector<uint8_t> Snapshot() const;
  // Replaces the whole state with a snapshot's, taken from a window with the same options
  // (ERR_MALFORMED_DATA for bad bytes, ERR_INVALID_ARGUMENT for other options). All or nothing.
  void Restore(Span<const uint8_t> bytes);
  void Reset();

  // For tests: always take the general path (results must be identical).
  void ForceGeneralPathForTesting(bool force) { forceGeneral_ = force; }
  // For tests: use this kernel for the fast path.
  void SetSumKernelForTesting(SumGroupsKernel kernel) { sumKernel_ = kernel; }
  void SetSimdLevelForTesting(int simdLevel);
  uint64_t resyncRows() const { return resyncRows_; }
  // For tests: resync more often (a multiple of 8, at least size + 16), before the first push.
  // For tests: let a push with threads > 1 cut pieces this small (rows; the default keeps pieces large).
  void SetParallelMinRowsForTesting(uint64_t rows) { parallelMinRows_ = rows; }
  void SetResyncRowsForTesting(uint64_t rows) {
    Require(rows % 8 == 0 && rows >= options_.size + 16 && rowsSeen_ == 0, codes::kInvalidArgument, "bad resync rows");
    resyncRows_ = rows;
  }

 private:
  struct ChannelState {
    WindowSums sums;
    double maxPrefix = 0, minPrefix = 0;  // running max/min of the current min/max block
    double maxPrevious = std::numeric_limits<double>::quiet_NaN();  // max/min of the block before it
    double minPrevious = std::numeric_limits<double>::quiet_NaN();
    int64_t lastNonFinite = -1;           // newest row holding NaN or ±∞ (rows before 0 are NaN)
    int64_t lastValid = INT64_MIN / 4;    // newest non-NaN row (for `last`)
    int64_t firstHead = 0, firstTail = 0;  // the non-NaN rows of the window, oldest first (for `first`)
    int64_t shiftChosen = 0;              // the shift starts at the channel's first finite value
    double freshShift = std::numeric_limits<double>::quiet_NaN();  // the next resync's shift (NaN: not yet
                                          // chosen) and its sums so far, by lane
    double fresh1[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double fresh2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  };

  template <typename T>
  void PushRows(const T* values, int64_t last, double* out);
  template <typename T>
  bool PushInParallel(const T* values, int64_t last, double* out);
  std::vector<int64_t> ParallelCuts(int64_t first, int64_t last, size_t threads) const;
  int64_t ReplayStart(int64_t cut) const;
  void StartAsHelperOf(const SlidingWindow& parent, int64_t row);
  void AdoptStateOf(SlidingWindow& helper);
  size_t Pos(int64_t row) const;
  double* Ring(size_t channel) { return ring_.data() + channel * (capacity_ + kGroupRows); }
  const double* Ring(size_t channel) const { return ring_.data() + channel * (capacity_ + kGroupRows); }
  template <typename T>
  void CopyIntoRing(const T* values, int64_t begin, int64_t end);
  void ChooseShiftIfUnset(size_t channel, const double* x, size_t n);
  void ProcessChunk(int64_t begin, int64_t end, double* out, uint64_t firstWindow);
  void ProcessSums(size_t channel, int64_t begin, int64_t end, bool general, double* const* destinations);
  void FinalizeSums(const WindowSums& sums, const double* s1, const double* s2, const double* count,
                    const double* posInf, const double* negInf, size_t rows, bool general,
                    double* const* destinations, size_t offset);
  int64_t NextSumBoundary(int64_t group) const;
  void AfterCommit(size_t channel, int64_t from, int64_t to);
  template <typename Pick>
  void ProcessExtreme(size_t channel, int64_t begin, int64_t end, bool general, const ExtremeKernels& kernels,
                      double* prefix, double* previous, double* suffixes, double* destination);
  void ProcessFirstLast(size_t channel, int64_t begin, int64_t end, double* first, double* last);
  void ProcessQuantiles(size_t channel, int64_t begin, int64_t end, double* const* destinations);
  void RebuildOrderStatistics();
  void CopyOut(double* target, const double* source, size_t count);
  template <typename F>
  void ForEachRingRun(const double* ring, int64_t begin, int64_t end, F&& f) const;
  void InitState();

  SlidingWindowOptions options_;
  size_t capacity_ = 0;       // ring rows per channel (a multiple of 8)
  uint64_t resyncRows_ = 0;   // a multiple of 8
  int aggregateIndex_[kAggregateKinds];  // position in the output, or −1
  bool wantS1_ = false, wantS2_ = false, wantCount_ = false;
  bool forceGeneral_ = false;
  bool streamOutput_ = false;  // this push's output is large: write it with non-temporal stores
  bool streamDirect_ = false;  // this chunk's kernels write into `out` and may stream
  static constexpr size_t kStreamOutputBytes = size_t{4} << 20;
  SumGroupsKernel sumKernel_ = nullptr;
  ExtremeKernels maxKernels_{}, minKernels_{};
  RingCopyKernels copyKernels_{};
  GatherKernel gatherKernel_ = nullptr;
  InputPrefetch prefetch_;  // the next chunk's input, while this one is processed
  int64_t ringEnd_ = 0;     // rows before this one are in the ring (during a push)
  uint64_t parallelMinRows_ = 0;  // 0: the default
  // Parallel pushes: helpers that each take a piece of the push (created on the first push that is cut),
  // and the buffer a helper writes the windows of its replayed rows to.
  std::vector<std::unique_ptr<SlidingWindow>> helpers_;
  std::vector<double> discard_;
  int64_t rowsSeen_ = 0;
  std::vector<ChannelState> state_;
  std::vector<double> ring_;      // [channel][capacity + 8]
  size_t stepRows_ = kChunkRows;   // rows computed (per channel) before their results are gathered into `out`
  size_t gatherChannels_ = 1;      // channels computed before their results are gathered into `out`
  static constexpr size_t kGatherValues = 16384;
  static constexpr size_t kCopyTileBytes = 8192;  // input per tile of the several-channel ring copy  // at most this many results per window per gather
  size_t halfBlock_ = 1;           // min/max block length ⌊size/2⌋
  size_t suffixStride_ = 4;        // 2 suffix arrays of halfBlock_ + 1 per channel
  std::vector<double> maxSuffix_;  // [channel][suffixStride_]
  std::vector<double> minSuffix_;
  std::vector<int64_t> validRows_;  // [channel][size]: FIFO of the window's non-NaN rows (for `first`)
  // Quantiles: the output column and q of each, ascending by q (so a window's ranks ascend), and per
  // channel the window's non-NaN values.
  std::vector<size_t> quantileColumns_;
  std::vector<double> quantileQs_;
  std::vector<OrderStatistics> orderStatistics_;
  std::vector<size_t> quantileRanks_;     // scratch: 2 per quantile
  std::vector<double> quantileValues_;
  std::vector<QuantilePosition> quantilePositions_;
  std::vector<double> scratch_;   // per-aggregate rows of one chunk, then the sums' per-row arrays
};

}  // namespace sluice

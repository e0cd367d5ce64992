// EventTimeWindows: options, construction, the pane arithmetic, Push (checks, then the panes' or the
// sessions' push), the watermark's entry points and the memory count. The class's other parts:
// event_time_windows_panes.cc (the pane ring and pushing into it), _firing.cc (firing pane windows),
// _sessions.cc (session windows: push, timers, firing) and _snapshot.cc.
#include "windows/event_time_windows.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "windows/event_time_windows_detail.h"

namespace sluice {

using namespace event_time_windows_detail;

namespace {

constexpr double kMaxTimestamp = 9007199254740991.0;  // 2^53 − 1: timestamps are integral units

bool IsWholeNumber(double x, double max) { return std::isfinite(x) && std::floor(x) == x && std::fabs(x) <= max; }

constexpr double kMaxDuration = 1099511627776.0;  // 2^40 time units (≈ 35 years of milliseconds)

void CheckOptions(const EventTimeWindowsOptions& o) {
  Require(o.keyCount >= 1 && o.keyCount <= (1u << 28), codes::kOutOfRange, "keyCount must be in [1, 268435456]");
  Require(o.maxKeys == 0 || (o.maxKeys >= o.keyCount && o.maxKeys <= (1u << 28)), codes::kOutOfRange,
          "maxKeys must be in [keyCount, 268435456]");
  Require(!o.keySpace || o.maxKeys == 0, codes::kInvalidArgument, "maxKeys of a key space is the key space's");
  Require(o.channels >= 1 && o.channels <= 1024, codes::kOutOfRange, "channels must be in [1, 1024]");
  Require(!o.aggregates.empty() && o.aggregates.size() <= 64, codes::kInvalidArgument, "aggregates: 1 to 64 names");
  size_t quantileColumns = 0;
  for (const Aggregate a : o.aggregates) {
    Require(static_cast<int>(a) < kAggregateKinds || a == Aggregate::kQuantile || a == Aggregate::kDistinct,
            codes::kInvalidArgument, "unknown aggregate");
    quantileColumns += a == Aggregate::kQuantile;
  }
  Require(o.quantiles.size() == quantileColumns, codes::kInvalidArgument, "one q per quantile column");
  for (const double q : o.quantiles) Require(q >= 0 && q <= 1, codes::kOutOfRange, "a quantile must be a number in [0, 1]");
  Require(o.accuracy >= 1e-6 && o.accuracy < 1, codes::kOutOfRange, "accuracy must be in [1e-6, 1)");
  Require(o.distinctPrecision >= HyperLogLog::kMinPrecision && o.distinctPrecision <= HyperLogLog::kMaxPrecision,
          codes::kOutOfRange, "distinctPrecision must be an integer in [4, 18]");
  Require(IsWholeNumber(o.allowedLateness, kMaxDuration) && o.allowedLateness >= 0, codes::kInvalidArgument,
          "allowedLateness must be an integer in [0, 2^40]");
  if (o.kind == WindowKind::kSession) {
    Require(IsWholeNumber(o.gap, kMaxDuration) && o.gap >= 1, codes::kInvalidArgument, "gap must be an integer in [1, 2^40]");
    return;
  }
  Require(IsWholeNumber(o.size, kMaxDuration) && o.size >= 1, codes::kInvalidArgument, "size must be an integer in [1, 2^40]");
  Require(IsWholeNumber(o.slide, kMaxDuration) && o.slide >= 1 && o.slide <= o.size, codes::kInvalidArgument,
          "slide must be an integer in [1, size]");
  Require(o.kind != WindowKind::kTumbling || o.slide == o.size, codes::kInvalidArgument, "tumbling windows slide by size");
  Require(IsWholeNumber(o.offset, kMaxDuration) && std::fabs(o.offset) < o.slide, codes::kInvalidArgument,
          "offset must be an integer with |offset| < slide");
  Require(IsWholeNumber(o.horizon, kMaxDuration) && o.horizon >= 0, codes::kInvalidArgument, "horizon must be an integer in [0, 2^40]");
}

}  // namespace

EventTimeWindows::EventTimeWindows(const EventTimeWindowsOptions& options) : options_(options), channels_(options.channels) {
  CheckOptions(options);
  sketches_ = std::any_of(options.aggregates.begin(), options.aggregates.end(),
                          [](Aggregate a) { return a == Aggregate::kQuantile || a == Aggregate::kDistinct; });
  if (sketches_) windowSketch_ = NewSketchCell();
  if (options.keySpace) {
    keySpace_ = std::make_unique<KeySpace>(*options.keySpace);
    // A key space is as large as the keys live at once (maxKeys): start small, double on demand.
    options_.keyCount = std::min(options_.keyCount, options.keySpace->maxKeys);
  }
  if (options.kind == WindowKind::kSession) {
    sessionHead_.assign(options.keyCount, -1);
    dueSessions_.SetWidth(options.gap);
    cleanupSessions_.SetWidth(options.gap);
  } else {
    const int64_t size = static_cast<int64_t>(options.size), slide = static_cast<int64_t>(options.slide);
    paneSize_ = std::gcd(size, slide);
    panesPerWindow_ = size / paneSize_;
    panesPerSlide_ = slide / paneSize_;
    const double horizon = options.horizon > 0 ? options.horizon : 4 * options.size;
    const double needed = std::ceil((options.size + options.allowedLateness + horizon) / paneSize_) + 1;
    Require(needed <= (1 << 20), codes::kOutOfRange,
            "size + allowedLateness + horizon spans more than 2^20 panes of gcd(size, slide)");
    ringPanes_ = 1;
    while (ringPanes_ < needed) ringPanes_ <<= 1;
    cellIndex_.Reset(ringPanes_, options_.keyCount);
    slotPane_.assign(ringPanes_, kNoPane);
    livePanes_.reserve(ringPanes_);
    displaced_.reserve(ringPanes_);
    if (panesPerWindow_ > 1) keyTally_.assign(options.keyCount, 0);

    lean_ = std::all_of(options.aggregates.begin(), options.aggregates.end(), [](Aggregate a) {
      return a == Aggregate::kCount || a == Aggregate::kSum || a == Aggregate::kMean || a == Aggregate::kMin || a == Aggregate::kMax ||
             a == Aggregate::kQuantile || a == Aggregate::kDistinct;  // sketches live beside the cells
    });
    paneSlots_.resize(ringPanes_);
    leanPaneSlots_.resize(ringPanes_);
    sortedCells_.assign(ringPanes_, 0);
    // Two-Stacks would keep a suffix sketch per cell: sketch windows merge their panes' sketches instead.
    twoStacks_ = panesPerWindow_ > kPaneMergeLimit && !sketches_;
    if (sketches_) paneSketches_.resize(ringPanes_);
    if (twoStacks_) {
      const size_t keys = options.keyCount;
      keyEpoch_.assign(keys, 0);
      keyCells_.assign(keys, 0);
      frontEnd_.assign(keys, 0);
      frontCursor_.assign(keys, 0);
      backEvents_.assign(keys, 0);
      if (lean_) leanBack_.assign(keys * channels_, LeanAccumulator());
      else back_.assign(keys * channels_, TimedAccumulator());
      keyBits_.assign((keys + 63) / 64, 0);
      suffixes_.resize(ringPanes_);
      leanSuffixes_.resize(ringPanes_);
      suffixEvents_.resize(ringPanes_);
    }
  }
  UpdateThresholds();
}

// ---- sketch aggregates ----------------------------------------------------------------------------------

SketchCell EventTimeWindows::NewSketchCell() const {
  SketchCell cell;
  const bool quantiles = std::count(options_.aggregates.begin(), options_.aggregates.end(), Aggregate::kQuantile) > 0;
  const bool distinct = std::count(options_.aggregates.begin(), options_.aggregates.end(), Aggregate::kDistinct) > 0;
  if (quantiles) cell.quantiles.assign(channels_, DDSketch(options_.accuracy));
  if (distinct) cell.distinct.assign(channels_, HyperLogLog(options_.distinctPrecision));
  return cell;
}

uint32_t EventTimeWindows::TakeSketchCell(size_t ring, uint32_t key) {
  SketchPane& pane = paneSketches_[ring];
  if (pane.used == 0 && pane.cells.empty() && !spareSketches_.empty()) {
    pane = std::move(spareSketches_.back());
    spareSketches_.pop_back();
  }
  if (pane.used == pane.cells.size()) pane.cells.push_back(NewSketchCell());
  SketchCell& cell = pane.cells[pane.used];
  cell.key = key;  // spares were cleared when their pane was purged
  return static_cast<uint32_t>(pane.used++);
}

// ---- pane arithmetic ----------------------------------------------------------------------------------

int64_t EventTimeWindows::PaneOf(double t) const {
  const double x = t - options_.offset;
  const double g = static_cast<double>(paneSize_);
  double q = std::floor(x / g);
  if (q * g > x) q -= 1;  // correct a quotient rounded up across an integer
  return static_cast<int64_t>(q);
}

int64_t EventTimeWindows::LastWindowEndingBy(double watermark, double lateness) const {
  if (watermark == -kInfinity) return kBeforeAll;
  if (watermark == kInfinity) return kAfterAll;
  return ClampIndex(std::floor((watermark + 1 - lateness - options_.offset - options_.size) / options_.slide));
}

void EventTimeWindows::UpdateThresholds() {
  if (options_.kind == WindowKind::kSession) return;
  firedThrough_ = LastWindowEndingBy(watermark_, 0);
  purgedThrough_ = LastWindowEndingBy(watermark_, options_.allowedLateness);
  auto paneIndex = [](int64_t k, double times, double plus) {
    if (k == kBeforeAll) return kBeforeAll;
    if (k == kAfterAll) return kAfterAll;
    return ClampIndex(static_cast<double>(k) * times + plus);
  };
  lateBelow_ = paneIndex(purgedThrough_, static_cast<double>(panesPerSlide_), static_cast<double>(panesPerSlide_));
  onTimeFrom_ = paneIndex(firedThrough_, static_cast<double>(panesPerSlide_), static_cast<double>(panesPerWindow_));
}

// ---- push ---------------------------------------------------------------------------------------------

template <typename T>
size_t EventTimeWindows::Push(Span<const double> timestamps, Span<const uint32_t> keys, Span<const T> values,
                              Span<uint32_t> lateOut) {
  const size_t n = timestamps.size;
  Require(keys.size == n || keys.size == 0, codes::kInvalidLength, "keys must have one entry per timestamp");
  Require(values.size == n * channels_, codes::kInvalidLength, "values must hold timestamps.length × channels numbers");
  Require(lateOut.size >= n, codes::kInvalidLength, "late output must hold one index per event");
  // One branch-free pass with four independent lanes: x − x is NaN exactly for NaN and ±Infinity, and the
  // largest magnitude bounds the range (ternaries, not std::fmax: that is a libm call on baseline x86-64).
  double poison[4] = {0, 0, 0, 0}, magnitude[4] = {0, 0, 0, 0};
  const size_t whole = n - n % 4;
  for (size_t i = 0; i < whole; i += 4) {
    for (size_t l = 0; l < 4; ++l) {
      const double t = timestamps[i + l], a = std::fabs(t);
      poison[l] += t - t;
      magnitude[l] = a > magnitude[l] ? a : magnitude[l];
    }
  }
  for (size_t i = whole; i < n; ++i) {
    const double t = timestamps[i], a = std::fabs(t);
    poison[0] += t - t;
    magnitude[0] = a > magnitude[0] ? a : magnitude[0];
  }
  Require(poison[0] + poison[1] + poison[2] + poison[3] == 0, codes::kInvalidArgument, "timestamps must be finite");
  Require(std::max(std::max(magnitude[0], magnitude[1]), std::max(magnitude[2], magnitude[3])) <= kMaxTimestamp,
          codes::kOutOfRange, "timestamps must be within ±(2^53 − 1)");
  uint32_t maxKey = 0;
  if (keySpace_) {
    Require(keys.size == n, codes::kInvalidLength, "keys are required: one id per timestamp");
    maxKey = keySpace_->CheckLive(keys);  // one pass: every id live, and the largest
  } else {
    for (size_t i = 0; i < keys.size; ++i) maxKey = std::max(maxKey, keys[i]);
    if (options_.maxKeys != 0) Require(maxKey < options_.maxKeys, codes::kOutOfRange, "a key is >= maxKeys");
    else Require(maxKey < options_.keyCount, codes::kOutOfRange, "a key is >= keyCount");
  }
  if (options_.kind != WindowKind::kSession) CheckPanesFit(timestamps);
  if (maxKey >= options_.keyCount) {  // grow by doubling: amortised O(1) per key, nothing per event
    uint64_t grown = options_.keyCount;
    while (grown <= maxKey) grown *= 2;
    ResizeKeys(static_cast<uint32_t>(std::min<uint64_t>(grown, KeyLimit())));
  }

  size_t lateCount = 0;
  const double updatingBefore = metrics_.updating;
  if (options_.kind == WindowKind::kSession) {
    PushSessions(timestamps, keys, values, lateOut.data, &lateCount);
  } else {
    if (lean_) PushPanes<T, LeanAccumulator>(timestamps, keys, values, lateOut.data, &lateCount);
    else PushPanes<T, TimedAccumulator>(timestamps, keys, values, lateOut.data, &lateCount);
  }
  metrics_.late += static_cast<double>(lateCount);
  metrics_.onTime += static_cast<double>(n - lateCount) - (metrics_.updating - updatingBefore);
  if (keySpace_) {
    keySpace_->Touch(timestamps, keys);
    metrics_.liveKeys = static_cast<double>(keySpace_->live());
  }
  if (tracking_) {  // every key of the batch changed (cells, or its latest event time)
    if (keys.size == 0) MarkChanged(0);
    for (size_t i = 0; i < keys.size; ++i) MarkChanged(keys[i]);
  }
  return lateCount;
}

template size_t EventTimeWindows::Push<double>(Span<const double>, Span<const uint32_t>, Span<const double>, Span<uint32_t>);
template size_t EventTimeWindows::Push<float>(Span<const double>, Span<const uint32_t>, Span<const float>, Span<uint32_t>);

size_t EventTimeWindows::AdvanceWatermark(double watermark) {
  Require(!std::isnan(watermark) && watermark != kInfinity, codes::kInvalidArgument,
          "watermark must be a number below +Infinity (use flush() at end of stream)");
  if (watermark < watermark_) metrics_.ignoredWatermarks += 1;
  advancedSinceCheckpoint_ = true;
  fired_.Clear();  // first: keys expiring now may then fit the emptied columns too
  FitFired();
  ExpireIdleKeys(watermark);
  if (options_.kind == WindowKind::kSession) FireSessions(watermark);
  else FirePanes(watermark);
  return fired_.size();
}

size_t EventTimeWindows::Flush() {
  advancedSinceCheckpoint_ = true;
  fired_.Clear();
  FitFired();
  ExpireIdleKeys(kInfinity);
  if (options_.kind == WindowKind::kSession) FireSessions(kInfinity);
  else FirePanes(kInfinity);
  return fired_.size();
}

size_t EventTimeWindows::MemoryBytes() const {
  size_t bytes = cellIndex_.MemoryBytes() + sortedCells_.capacity() * sizeof(uint32_t) + (order_.capacity() + radixScratch_.capacity()) * 8;
  bytes += (slotPane_.capacity() + livePanes_.capacity() + paneScratch_.capacity()) * 8 +
           displaced_.capacity() * sizeof(displaced_[0]) + keyTally_.capacity() * sizeof(uint32_t);
  auto add = [&bytes](const auto& buffers) {
    for (const auto& buffer : buffers) bytes += buffer.capacity() * sizeof(buffer[0]);
  };
  add(paneSlots_);
  add(leanPaneSlots_);
  add(suffixes_);
  add(leanSuffixes_);
  add(suffixEvents_);
  std::apply([&](const auto&... spares) { (add(spares), ...); }, spares_);
  bytes += (keyEpoch_.capacity() + keyCells_.capacity()) * 4 + (frontEnd_.capacity() + frontCursor_.capacity() + backEvents_.capacity()) * 8 +
           back_.capacity() * sizeof(TimedAccumulator) + leanBack_.capacity() * sizeof(LeanAccumulator) + keyBits_.capacity() * 8;
  bytes += sessionHead_.capacity() * sizeof(int32_t) + dueSessions_.Bytes() + cleanupSessions_.Bytes();
  bytes += sessionCells_.capacity() * sizeof(Cell) + sessions_.capacity() * sizeof(Session) +
           sessionAccumulators_.capacity() * sizeof(TimedAccumulator);
  if (keySpace_) bytes += keySpace_->MemoryBytes() + keyIds_.capacity() * 4;
  if (sketches_) {
    auto addCells = [&bytes](const std::vector<SketchCell>& cells) {
      for (const SketchCell& cell : cells) bytes += cell.MemoryBytes();
    };
    for (const SketchPane& pane : paneSketches_) addCells(pane.cells);
    for (const SketchPane& pane : spareSketches_) addCells(pane.cells);
    addCells(sessionSketches_);
    bytes += windowSketch_.MemoryBytes() + (paneSketches_.capacity() + spareSketches_.capacity()) * sizeof(SketchPane);
  }
  bytes += fired_.keys.capacity() * 4 + (fired_.starts.capacity() + fired_.ends.capacity() + fired_.counts.capacity() +
                                         fired_.values.capacity()) * 8 + fired_.updates.capacity();
  return bytes;
}

}  // namespace sluice

#include "windows/event_time_windows.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/snapshot.h"

namespace sluice {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kMaxTimestamp = 9007199254740991.0;  // 2^53 − 1: timestamps are integral units
constexpr int64_t kBeforeAll = -(int64_t{1} << 62);   // window / pane index sentinels beyond any real one
constexpr int64_t kAfterAll = int64_t{1} << 62;

int64_t ClampIndex(double x) {
  if (!(x > -4.0e18)) return kBeforeAll;  // also −Infinity
  if (x > 4.0e18) return kAfterAll;
  return static_cast<int64_t>(x);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

bool IsWholeNumber(double x, double max) { return std::isfinite(x) && std::floor(x) == x && std::fabs(x) <= max; }

constexpr double kMaxDuration = 1099511627776.0;  // 2^40 time units (≈ 35 years of milliseconds)

void CheckOptions(const EventTimeWindowsOptions& o) {
  Require(o.keyCount >= 1 && o.keyCount <= (1u << 28), codes::kOutOfRange, "keyCount must be in [1, 268435456]");
  Require(o.channels >= 1 && o.channels <= 1024, codes::kOutOfRange, "channels must be in [1, 1024]");
  Require(!o.aggregates.empty() && o.aggregates.size() <= 64, codes::kInvalidArgument, "aggregates: 1 to 64 names");
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
    Require(static_cast<double>(ringPanes_) * options.keyCount <= 4294967296.0, codes::kOutOfRange,
            "keyCount × ring panes exceeds 2^32 slot indices (16 GiB); lower horizon or keyCount");
    slotOf_.assign(static_cast<size_t>(ringPanes_) * options.keyCount, 0);
    slotPane_.assign(ringPanes_, kNoPane);
    livePanes_.reserve(ringPanes_);
    displaced_.reserve(ringPanes_);
    if (panesPerWindow_ > 1) keyTally_.assign(options.keyCount, 0);

    lean_ = std::all_of(options.aggregates.begin(), options.aggregates.end(), [](Aggregate a) {
      return a == Aggregate::kCount || a == Aggregate::kSum || a == Aggregate::kMean || a == Aggregate::kMin || a == Aggregate::kMax;
    });
    paneSlots_.resize(ringPanes_);
    leanPaneSlots_.resize(ringPanes_);
    sortedCells_.assign(ringPanes_, 0);
    twoStacks_ = panesPerWindow_ > kPaneMergeLimit;
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
  for (size_t i = 0; i < keys.size; ++i) maxKey = std::max(maxKey, keys[i]);
  Require(maxKey < options_.keyCount, codes::kOutOfRange, "a key is >= keyCount");
  if (options_.kind != WindowKind::kSession) CheckPanesFit(timestamps);

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
  return lateCount;
}

void EventTimeWindows::CheckPanesFit(Span<const double> ts) {
  // The panes that non-late events land in, with the live ones, must fit in the ring's slots.
  const double lateBelowTime = lateBelow_ == kBeforeAll ? -kInfinity
                               : lateBelow_ == kAfterAll ? kInfinity
                                                         : options_.offset + static_cast<double>(lateBelow_) * paneSize_;
  double lo = kInfinity, hi = -kInfinity;
  for (size_t i = 0; i < ts.size; ++i) {
    const double t = ts[i];
    if (t >= lateBelowTime) {
      lo = t < lo ? t : lo;
      hi = t > hi ? t : hi;
    }
  }
  if (lo > hi) return;
  const int64_t ring = ringPanes_, live = static_cast<int64_t>(livePanes_.size());
  const int64_t low = PaneOf(lo), high = PaneOf(hi);
  // Usually cheap: everything spans fewer panes than the ring, or the batch's span fits beside the live panes.
  if (high - low + live < ring) return;
  if (live > 0 && std::max(high, livePanes_.back()) - std::min(low, livePanes_.front()) < ring) return;
  // Exact: count the distinct panes that the batch would add (after a pause, the old and new panes are apart).
  paneScratch_.clear();
  for (size_t i = 0; i < ts.size; ++i) {
    if (ts[i] < lateBelowTime) continue;
    const int64_t p = PaneOf(ts[i]);
    if (SlotOf(p) == kNoSlot) paneScratch_.push_back(p);
  }
  std::sort(paneScratch_.begin(), paneScratch_.end());
  const int64_t added = std::unique(paneScratch_.begin(), paneScratch_.end()) - paneScratch_.begin();
  Require(live + added <= ring, codes::kOutOfRange,
          "events would keep more distinct panes of gcd(size, slide) alive at once than the ring holds "
          "(ringPanes, from size + allowedLateness + horizon): advance the watermark more often or raise `horizon`");
}

uint32_t EventTimeWindows::DisplacedSlotOf(int64_t p) const {
  auto it = std::lower_bound(displaced_.begin(), displaced_.end(), std::make_pair(p, uint32_t{0}));
  return it != displaced_.end() && it->first == p ? it->second : kNoSlot;
}

uint32_t EventTimeWindows::TakeSlot(int64_t p) {
  Require(livePanes_.size() < ringPanes_, codes::kOutOfRange, "internal: no free ring slot");  // CheckPanesFit ensures one
  const uint32_t mask = ringPanes_ - 1, home = static_cast<uint32_t>(p & mask);
  uint32_t slot = home;
  if (slotPane_[home] != kNoPane) {
    do slot = (slot + 1) & mask;
    while (slotPane_[slot] != kNoPane);
    displaced_.insert(std::lower_bound(displaced_.begin(), displaced_.end(), std::make_pair(p, uint32_t{0})), std::make_pair(p, slot));
  }
  slotPane_[slot] = p;
  if (livePanes_.empty() || p > livePanes_.back()) livePanes_.push_back(p);
  else livePanes_.insert(std::upper_bound(livePanes_.begin(), livePanes_.end(), p), p);
  return slot;
}

void EventTimeWindows::ReleaseSlot(int64_t p) {
  const uint32_t slot = SlotOf(p);
  Recycle(paneSlots_[slot]);
  Recycle(leanPaneSlots_[slot]);
  sortedCells_[slot] = 0;
  if (twoStacks_) {
    Recycle(suffixes_[slot]);
    Recycle(leanSuffixes_[slot]);
    Recycle(suffixEvents_[slot]);
  }
  slotPane_[slot] = kNoPane;
  if (slot != static_cast<uint32_t>(p & (ringPanes_ - 1))) {
    displaced_.erase(std::lower_bound(displaced_.begin(), displaced_.end(), std::make_pair(p, uint32_t{0})));
  }
}

void EventTimeWindows::ResetRing() {
  while (!livePanes_.empty()) {
    ReleaseSlot(livePanes_.back());
    livePanes_.pop_back();
  }
}

template <typename T, typename Acc>
void EventTimeWindows::PushPanes(Span<const double> ts, Span<const uint32_t> keys, Span<const T> values,
                                 uint32_t* lateOut, size_t* lateCount) {
  const size_t n = ts.size, channels = channels_, keyCount = options_.keyCount;
  const int64_t mask = ringPanes_ - 1;
  const bool keyed = keys.size != 0;
  const double offset = options_.offset, g = static_cast<double>(paneSize_), inverse = 1.0 / g;
  const int64_t onTimeFrom = onTimeFrom_, lateBelow = lateBelow_;
  std::vector<std::vector<PaneSlot<Acc>>>& paneSlots = PaneSlots<Acc>();
  const int64_t* slotPane = slotPane_.data();  // fixed size: TakeSlot changes entries, never the buffer
  // The cell of `key` in ring pane `ring`, or null: slot indices are not reset, so the cell's key confirms.
  auto cellOf = [&](size_t ring, uint32_t key) -> PaneSlot<Acc>* {
    const size_t cell = slotOf_[ring * keyCount + key];
    std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
    return cell * channels < slots.size() && slots[cell * channels].key == key ? &slots[cell * channels] : nullptr;
  };
  size_t late = 0;
  auto paneOf = [&](double t) {
    const double x = t - offset;
    // Truncate x / g (a multiply; no libm floor call on baseline x86-64), then correct by one either way:
    // exact for |x| < 2^53.
    double q = static_cast<double>(static_cast<int64_t>(x * inverse));
    if (q * g > x) q -= 1;
    else if ((q + 1) * g <= x) q += 1;
    return static_cast<int64_t>(q);
  };
  // Keys are random: look up the cell of event i + kAhead now and prefetch it, so the cache misses of
  // several events overlap instead of queuing.
  // Two stages: the slot index of event i + 2·kAhead (large key spaces: the slot rows leave the cache), then
  // the cell of event i + kAhead. Each event's pane is computed once, at the first stage, and kept.
  constexpr size_t kAhead = 8, kPanes = 2 * kAhead;
  int64_t panes[kPanes];  // the panes of events i … i + 2·kAhead − 1
  for (size_t i = 0; i < kPanes && i < n; ++i) panes[i] = paneOf(ts[i]);
  for (size_t i = 0; i < n; ++i) {
    const int64_t p = panes[i % kPanes];
    if (i + kPanes < n) {
      const int64_t pAhead = paneOf(ts[i + kPanes]);
      panes[i % kPanes] = pAhead;
      __builtin_prefetch(&slotOf_[static_cast<size_t>(pAhead & mask) * keyCount + (keyed ? keys[i + kPanes] : 0)]);
    }
    if (i + kAhead < n) {
      const size_t ahead = static_cast<size_t>(panes[(i + kAhead) % kPanes] & mask);
      const size_t cell = slotOf_[ahead * keyCount + (keyed ? keys[i + kAhead] : 0)];
      if (cell * channels < paneSlots[ahead].size()) __builtin_prefetch(&paneSlots[ahead][cell * channels], 1);
    }
    const double t = ts[i];
    const uint32_t key = keyed ? keys[i] : 0;
    if (p < onTimeFrom) {
      if (p < lateBelow) {
        lateOut[late++] = static_cast<uint32_t>(i);
        continue;
      }
      // Allowed lateness: fire again every fired, unpurged window that holds this pane.
      const int64_t kFirst = std::max(FloorDiv(p - panesPerWindow_ + panesPerSlide_, panesPerSlide_), purgedThrough_ + 1);
      const int64_t kLast = std::min(FloorDiv(p, panesPerSlide_), firedThrough_);
      for (int64_t k = kFirst; k <= kLast; ++k) {
        // Whether the key already had data in window k (so it fired for this key): then this is an update.
        bool existed = false;
        for (int64_t q = k * panesPerSlide_; q < k * panesPerSlide_ + panesPerWindow_ && !existed; ++q) {
          const uint32_t slot = SlotOf(q);
          existed = slot != kNoSlot && cellOf(slot, key) != nullptr;
        }
        pendingUpdates_.emplace_back(k, uint64_t{key} << 1 | (existed ? 1 : 0));
      }
      if (kFirst <= kLast) metrics_.updating += 1;
      stacksValid_ = false;  // a cell of an entered pane changes: Two-Stacks state is rebuilt
    }
    // The pane's slot: its home slot p mod ring unless a pause or jump put it elsewhere, or a new one.
    size_t ring = static_cast<size_t>(p & mask);
    if (slotPane[ring] != p) {
      const uint32_t slot = SlotOf(p);
      ring = slot != kNoSlot ? slot : TakeSlot(p);
    }
    PaneSlot<Acc>* cell = cellOf(ring, key);
    if (!cell) {
      std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
      if (slots.empty()) Reuse(slots);
      slotOf_[ring * keyCount + key] = static_cast<uint32_t>(slots.size() / channels);
      slots.resize(slots.size() + channels);
      cell = &slots[slots.size() - channels];
      cell->key = key;
    }
    cell->events += 1;
    const T* v = values.data + i * channels;
    for (size_t c = 0; c < channels; ++c) cell[c].acc.Add(static_cast<double>(v[c]), t);
  }
  *lateCount = late;
}

int32_t EventTimeWindows::AllocateSession() {
  int32_t index = freeSession_;
  if (index >= 0) {
    freeSession_ = sessionCells_[index].next;
  } else {
    Require(sessionCells_.size() < static_cast<size_t>(INT32_MAX), codes::kOutOfRange, "too many open sessions");
    index = static_cast<int32_t>(sessionCells_.size());
    sessionCells_.emplace_back();
    sessions_.emplace_back();
    sessionAccumulators_.resize(sessionCells_.size() * channels_);
  }
  for (size_t c = 0; c < channels_; ++c) sessionAccumulators_[static_cast<size_t>(index) * channels_ + c] = TimedAccumulator();
  return index;
}

void EventTimeWindows::FreeSession(int32_t index) {
  sessionCells_[index].next = freeSession_;
  freeSession_ = index;
  sessions_[index].stamp += 1;
}

void EventTimeWindows::TimerBuckets::Add(const SessionTimer& timer) {
  const int64_t index = ClampIndex(std::floor(timer.time / width_));
  if (!last_ || index != lastIndex_) {
    auto [it, inserted] = buckets_.try_emplace(index);
    if (inserted && !spare_.empty()) {
      it->second = std::move(spare_.back());
      spare_.pop_back();
    }
    last_ = &it->second;
    lastIndex_ = index;
  }
  last_->push_back(timer);
}

template <typename Next>
void EventTimeWindows::TimerBuckets::Take(double limit, Next&& next) {
  carry_.clear();
  while (!buckets_.empty() && static_cast<double>(buckets_.begin()->first) * width_ <= limit) {
    auto it = buckets_.begin();
    if (last_ == &it->second) last_ = nullptr;
    std::vector<SessionTimer> bucket = std::move(it->second);
    buckets_.erase(it);
    for (const SessionTimer& timer : bucket) {
      if (timer.time > limit) {
        carry_.push_back(timer);
        continue;
      }
      const double time = next(timer);
      if (!std::isnan(time)) carry_.push_back(SessionTimer{time, timer.record, timer.stamp});
    }
    bucket.clear();
    spare_.push_back(std::move(bucket));
  }
  for (const SessionTimer& timer : carry_) Add(timer);
}

template <typename Callback>
void EventTimeWindows::TimerBuckets::ForEachUpTo(double limit, Callback&& visit) const {
  for (auto it = buckets_.begin(); it != buckets_.end() && static_cast<double>(it->first) * width_ <= limit; ++it) {
    for (const SessionTimer& timer : it->second) {
      if (timer.time <= limit) visit(timer);
    }
  }
}

void EventTimeWindows::TimerBuckets::Clear() {
  for (auto& [index, bucket] : buckets_) {
    bucket.clear();
    spare_.push_back(std::move(bucket));
  }
  buckets_.clear();
  last_ = nullptr;
}

size_t EventTimeWindows::TimerBuckets::Bytes() const {
  size_t bytes = carry_.capacity() * sizeof(SessionTimer);
  for (const auto& [index, bucket] : buckets_) bytes += bucket.capacity() * sizeof(SessionTimer) + 64;
  for (const auto& bucket : spare_) bytes += bucket.capacity() * sizeof(SessionTimer);
  return bytes;
}

void EventTimeWindows::AddTimer(TimerBuckets& timers, double time, int32_t record) {
  timers.Add(SessionTimer{time, record, sessions_[record].stamp});
}

void EventTimeWindows::QueueDue(int32_t record) {
  Session& s = sessions_[record];
  if (s.due) return;
  s.due = 1;
  AddTimer(dueSessions_, s.end, record);
}

template <typename T>
void EventTimeWindows::PushSessions(Span<const double> ts, Span<const uint32_t> keys, Span<const T> values,
                                    uint32_t* lateOut, size_t* lateCount) {
  const size_t n = ts.size, channels = channels_;
  const double gap = options_.gap, lateness = options_.allowedLateness, wm = watermark_;
  size_t late = 0;
  for (size_t i = 0; i < n; ++i) {
    const double t = ts[i], end = t + gap;
    const uint32_t key = keys.size ? keys[i] : 0;
    // The key's sessions are disjoint and sorted by start (hence by end): skip those ending before t.
    int32_t previous = -1, current = sessionHead_[key];
    while (current >= 0 && sessions_[current].end < t) {
      previous = current;
      current = sessionCells_[current].next;
    }
    int32_t target;
    if (current >= 0 && sessions_[current].start <= end) {
      target = current;
      Session& s = sessions_[target];
      // Absorb every following session that the new one [t, t + gap) bridges to.
      int32_t next = sessionCells_[target].next;
      while (next >= 0 && sessions_[next].start <= end) {
        const int32_t after = sessionCells_[next].next;
        s.end = std::max(s.end, sessions_[next].end);
        s.fired |= sessions_[next].fired;
        s.dirty |= sessions_[next].dirty;
        if (sessions_[next].fired && !s.cleanup) {  // the merged session takes over the purge timer
          s.cleanup = 1;
          AddTimer(cleanupSessions_, s.end - 1 + lateness, target);
        }
        sessionCells_[target].events += sessionCells_[next].events;
        for (size_t c = 0; c < channels; ++c) {
          sessionAccumulators_[static_cast<size_t>(target) * channels + c].Merge(
              sessionAccumulators_[static_cast<size_t>(next) * channels + c]);
        }
        FreeSession(next);
        next = after;
      }
      sessionCells_[target].next = next;
      s.start = std::min(s.start, t);
      s.end = std::max(s.end, end);
    } else {
      if (end - 1 + lateness <= wm) {  // a new session that is already past its cleanup time
        lateOut[late++] = static_cast<uint32_t>(i);
        continue;
      }
      target = AllocateSession();  // may move the pools: take references only after this
      Session& fresh = sessions_[target];
      fresh.start = t;
      fresh.end = end;
      fresh.fired = fresh.dirty = fresh.due = fresh.cleanup = 0;  // the stamp stays: it outlives the record
      sessionCells_[target] = Cell{key, current, 0};
      if (previous >= 0) sessionCells_[previous].next = target;
      else sessionHead_[key] = target;
    }
    Session& s = sessions_[target];
    if (s.fired) {
      s.dirty = 1;
      metrics_.updating += 1;
    } else if (s.end - 1 <= wm) {
      metrics_.updating += 1;  // fires at the next advance although its end has passed (allowed lateness)
    }
    if (!s.fired || s.dirty) QueueDue(target);
    sessionCells_[target].events += 1;
    TimedAccumulator* acc = &sessionAccumulators_[static_cast<size_t>(target) * channels];
    const T* v = values.data + i * channels;
    for (size_t c = 0; c < channels; ++c) acc[c].Add(static_cast<double>(v[c]), t);
  }
  *lateCount = late;
}

template size_t EventTimeWindows::Push<double>(Span<const double>, Span<const uint32_t>, Span<const double>, Span<uint32_t>);
template size_t EventTimeWindows::Push<float>(Span<const double>, Span<const uint32_t>, Span<const float>, Span<uint32_t>);

// ---- firing -------------------------------------------------------------------------------------------

template <typename Acc>
void EventTimeWindows::EmitWindow(uint32_t key, double start, double end, double events, const Acc* cells, bool update) {
  fired_.keys.push_back(key);
  fired_.starts.push_back(start);
  fired_.ends.push_back(end);
  fired_.counts.push_back(events);
  fired_.updates.push_back(update ? 1 : 0);
  for (size_t c = 0; c < channels_; ++c) {
    const Summary s = cells[c].ToSummary();
    for (Aggregate a : options_.aggregates) fired_.values.push_back(Finalize(a, s));
  }
  metrics_.firedWindows += 1;
  if (update) metrics_.updateFirings += 1;
}

// Sorts a pane's cells by key, in place (cells and accumulators move together; slot indices follow), so
// that windows merge their panes as sorted runs: sequential reads, keys in order, no per-window sort.
// Cells appended after a sort (late updates) make it sort again.
template <typename Acc>
void EventTimeWindows::SortPane(size_t ring) {
  std::vector<PaneSlot<Acc>>& slots = PaneSlots<Acc>()[ring];
  const size_t channels = channels_, n = slots.size() / channels, keyCount = options_.keyCount;
  if (sortedCells_[ring] == n) return;
  auto keyOf = [&](size_t cell) { return slots[cell * channels].key; };
  order_.clear();
  if (keyCount <= 8 * n) {
    // Dense keys: walking the pane's slot row in key order lists its cells already sorted, in O(keys).
    const uint32_t* row = &slotOf_[ring * keyCount];
    for (size_t key = 0; key < keyCount; ++key) {
      const uint32_t cell = row[key];
      if (cell < n && keyOf(cell) == key) order_.push_back(cell);
    }
  } else {
    for (size_t j = 0; j < n; ++j) order_.push_back(uint64_t{keyOf(j)} << 32 | j);
    std::sort(order_.begin(), order_.end());
  }
  if (panesPerWindow_ == 1) return;  // tumbling: the pane's only window reads it once, through order_
  // Apply the permutation cycle by cycle: position j receives the cell at index order_[j] (low 32 bits).
  constexpr uint64_t kDone = uint64_t{1} << 63;
  std::vector<PaneSlot<Acc>> held(channels);
  for (size_t start = 0; start < n; ++start) {
    if (order_[start] & kDone) continue;
    std::copy(&slots[start * channels], &slots[start * channels] + channels, held.begin());
    size_t j = start;
    for (;;) {
      const size_t source = static_cast<uint32_t>(order_[j]);
      order_[j] |= kDone;
      if (source == start) {
        std::copy(held.begin(), held.end(), &slots[j * channels]);
        break;
      }
      std::copy(&slots[source * channels], &slots[source * channels] + channels, &slots[j * channels]);
      j = source;
    }
  }
  for (size_t j = 0; j < n; ++j) slotOf_[ring * keyCount + keyOf(j)] = static_cast<uint32_t>(j);
  sortedCells_[ring] = static_cast<uint32_t>(n);
}

// Fires window k for every key with data in it, in ascending key order: a merge of its panes' sorted runs.
// Each key's window is the merge of its (at most size / gcd) pane cells, in time order.
template <typename Acc>
void EventTimeWindows::FirePaneWindow(int64_t k) {
  const size_t channels = channels_;
  const int64_t firstPane = k * panesPerSlide_, lastPane = firstPane + panesPerWindow_ - 1;
  struct Run {
    const PaneSlot<Acc>* slots;  // sorted by key, `channels` slots per cell
    size_t end, at;              // in slots
  };
  const double start = options_.offset + static_cast<double>(k) * options_.slide;
  const double end = start + options_.size;
  if (panesPerWindow_ == 1) {
    // Tumbling windows read each pane once: emit its cells in key order without moving them.
    const uint32_t ring = SlotOf(firstPane);
    if (ring == kNoSlot) return;  // the pane was purged or never had data
    const std::vector<PaneSlot<Acc>>& slots = PaneSlots<Acc>()[ring];
    if (slots.empty()) return;
    sortedCells_[ring] = 0;  // order_ is the order; the cells stay where they are
    SortPane<Acc>(ring);
    std::vector<Acc> cell(channels);
    for (uint64_t o : order_) {
      const PaneSlot<Acc>* slot = &slots[static_cast<uint32_t>(o) * channels];
      for (size_t c = 0; c < channels; ++c) cell[c] = slot[c].acc;
      EmitWindow(slot->key, start, end, slot->events, cell.data(), false);
    }
    return;
  }
  std::vector<Run> runs;
  for (int64_t p = firstPane; p <= lastPane; ++p) {
    const uint32_t ring = SlotOf(p);
    if (ring == kNoSlot || PaneSlots<Acc>()[ring].empty()) continue;
    SortPane<Acc>(ring);
    runs.push_back(Run{PaneSlots<Acc>()[ring].data(), PaneSlots<Acc>()[ring].size(), 0});
  }
  std::vector<Acc> merged(channels);
  for (;;) {
    uint32_t key = UINT32_MAX;
    bool any = false;
    for (const Run& r : runs) {
      if (r.at < r.end && r.slots[r.at].key <= key) {
        key = r.slots[r.at].key;
        any = true;
      }
    }
    if (!any) break;
    std::fill(merged.begin(), merged.end(), Acc());
    double events = 0;
    for (Run& r : runs) {
      if (r.at < r.end && r.slots[r.at].key == key) {
        events += r.slots[r.at].events;
        for (size_t c = 0; c < channels; ++c) merged[c].Merge(r.slots[r.at + c].acc);
        r.at += channels;
      }
    }
    EmitWindow(key, start, end, events, merged.data(), false);
  }
}

// Fires window k with Two-Stacks per key (see the header). Windows come in order k, k + 1, …; anything else
// (a gap, a late update, a restore) rebuilds the state for window k from the cells.
template <typename Acc>
void EventTimeWindows::FireTwoStacksWindow(int64_t k) {
  const size_t channels = channels_, keyCount = options_.keyCount;
  const int64_t first = k * panesPerSlide_, last = first + panesPerWindow_ - 1;
  std::vector<std::vector<PaneSlot<Acc>>>& paneSlots = PaneSlots<Acc>();
  std::vector<Acc>& back = BackAccumulators<Acc>();
  std::vector<std::vector<Acc>>& suffixes = Suffixes<Acc>();
  // The key's cell in pane q (stored), or null.
  auto cellAt = [&](int64_t q, uint32_t key) -> const PaneSlot<Acc>* {
    const uint32_t ring = SlotOf(q);
    if (ring == kNoSlot) return nullptr;
    const size_t cell = slotOf_[ring * keyCount + key];
    const std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
    return cell * channels < slots.size() && slots[cell * channels].key == key ? &slots[cell * channels] : nullptr;
  };
  auto touch = [&](uint32_t key) {
    if (keyEpoch_[key] == epoch_) return;
    keyEpoch_[key] = epoch_;
    keyCells_[key] = 0;
    frontEnd_[key] = kBeforeAll;
    frontCursor_[key] = kBeforeAll;
    backEvents_[key] = 0;
    std::fill(&back[key * channels], &back[key * channels] + channels, Acc());
  };
  if (!stacksValid_ || k != nextWindow_) {
    ++epoch_;
    std::fill(keyBits_.begin(), keyBits_.end(), 0);
    enteredHigh_ = first - 1;
    stacksValid_ = true;
  }
  // Enter the panes new to this window: membership counts and the back stack.
  for (int64_t q = std::max(enteredHigh_ + 1, first); q <= last; ++q) {
    const uint32_t ring = SlotOf(q);
    if (ring == kNoSlot) continue;
    const std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
    for (size_t j = 0; j < slots.size(); j += channels) {
      const uint32_t key = slots[j].key;
      touch(key);
      if (keyCells_[key]++ == 0) keyBits_[key >> 6] |= uint64_t{1} << (key & 63);
      backEvents_[key] += slots[j].events;
      for (size_t c = 0; c < channels; ++c) back[key * channels + c].Merge(slots[j + c].acc);
    }
  }
  enteredHigh_ = last;
  // Query every key with cells in the window, in key order: front (suffix from its first cell ≥ first) ⊕ back.
  const double start = options_.offset + static_cast<double>(k) * options_.slide;
  const double end = start + options_.size;
  std::vector<Acc> result(channels), running(channels);
  for (size_t word = 0; word < keyBits_.size(); ++word) {
    for (uint64_t bits = keyBits_[word]; bits; bits &= bits - 1) {
      const uint32_t key = static_cast<uint32_t>(word * 64 + __builtin_ctzll(bits));
      int64_t q = std::max(frontCursor_[key], first);
      while (q <= frontEnd_[key] && !cellAt(q, key)) ++q;  // evict cells that left the window
      if (q > frontEnd_[key]) {
        // Flip: the front becomes the key's cells in [first, last] with suffix aggregates; the back empties.
        std::fill(running.begin(), running.end(), Acc());
        double runningEvents = 0;
        int64_t firstCell = last + 1;
        for (int64_t p = last; p >= first; --p) {
          const PaneSlot<Acc>* cell = cellAt(p, key);
          if (!cell) continue;
          const size_t ring = SlotOf(p);
          const size_t index = static_cast<size_t>(cell - paneSlots[ring].data()) / channels;
          if (suffixes[ring].size() < paneSlots[ring].size()) {
            Reuse(suffixes[ring]);
            Reuse(suffixEvents_[ring]);
            suffixes[ring].resize(paneSlots[ring].size());
            suffixEvents_[ring].resize(paneSlots[ring].size() / channels);
          }
          for (size_t c = 0; c < channels; ++c) {
            Acc merged = cell[c].acc;
            merged.Merge(running[c]);
            running[c] = merged;
            suffixes[ring][index * channels + c] = merged;
          }
          runningEvents += cell->events;
          suffixEvents_[ring][index] = runningEvents;
          firstCell = p;
        }
        frontEnd_[key] = last;
        backEvents_[key] = 0;
        std::fill(&back[key * channels], &back[key * channels] + channels, Acc());
        q = firstCell;
      }
      frontCursor_[key] = q;
      double events = backEvents_[key];
      std::fill(result.begin(), result.end(), Acc());
      if (q <= frontEnd_[key]) {
        const size_t ring = SlotOf(q);
        const size_t index = static_cast<size_t>(cellAt(q, key) - paneSlots[ring].data()) / channels;
        for (size_t c = 0; c < channels; ++c) result[c] = suffixes[ring][index * channels + c];
        events += suffixEvents_[ring][index];
      }
      for (size_t c = 0; c < channels; ++c) result[c].Merge(back[key * channels + c]);
      EmitWindow(key, start, end, events, result.data(), false);
    }
  }
  // Leave the panes that the next window does not hold.
  for (int64_t q = first; q < first + panesPerSlide_ && q <= last; ++q) {
    const uint32_t ring = SlotOf(q);
    if (ring == kNoSlot) continue;
    const std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
    for (size_t j = 0; j < slots.size(); j += channels) {
      const uint32_t key = slots[j].key;
      if (--keyCells_[key] == 0) keyBits_[key >> 6] &= ~(uint64_t{1} << (key & 63));
    }
  }
  nextWindow_ = k + 1;
}

// Updates of fired windows, in (window, key) order: each merges the key's cells of that window directly.
void EventTimeWindows::NormalizePendingUpdates() {
  // Sorted by (window, key, existed): of one (window, key) the first entry says whether it fired before.
  std::sort(pendingUpdates_.begin(), pendingUpdates_.end());
  pendingUpdates_.erase(std::unique(pendingUpdates_.begin(), pendingUpdates_.end(),
                                    [](const auto& a, const auto& b) { return a.first == b.first && a.second >> 1 == b.second >> 1; }),
                        pendingUpdates_.end());
}

template <typename Acc>
void EventTimeWindows::FirePaneUpdates() {
  NormalizePendingUpdates();
  const size_t channels = channels_;
  std::vector<std::vector<PaneSlot<Acc>>>& paneSlots = PaneSlots<Acc>();
  std::vector<Acc> merged(channels);
  for (size_t i = 0; i < pendingUpdates_.size();) {
    const int64_t k = pendingUpdates_[i].first;
    const double start = options_.offset + static_cast<double>(k) * options_.slide;
    const double end = start + options_.size;
    const int64_t firstPane = k * panesPerSlide_, lastPane = firstPane + panesPerWindow_ - 1;
    for (; i < pendingUpdates_.size() && pendingUpdates_[i].first == k; ++i) {
      const uint32_t key = static_cast<uint32_t>(pendingUpdates_[i].second >> 1);
      const bool firedBefore = pendingUpdates_[i].second & 1;
      std::fill(merged.begin(), merged.end(), Acc());
      double events = 0;
      for (int64_t p = firstPane; p <= lastPane; ++p) {
        const uint32_t ring = SlotOf(p);
        if (ring == kNoSlot) continue;
        const size_t cell = slotOf_[ring * options_.keyCount + key];
        const std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
        if (!(cell * channels < slots.size() && slots[cell * channels].key == key)) continue;
        events += slots[cell * channels].events;
        for (size_t c = 0; c < channels; ++c) merged[c].Merge(slots[cell * channels + c].acc);
      }
      EmitWindow(key, start, end, events, merged.data(), firedBefore);
    }
  }
  pendingUpdates_.clear();
}

void EventTimeWindows::FirePanes(double newWatermark) {
  // 1. Updates of fired windows (their ends are ≤ the old watermark + 1, so they come first in (end, key)).
  if (!pendingUpdates_.empty()) {
    if (lean_) FirePaneUpdates<LeanAccumulator>();
    else FirePaneUpdates<TimedAccumulator>();
  }
  if (newWatermark <= watermark_) return;
  // 2. Windows whose end − 1 ≤ newWatermark, only those that hold data (a jump costs no empty windows).
  ForEachWindowToFire(LastWindowEndingBy(newWatermark, 0), [this](int64_t k) {
    if (twoStacks_ && lean_) FireTwoStacksWindow<LeanAccumulator>(k);
    else if (twoStacks_) FireTwoStacksWindow<TimedAccumulator>(k);
    else if (lean_) FirePaneWindow<LeanAccumulator>(k);
    else FirePaneWindow<TimedAccumulator>(k);
  });
  watermark_ = newWatermark;
  UpdateThresholds();
  // 3. Purge panes whose every window is past its cleanup time: their slots are free again.
  size_t purged = 0;
  while (purged < livePanes_.size() && livePanes_[purged] < lateBelow_) ReleaseSlot(livePanes_[purged++]);
  livePanes_.erase(livePanes_.begin(), livePanes_.begin() + static_cast<std::ptrdiff_t>(purged));
}

template <typename Fire>
void EventTimeWindows::ForEachWindowToFire(int64_t through, Fire&& fire) const {
  // The windows holding pane p are FloorDiv(p − perWindow + perSlide, perSlide) … FloorDiv(p, perSlide): both
  // ends grow with p, so walking the live panes in order yields each window once, in increasing order.
  int64_t next = firedThrough_ + 1;
  for (size_t i = 0; i < livePanes_.size(); ++i) {
    const int64_t p = livePanes_[i];
    const int64_t firstWindow = FloorDiv(p - panesPerWindow_ + panesPerSlide_, panesPerSlide_);
    if (firstWindow > through) break;
    const int64_t to = std::min(through, FloorDiv(p, panesPerSlide_));
    for (int64_t k = std::max(next, firstWindow); k <= to; ++k) fire(k);
    next = std::max(next, to + 1);
  }
}

template <typename Acc>
size_t EventTimeWindows::CountPaneWindows(int64_t through) {
  const size_t channels = channels_;
  const std::vector<std::vector<PaneSlot<Acc>>>& paneSlots = PaneSlots<Acc>();
  size_t count = 0;
  if (panesPerWindow_ == 1) {  // tumbling: a window is one pane, one cell per key
    ForEachWindowToFire(through, [&](int64_t k) {
      const uint32_t ring = SlotOf(k);
      if (ring != kNoSlot) count += paneSlots[ring].size() / channels;
    });
    return count;
  }
  if (!twoStacks_) {
    // Few panes per window: count each window's keys directly, a key once per window (its stamp).
    ForEachWindowToFire(through, [&](int64_t k) {
      if (++countStamp_ == 0) {  // wrapped: no key may hold a current stamp
        std::fill(keyTally_.begin(), keyTally_.end(), 0);
        countStamp_ = 1;
      }
      for (int64_t q = k * panesPerSlide_; q < k * panesPerSlide_ + panesPerWindow_; ++q) {
        const uint32_t ring = SlotOf(q);
        if (ring == kNoSlot) continue;
        const std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
        for (size_t j = 0; j < slots.size(); j += channels) {
          uint32_t& stamp = keyTally_[slots[j].key];
          count += stamp != countStamp_;
          stamp = countStamp_;
        }
      }
    });
    return count;
  }
  // Many panes per window (Two-Stacks): sweep the windows in order, keeping per key the number of its cells
  // in the window's panes (entering the panes that come in, leaving those that go), and the number of keys
  // with any, so consecutive windows cost their new and old panes only.
  size_t active = 0;
  auto visit = [&](int64_t q, bool enter) {
    const uint32_t ring = SlotOf(q);
    if (ring == kNoSlot) return;
    const std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
    for (size_t j = 0; j < slots.size(); j += channels) {
      uint32_t& tally = keyTally_[slots[j].key];
      if (enter) active += tally++ == 0;
      else active -= --tally == 0;
    }
  };
  int64_t enteredLow = 0, enteredHigh = kBeforeAll;  // the panes whose cells are tallied: none yet
  ForEachWindowToFire(through, [&](int64_t k) {
    const int64_t first = k * panesPerSlide_, last = first + panesPerWindow_ - 1;
    if (first > enteredHigh) {  // no overlap with the last window (or none yet): start over
      for (int64_t q = enteredLow; q <= enteredHigh; ++q) visit(q, false);
      enteredLow = first;
      enteredHigh = first - 1;
    }
    for (int64_t q = enteredLow; q < first; ++q) visit(q, false);
    enteredLow = first;
    for (int64_t q = enteredHigh + 1; q <= last; ++q) visit(q, true);
    enteredHigh = last;
    count += active;
  });
  for (int64_t q = enteredLow; q <= enteredHigh; ++q) visit(q, false);  // every tally back to zero
  return count;
}

size_t EventTimeWindows::FiringCount(double watermark) {
  Require(!std::isnan(watermark), codes::kInvalidArgument, "watermark must be a number");
  if (options_.kind == WindowKind::kSession) {
    // The due sessions that FireSessions would emit: one live timer per due session (older ones are stale).
    const double wm = std::max(watermark, watermark_);
    size_t count = 0;
    dueSessions_.ForEachUpTo(wm + 1, [&](const SessionTimer& timer) {
      const Session& s = sessions_[timer.record];
      count += timer.stamp == s.stamp && s.end - 1 <= wm;
    });
    return count;
  }
  NormalizePendingUpdates();
  size_t count = pendingUpdates_.size();
  if (!(watermark > watermark_)) return count;
  const int64_t through = LastWindowEndingBy(watermark, 0);
  return count + (lean_ ? CountPaneWindows<LeanAccumulator>(through) : CountPaneWindows<TimedAccumulator>(through));
}

void EventTimeWindows::FireSessions(double newWatermark) {
  const double wm = std::max(newWatermark, watermark_);
  const double lateness = options_.allowedLateness;
  constexpr double kDrop = std::numeric_limits<double>::quiet_NaN();
  // Due sessions: end − 1 ≤ watermark, new or updated since they fired.
  sessionOrder_.clear();
  dueSessions_.Take(wm + 1, [&](const SessionTimer& timer) {
    Session& s = sessions_[timer.record];
    if (timer.stamp != s.stamp) return kDrop;  // freed (merged away or purged) since
    if (s.end - 1 > wm) return s.end;          // grew since it was timed: wait for its new end
    s.due = 0;
    sessionOrder_.emplace_back(s.end, uint64_t{sessionCells_[timer.record].key} << 32 | static_cast<uint32_t>(timer.record));
    return kDrop;
  });
  std::sort(sessionOrder_.begin(), sessionOrder_.end());  // (end, key, record); a key's sessions never share an end
  for (const auto& entry : sessionOrder_) {
    const int32_t r = static_cast<int32_t>(static_cast<uint32_t>(entry.second));
    Session& s = sessions_[r];
    EmitWindow(sessionCells_[r].key, s.start, s.end, sessionCells_[r].events,
               &sessionAccumulators_[static_cast<size_t>(r) * channels_], s.fired != 0);
    s.fired = 1;
    s.dirty = 0;
    if (!s.cleanup) {
      s.cleanup = 1;
      AddTimer(cleanupSessions_, s.end - 1 + lateness, r);
    }
  }
  watermark_ = wm;
  // Purge fired sessions past their cleanup time (end − 1 + allowedLateness ≤ watermark).
  cleanupSessions_.Take(wm, [&](const SessionTimer& timer) {
    Session& s = sessions_[timer.record];
    if (timer.stamp != s.stamp) return kDrop;
    if (s.end - 1 + lateness > wm) return s.end - 1 + lateness;
    int32_t* link = &sessionHead_[sessionCells_[timer.record].key];
    while (*link != timer.record) link = &sessionCells_[*link].next;
    *link = sessionCells_[timer.record].next;
    FreeSession(timer.record);
    return kDrop;
  });
}

size_t EventTimeWindows::AdvanceWatermark(double watermark) {
  Require(!std::isnan(watermark) && watermark != kInfinity, codes::kInvalidArgument,
          "watermark must be a number below +Infinity (use flush() at end of stream)");
  if (watermark < watermark_) metrics_.ignoredWatermarks += 1;
  fired_.Clear();
  if (options_.kind == WindowKind::kSession) FireSessions(watermark);
  else FirePanes(watermark);
  return fired_.size();
}

size_t EventTimeWindows::Flush() {
  fired_.Clear();
  if (options_.kind == WindowKind::kSession) FireSessions(kInfinity);
  else FirePanes(kInfinity);
  return fired_.size();
}

size_t EventTimeWindows::MemoryBytes() const {
  size_t bytes = slotOf_.capacity() * sizeof(uint32_t) + sortedCells_.capacity() * sizeof(uint32_t) + order_.capacity() * 8;
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
  bytes += fired_.keys.capacity() * 4 + (fired_.starts.capacity() + fired_.ends.capacity() + fired_.counts.capacity() +
                                         fired_.values.capacity()) * 8 + fired_.updates.capacity();
  return bytes;
}

template <typename Acc>
void EventTimeWindows::BuildPaneSlots(size_t ring, const std::vector<Cell>& cells, const std::vector<Acc>& accs) {
  std::vector<PaneSlot<Acc>> slots(cells.size() * channels_);
  for (size_t j = 0; j < cells.size(); ++j) {
    slots[j * channels_].key = cells[j].key;
    slots[j * channels_].events = cells[j].events;
    for (size_t c = 0; c < channels_; ++c) slots[j * channels_ + c].acc = accs[j * channels_ + c];
  }
  PaneSlots<Acc>()[ring] = std::move(slots);
}

// ---- snapshot -----------------------------------------------------------------------------------------

namespace {
void PutAccumulators(SnapshotWriter& w, const TimedAccumulator* accs, size_t count) {
  static_assert(std::is_trivially_copyable_v<TimedAccumulator>);
  w.PutArray(accs, count);
}
}  // namespace

std::vector<uint8_t> EventTimeWindows::Snapshot() const {
  SnapshotWriter w(SnapshotKind::kEventTimeWindows);
  const EventTimeWindowsOptions& o = options_;
  w.Put<uint8_t>(static_cast<uint8_t>(o.kind));
  for (double x : {o.size, o.slide, o.gap, o.offset, o.allowedLateness, o.horizon}) w.Put<double>(x);
  w.Put<uint32_t>(o.keyCount);
  w.Put<uint32_t>(o.channels);
  w.Put<uint32_t>(static_cast<uint32_t>(o.aggregates.size()));
  for (Aggregate a : o.aggregates) w.Put<uint8_t>(static_cast<uint8_t>(a));
  w.Put<double>(watermark_);
  w.PutArray(reinterpret_cast<const double*>(&metrics_), sizeof(WindowMetrics) / sizeof(double));
  if (o.kind == WindowKind::kSession) {
    uint64_t keysWithSessions = 0;
    for (int32_t head : sessionHead_) keysWithSessions += head >= 0;
    w.Put<uint64_t>(keysWithSessions);
    for (uint32_t key = 0; key < o.keyCount; ++key) {
      if (sessionHead_[key] < 0) continue;
      w.Put<uint32_t>(key);
      uint32_t count = 0;
      for (int32_t r = sessionHead_[key]; r >= 0; r = sessionCells_[r].next) ++count;
      w.Put<uint32_t>(count);
      for (int32_t r = sessionHead_[key]; r >= 0; r = sessionCells_[r].next) {
        w.Put<double>(sessions_[r].start);
        w.Put<double>(sessions_[r].end);
        w.Put<double>(sessionCells_[r].events);
        w.Put<uint8_t>(sessions_[r].fired);
        w.Put<uint8_t>(sessions_[r].dirty);
        PutAccumulators(w, &sessionAccumulators_[static_cast<size_t>(r) * channels_], channels_);
      }
    }
  } else {
    // Format 2 (live panes only; 0 and 1 were a contiguous pane range): the number of live panes, then per
    // pane its index, cell count, (key, events) per cell, then the accumulators [cell][channel].
    w.Put<uint8_t>(2);
    w.Put<uint64_t>(livePanes_.size());
    {
      for (int64_t p : livePanes_) {
        const size_t ring = SlotOf(p);
        w.Put<int64_t>(p);
        auto put = [&](const auto& slots) {
          w.Put<uint64_t>(slots.size() / channels_);
          for (size_t j = 0; j < slots.size(); j += channels_) {
            w.Put<uint32_t>(slots[j].key);
            w.Put<double>(slots[j].events);
          }
          w.Put<uint64_t>(slots.size());
          for (const auto& slot : slots) w.Put(slot.acc);
        };
        if (lean_) put(leanPaneSlots_[ring]);
        else put(paneSlots_[ring]);
      }
    }
    w.Put<uint64_t>(pendingUpdates_.size());
    for (const auto& u : pendingUpdates_) {
      w.Put<int64_t>(u.first);
      w.Put<uint64_t>(u.second);
    }
  }
  return w.Finish();
}

void EventTimeWindows::Restore(Span<const uint8_t> bytes) {
  SnapshotReader r(bytes, SnapshotKind::kEventTimeWindows);
  const EventTimeWindowsOptions& o = options_;
  bool same = r.Get<uint8_t>() == static_cast<uint8_t>(o.kind);
  for (double x : {o.size, o.slide, o.gap, o.offset, o.allowedLateness, o.horizon}) same = r.Get<double>() == x && same;
  same = r.Get<uint32_t>() == o.keyCount && same;
  same = r.Get<uint32_t>() == o.channels && same;
  same = r.Get<uint32_t>() == o.aggregates.size() && same;
  Require(same, codes::kInvalidArgument, "snapshot was taken with other options");
  for (Aggregate a : o.aggregates) Require(r.Get<uint8_t>() == static_cast<uint8_t>(a), codes::kInvalidArgument, "snapshot was taken with other aggregates");
  const double watermark = r.Get<double>();
  Require(!std::isnan(watermark), codes::kMalformedData, "snapshot watermark is NaN");
  WindowMetrics metrics;
  r.GetArray(reinterpret_cast<double*>(&metrics), sizeof(WindowMetrics) / sizeof(double));
  const size_t channels = channels_;
  auto readAccumulators = [&](std::vector<TimedAccumulator>& into, size_t count) {
    const size_t before = into.size();
    into.resize(before + count);
    r.GetArray(into.data() + before, count);
  };

  if (o.kind == WindowKind::kSession) {
    const uint64_t keyCount = r.Get<uint64_t>();
    Require(keyCount <= o.keyCount, codes::kMalformedData, "snapshot has too many keys");
    std::vector<int32_t> heads(o.keyCount, -1);
    std::vector<Cell> cells;
    std::vector<Session> sessions;
    std::vector<TimedAccumulator> accs;
    for (uint64_t i = 0; i < keyCount; ++i) {
      const uint32_t key = r.Get<uint32_t>();
      const uint32_t count = r.Get<uint32_t>();
      Require(key < o.keyCount && heads[key] < 0 && count >= 1 && count <= r.Remaining(), codes::kMalformedData,
              "snapshot session key out of range");
      int32_t previous = -1;  // indices, not pointers: `cells` grows
      double previousEnd = -kInfinity;
      for (uint32_t j = 0; j < count; ++j) {
        Session s{};
        s.start = r.Get<double>();
        s.end = r.Get<double>();
        const double events = r.Get<double>();
        s.fired = r.Get<uint8_t>();
        s.dirty = r.Get<uint8_t>();
        Require(std::isfinite(s.start) && std::isfinite(s.end) && s.start < s.end && s.start > previousEnd &&
                    s.fired <= 1 && s.dirty <= 1 && events >= 1,
                codes::kMalformedData, "snapshot session out of range");
        previousEnd = s.end;
        const int32_t index = static_cast<int32_t>(cells.size());
        if (previous >= 0) cells[previous].next = index;
        else heads[key] = index;
        previous = index;
        cells.push_back(Cell{key, -1, events});
        sessions.push_back(s);
        readAccumulators(accs, channels);
      }
    }
    r.ExpectEnd();
    sessionHead_ = std::move(heads);
    sessionCells_ = std::move(cells);
    sessions_ = std::move(sessions);
    sessionAccumulators_ = std::move(accs);
    freeSession_ = -1;
    dueSessions_.Clear();
    cleanupSessions_.Clear();
    for (int32_t record = 0; record < static_cast<int32_t>(sessions_.size()); ++record) {
      Session& s = sessions_[record];
      if (!s.fired || s.dirty) QueueDue(record);
      if (s.fired) {
        s.cleanup = 1;
        AddTimer(cleanupSessions_, s.end - 1 + o.allowedLateness, record);
      }
    }
  } else {
    // Format 2: live panes by index; 0 / 1: none / a contiguous range low … high (empty panes included).
    const uint8_t format = r.Get<uint8_t>();
    Require(format <= 2, codes::kMalformedData, "snapshot pane format unknown");
    int64_t low = 0, high = -1;
    uint64_t listed = 0;
    if (format == 2) {
      listed = r.Get<uint64_t>();
      Require(listed <= ringPanes_, codes::kMalformedData, "snapshot has more live panes than the ring");
    } else {
      low = r.Get<int64_t>();
      high = r.Get<int64_t>();
      Require(format == 0 || (low <= high && high - low < static_cast<int64_t>(ringPanes_)), codes::kMalformedData,
              "snapshot pane range out of range");
      if (format == 1) listed = static_cast<uint64_t>(high - low + 1);
    }
    const uint64_t kMaxPane = uint64_t{1} << 62;
    std::vector<int64_t> panes;
    std::vector<std::vector<Cell>> paneCells(listed);
    std::vector<std::vector<TimedAccumulator>> paneAccs(listed);
    std::vector<std::vector<LeanAccumulator>> leanPaneAccs(listed);
    {
      for (uint64_t ring = 0; ring < listed; ++ring) {
        int64_t p = low + static_cast<int64_t>(ring);
        if (format == 2) {
          p = r.Get<int64_t>();
          Require(static_cast<uint64_t>(p < 0 ? -(p + 1) : p) < kMaxPane && (panes.empty() || p > panes.back()), codes::kMalformedData,
                  "snapshot panes out of order");
        }
        panes.push_back(p);
        const uint64_t count = r.Get<uint64_t>();
        Require(format != 2 || count >= 1, codes::kMalformedData, "snapshot live pane is empty");
        Require(count <= o.keyCount && count <= r.Remaining() / 12, codes::kMalformedData, "snapshot pane too large");
        std::vector<uint8_t> seen;
        for (uint64_t j = 0; j < count; ++j) {
          const uint32_t key = r.Get<uint32_t>();
          const double events = r.Get<double>();
          Require(key < o.keyCount && events >= 1, codes::kMalformedData, "snapshot cell out of range");
          paneCells[ring].push_back(Cell{key, -1, events});
        }
        std::vector<uint32_t> keys;
        for (const Cell& c : paneCells[ring]) keys.push_back(c.key);
        std::sort(keys.begin(), keys.end());
        Require(std::adjacent_find(keys.begin(), keys.end()) == keys.end(), codes::kMalformedData, "snapshot pane repeats a key");
        if (lean_) {
          leanPaneAccs[ring].resize(count * channels);
          r.GetArray(leanPaneAccs[ring].data(), count * channels);
        } else {
          readAccumulators(paneAccs[ring], count * channels);
        }
      }
    }
    const uint64_t pending = r.Get<uint64_t>();
    Require(pending <= r.Remaining() / 16, codes::kMalformedData, "snapshot pending updates too many");
    std::vector<std::pair<int64_t, uint64_t>> updates;
    for (uint64_t i = 0; i < pending; ++i) {
      const int64_t k = r.Get<int64_t>();
      const uint64_t entry = r.Get<uint64_t>();
      Require((entry >> 1) < o.keyCount, codes::kMalformedData, "snapshot pending update key out of range");
      updates.emplace_back(k, entry);
    }
    r.ExpectEnd();
    ResetRing();
    for (size_t i = 0; i < panes.size(); ++i) {
      if (paneCells[i].empty()) continue;  // format 1 listed empty panes too
      const uint32_t slot = TakeSlot(panes[i]);
      if (lean_) BuildPaneSlots(slot, paneCells[i], leanPaneAccs[i]);
      else BuildPaneSlots(slot, paneCells[i], paneAccs[i]);
      for (size_t j = 0; j < paneCells[i].size(); ++j) slotOf_[size_t{slot} * o.keyCount + paneCells[i][j].key] = static_cast<uint32_t>(j);
    }
    pendingUpdates_ = std::move(updates);
  }
  watermark_ = watermark;
  metrics_ = metrics;
  stacksValid_ = false;
  UpdateThresholds();
}

}  // namespace sluice

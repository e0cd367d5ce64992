// EventTimeWindows, tumbling and sliding windows: the ring of panes (a slot per live pane) and pushing
// events into their cells.
#include "windows/event_time_windows.h"

#include <algorithm>
#include <cmath>

#include "windows/event_time_windows_detail.h"

namespace sluice {

using namespace event_time_windows_detail;

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
  cellIndex_.ClearSlot(slot);
  if (sketches_) {  // the table goes to the next pane that starts, its sketches cleared (allocations kept)
    SketchPane& pane = paneSketches_[slot];
    for (size_t i = 0; i < pane.used; ++i) pane.cells[i].Clear();
    pane.used = 0;
    if (!pane.cells.empty()) spareSketches_.push_back(std::move(pane));
    pane = SketchPane();
  }
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
  const size_t n = ts.size, channels = channels_;
  const int64_t mask = ringPanes_ - 1;
  const bool keyed = keys.size != 0;
  const double offset = options_.offset, g = static_cast<double>(paneSize_), inverse = 1.0 / g;
  const int64_t onTimeFrom = onTimeFrom_, lateBelow = lateBelow_;
  std::vector<std::vector<PaneSlot<Acc>>>& paneSlots = PaneSlots<Acc>();
  const int64_t* slotPane = slotPane_.data();  // fixed size: TakeSlot changes entries, never the buffer
  // The cell of `key` in ring pane `ring`, or null: slot indices are not reset, so the cell's key confirms.
  auto cellOf = [&](size_t ring, uint32_t key) -> PaneSlot<Acc>* {
    const size_t cell = cellIndex_.Find(ring, key);
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
  // the cell of event i + kAhead. Each event's pane is computed once, at the first stage, and kept; the
  // second stage's cell index is kept too, so an event whose cell exists looks it up once (a hash probe in
  // the hashed layout). It is a candidate, confirmed by the cell's key: the pane may sit in another slot,
  // and a cell created since (kNone then) is looked up again.
  constexpr size_t kAhead = 8, kPanes = 2 * kAhead;
  int64_t panes[kPanes];  // the panes of events i … i + 2·kAhead − 1
  uint32_t candidates[kAhead];  // the cell candidates of events i … i + kAhead − 1
  for (size_t i = 0; i < kPanes && i < n; ++i) panes[i] = paneOf(ts[i]);
  std::fill_n(candidates, kAhead, CellIndex::kNone);
  for (size_t i = 0; i < n; ++i) {
    const int64_t p = panes[i % kPanes];
    const size_t candidate = candidates[i % kAhead];
    if (i + kPanes < n) {
      const int64_t pAhead = paneOf(ts[i + kPanes]);
      panes[i % kPanes] = pAhead;
      cellIndex_.Prefetch(static_cast<size_t>(pAhead & mask), keyed ? keys[i + kPanes] : 0);
    }
    if (i + kAhead < n) {
      const size_t ahead = static_cast<size_t>(panes[(i + kAhead) % kPanes] & mask);
      const uint32_t cell = cellIndex_.Find(ahead, keyed ? keys[i + kAhead] : 0);
      candidates[i % kAhead] = cell;
      if (size_t{cell} * channels < paneSlots[ahead].size()) __builtin_prefetch(&paneSlots[ahead][size_t{cell} * channels], 1);
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
    std::vector<PaneSlot<Acc>>& ringSlots = paneSlots[ring];
    PaneSlot<Acc>* cell = candidate * channels < ringSlots.size() && ringSlots[candidate * channels].key == key
                              ? &ringSlots[candidate * channels]
                              : cellOf(ring, key);
    if (!cell) {
      std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
      if (slots.empty()) Reuse(slots);
      cellIndex_.Set(ring, key, static_cast<uint32_t>(slots.size() / channels));
      slots.resize(slots.size() + channels);
      cell = &slots[slots.size() - channels];
      cell->key = key;
      if (sketches_) cell->sketch = TakeSketchCell(ring, key);
    }
    cell->events += 1;
    const T* v = values.data + i * channels;
    for (size_t c = 0; c < channels; ++c) cell[c].acc.Add(static_cast<double>(v[c]), t);
    if (sketches_) AddToSketches(paneSketches_[ring].cells[cell->sketch], v, channels);
  }
  *lateCount = late;
}

template void EventTimeWindows::PushPanes<double, TimedAccumulator>(Span<const double>, Span<const uint32_t>, Span<const double>, uint32_t*, size_t*);
template void EventTimeWindows::PushPanes<double, LeanAccumulator>(Span<const double>, Span<const uint32_t>, Span<const double>, uint32_t*, size_t*);
template void EventTimeWindows::PushPanes<float, TimedAccumulator>(Span<const double>, Span<const uint32_t>, Span<const float>, uint32_t*, size_t*);
template void EventTimeWindows::PushPanes<float, LeanAccumulator>(Span<const double>, Span<const uint32_t>, Span<const float>, uint32_t*, size_t*);

}  // namespace sluice

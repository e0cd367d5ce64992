// EventTimeWindows, tumbling and sliding windows: firing the windows a watermark completes (merging their
// panes, or Two-Stacks for long windows), late updates of fired windows, and counting what would fire.
#include "windows/event_time_windows.h"

#include <algorithm>
#include <cmath>

#include "windows/event_time_windows_detail.h"

namespace sluice {

using namespace event_time_windows_detail;

template <typename Acc>
void EventTimeWindows::EmitWindow(uint32_t key, double start, double end, double events, const Acc* cells, bool update,
                                  const SketchCell* sketches) {
  fired_.keys.push_back(key);
  fired_.starts.push_back(start);
  fired_.ends.push_back(end);
  fired_.counts.push_back(events);
  fired_.updates.push_back(update ? 1 : 0);
  for (size_t c = 0; c < channels_; ++c) {
    const Summary s = cells[c].ToSummary();
    size_t quantile = 0;  // the kQuantile column's index into options_.quantiles
    for (Aggregate a : options_.aggregates) {
      if (a == Aggregate::kQuantile) fired_.values.push_back(sketches->quantiles[c].Quantile(options_.quantiles[quantile++]));
      else if (a == Aggregate::kDistinct) fired_.values.push_back(sketches->distinct[c].Estimate());
      else fired_.values.push_back(Finalize(a, s));
    }
  }
  metrics_.firedWindows += 1;
  if (update) metrics_.updateFirings += 1;
}

template <typename Acc>
const SketchCell* EventTimeWindows::MergePaneSketches(uint32_t key, int64_t firstPane, int64_t lastPane) {
  if (!sketches_) return nullptr;
  const size_t channels = channels_;
  windowSketch_.Clear();
  for (int64_t p = firstPane; p <= lastPane; ++p) {
    const uint32_t ring = SlotOf(p);
    if (ring == kNoSlot) continue;
    const size_t cell = cellIndex_.Find(ring, key);
    const std::vector<PaneSlot<Acc>>& slots = PaneSlots<Acc>()[ring];
    if (!(cell * channels < slots.size() && slots[cell * channels].key == key)) continue;
    windowSketch_.Merge(paneSketches_[ring].cells[slots[cell * channels].sketch]);
  }
  return &windowSketch_;
}

// Sorts order_ ((key << 32 | cell), one entry per key) by key.
void EventTimeWindows::SortOrderByKey() { SortByHighWord(order_, radixScratch_); }

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
  if (!cellIndex_.hashed() && keyCount <= 8 * n) {
    // Dense keys: walking the pane's slot row in key order lists its cells already sorted, in O(keys).
    const uint32_t* row = cellIndex_.Row(ring);
    for (size_t key = 0; key < keyCount; ++key) {
      const uint32_t cell = row[key];
      if (cell < n && keyOf(cell) == key) order_.push_back(cell);
    }
  } else {
    for (size_t j = 0; j < n; ++j) order_.push_back(uint64_t{keyOf(j)} << 32 | j);
    SortOrderByKey();
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
  for (size_t j = 0; j < n; ++j) cellIndex_.Set(ring, keyOf(j), static_cast<uint32_t>(j));
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
      EmitWindow(slot->key, start, end, slot->events, cell.data(), false,
                 sketches_ ? &paneSketches_[ring].cells[slot->sketch] : nullptr);
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
    EmitWindow(key, start, end, events, merged.data(), false, MergePaneSketches<Acc>(key, firstPane, lastPane));
  }
}

// Fires window k with Two-Stacks per key (see the header). Windows come in order k, k + 1, …; anything else
// (a gap, a late update, a restore) rebuilds the state for window k from the cells.
template <typename Acc>
void EventTimeWindows::FireTwoStacksWindow(int64_t k) {
  const size_t channels = channels_;
  const int64_t first = k * panesPerSlide_, last = first + panesPerWindow_ - 1;
  std::vector<std::vector<PaneSlot<Acc>>>& paneSlots = PaneSlots<Acc>();
  std::vector<Acc>& back = BackAccumulators<Acc>();
  std::vector<std::vector<Acc>>& suffixes = Suffixes<Acc>();
  // The key's cell in pane q (stored), or null.
  auto cellAt = [&](int64_t q, uint32_t key) -> const PaneSlot<Acc>* {
    const uint32_t ring = SlotOf(q);
    if (ring == kNoSlot) return nullptr;
    const size_t cell = cellIndex_.Find(ring, key);
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
  for (const auto& u : pendingUpdates_) MarkChanged(static_cast<uint32_t>(u.second >> 1));  // they leave the key's state
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
        const size_t cell = cellIndex_.Find(ring, key);
        const std::vector<PaneSlot<Acc>>& slots = paneSlots[ring];
        if (!(cell * channels < slots.size() && slots[cell * channels].key == key)) continue;
        events += slots[cell * channels].events;
        for (size_t c = 0; c < channels; ++c) merged[c].Merge(slots[cell * channels + c].acc);
      }
      EmitWindow(key, start, end, events, merged.data(), firedBefore, MergePaneSketches<Acc>(key, firstPane, lastPane));
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
  if (options_.kind == WindowKind::kSession) return SessionFiringCount(watermark);
  NormalizePendingUpdates();
  size_t count = pendingUpdates_.size();
  if (!(watermark > watermark_)) return count;
  const int64_t through = LastWindowEndingBy(watermark, 0);
  return count + (lean_ ? CountPaneWindows<LeanAccumulator>(through) : CountPaneWindows<TimedAccumulator>(through));
}

template void EventTimeWindows::EmitWindow<TimedAccumulator>(uint32_t, double, double, double, const TimedAccumulator*, bool,
                                                              const SketchCell*);

}  // namespace sluice

// EventTimeWindows, the key space: keys of any kind translated into dense ids before the dense push (a
// KeySpace), the per-key arrays growing on demand, and keys freed by keyTtl or expire(). The dense path is
// untouched: the only per-event work it gains is none (growth is checked against the batch's largest id,
// which Push computes anyway).
#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>

#include "windows/event_time_windows.h"
#include "windows/event_time_windows_detail.h"

namespace sluice {

using namespace event_time_windows_detail;

uint32_t EventTimeWindows::KeyLimit() const {
  if (keySpace_) return kMaxDictionaryKeys;
  return std::max(options_.keyCount, options_.maxKeys);
}

void EventTimeWindows::ResizeKeys(uint32_t keyCount) {
  const size_t after = keyCount;
  if (options_.kind == WindowKind::kSession) {
    sessionHead_.resize(after, -1);
  } else {
    if (CellIndex::UsesHashing(ringPanes_, keyCount) == cellIndex_.hashed()) {
      cellIndex_.ResizeKeys(keyCount);
    } else {  // the direct table would pass its budget (or fits again): the other layout, from the cells
      cellIndex_.Reset(ringPanes_, keyCount);
      auto index = [&](const auto& paneSlots) {
        for (int64_t p : livePanes_) {
          const uint32_t ring = SlotOf(p);
          for (size_t j = 0; j * channels_ < paneSlots[ring].size(); ++j) {
            cellIndex_.Set(ring, paneSlots[ring][j * channels_].key, static_cast<uint32_t>(j));
          }
        }
      };
      if (lean_) index(leanPaneSlots_);
      else index(paneSlots_);
    }
    if (!keyTally_.empty()) keyTally_.resize(after, 0);
    if (twoStacks_) {
      keyEpoch_.resize(after, epoch_ - 1);
      keyCells_.resize(after, 0);
      frontEnd_.resize(after, 0);
      frontCursor_.resize(after, 0);
      backEvents_.resize(after, 0);
      if (lean_) leanBack_.resize(after * channels_);
      else back_.resize(after * channels_);
      keyBits_.resize((after + 63) / 64, 0);
      stacksValid_ = false;
    }
  }
  if (keyCount < options_.keyCount) {  // a shrink (FitMemoryToKeys): give the memory back, not just the size
    sessionHead_.shrink_to_fit();
    keyTally_.shrink_to_fit();
    keyEpoch_.shrink_to_fit();
    keyCells_.shrink_to_fit();
    frontEnd_.shrink_to_fit();
    frontCursor_.shrink_to_fit();
    backEvents_.shrink_to_fit();
    leanBack_.shrink_to_fit();
    back_.shrink_to_fit();
    keyBits_.shrink_to_fit();
  }
  options_.keyCount = keyCount;
}

void EventTimeWindows::FitMemoryToKeys() {
  if (!keySpace_ || keySpace_->expired().empty()) return;
  // Every live id is below this (the dictionary gave back the free ids at the top when keys were freed).
  const uint32_t ids = std::max<uint32_t>(keySpace_->dictionary().idCapacity(), 1);
  // Per-key arrays: halve while a quarter or less is in use (as the Pipeline's own per-key state does), so a
  // key space that shrinks and grows around one size does not resize every time.
  constexpr uint32_t kLeastKeyCapacity = 64;
  uint32_t capacity = options_.keyCount;
  while (capacity / 2 >= kLeastKeyCapacity && capacity / 4 >= ids) capacity /= 2;
  if (capacity != options_.keyCount) ResizeKeys(capacity);
  // A pane holds at most one cell per live key. Buffers sized for far more cells than that (live panes after
  // their keys left, spares of purged panes, the fired-window columns) are cut down; growing back is amortised
  // doubling as usual.
  const size_t cells = std::max<size_t>(ids, 16);
  auto fitLive = [](auto& buffer, size_t allowed) {
    if (buffer.capacity() > allowed && buffer.capacity() > 4 * buffer.size()) buffer.shrink_to_fit();
  };
  // Two-Stacks' suffix aggregates sit beside a pane's cells and only grow: cut them to the cells left (what
  // lies beyond belonged to cells that went).
  if (twoStacks_) {
    for (size_t ring = 0; ring < suffixEvents_.size(); ++ring) {
      const size_t slots = lean_ ? leanPaneSlots_[ring].size() : paneSlots_[ring].size();
      if (lean_ && leanSuffixes_[ring].size() > slots) leanSuffixes_[ring].resize(slots);
      if (!lean_ && suffixes_[ring].size() > slots) suffixes_[ring].resize(slots);
      if (suffixEvents_[ring].size() > slots / channels_) suffixEvents_[ring].resize(slots / channels_);
    }
  }
  auto fitPanes = [&](auto& perSlot, size_t perCell) {
    for (auto& buffer : perSlot) fitLive(buffer, 2 * cells * perCell);
  };
  fitPanes(paneSlots_, channels_);
  fitPanes(leanPaneSlots_, channels_);
  fitPanes(suffixes_, channels_);
  fitPanes(leanSuffixes_, channels_);
  fitPanes(suffixEvents_, 1);
  std::apply(
      [&](auto&... spares) {
        auto dropLarge = [&](auto& buffers) {
          using Buffer = typename std::decay_t<decltype(buffers)>::value_type;
          const size_t perCell = std::is_same_v<Buffer, std::vector<double>> ? 1 : channels_;  // suffixEvents_: one per cell
          buffers.erase(std::remove_if(buffers.begin(), buffers.end(),
                                       [&](const Buffer& b) { return b.capacity() > 2 * cells * perCell; }),
                        buffers.end());
        };
        (dropLarge(spares), ...);
      },
      spares_);
  if (sketches_) {
    spareSketches_.erase(std::remove_if(spareSketches_.begin(), spareSketches_.end(),
                                        [&](const SketchPane& pane) { return pane.cells.size() > 2 * cells; }),
                         spareSketches_.end());
  }
  cellIndex_.Fit(cells);
  // Scratch sized by the largest pane sorted or batch pushed: given back, it grows again when needed.
  auto release = [](auto& scratch, size_t allowed) {
    if (scratch.capacity() > allowed) std::decay_t<decltype(scratch)>().swap(scratch);
  };
  release(order_, 2 * cells);
  release(radixScratch_, 2 * cells);
  release(keyIds_, 2 * cells);
  // The fired-window columns keep the last advance's windows (lastFired reads them again), so they are cut
  // down once that is over: here when empty (keyTtl runs after the advance cleared them), else at the next
  // advance (FitFired).
  firedFitPending_ = true;
  FitFired();
}

void EventTimeWindows::FitFired() {
  if (!firedFitPending_ || !fired_.keys.empty()) return;
  firedFitPending_ = false;
  const size_t allowed = 4 * std::max<size_t>(keySpace_ ? keySpace_->dictionary().idCapacity() : options_.keyCount, 16);
  auto fit = [](auto& column, size_t most) {
    if (column.capacity() > most) column.shrink_to_fit();  // empty: gives it all back
  };
  fit(fired_.keys, allowed);
  fit(fired_.starts, allowed);
  fit(fired_.ends, allowed);
  fit(fired_.counts, allowed);
  fit(fired_.updates, allowed);
  fit(fired_.values, allowed * channels_ * options_.aggregates.size());
}

double EventTimeWindows::KeyReleaseTime(uint32_t key, double lastSeen) const {
  if (options_.kind == WindowKind::kSession) {
    int32_t r = sessionHead_[key];
    if (r < 0) return -kInfinity;
    while (sessionCells_[r].next >= 0) r = sessionCells_[r].next;
    return sessions_[r].end - 1 + options_.allowedLateness;
  }
  // The key's events are all at or before lastSeen: once lastSeen's pane is purged, so are all its cells.
  const int64_t p = PaneOf(lastSeen);
  if (p < lateBelow_) return -kInfinity;
  const int64_t k = FloorDiv(p, panesPerSlide_);  // the last window holding that pane
  return options_.offset + static_cast<double>(k) * options_.slide + options_.size - 1 + options_.allowedLateness;
}

void EventTimeWindows::ForgetKey(uint32_t key) {
  MarkChanged(key);
  if (options_.kind != WindowKind::kSession) {
    pendingUpdates_.erase(std::remove_if(pendingUpdates_.begin(), pendingUpdates_.end(),
                                         [key](const auto& u) { return (u.second >> 1) == key; }),
                          pendingUpdates_.end());
  }
  DropKeyState(key);
}

void EventTimeWindows::DropKeyState(uint32_t key) {
  if (options_.kind == WindowKind::kSession) {
    for (int32_t r = sessionHead_[key]; r >= 0;) {
      const int32_t next = sessionCells_[r].next;
      FreeSession(r);  // its timers go stale by the stamp
      r = next;
    }
    sessionHead_[key] = -1;
    return;
  }
  bool moved = false;
  auto forget = [&](auto& paneSlots) {
    const size_t channels = channels_;
    for (size_t i = 0; i < livePanes_.size();) {
      const int64_t p = livePanes_[i];
      const uint32_t ring = SlotOf(p);
      auto& slots = paneSlots[ring];
      const size_t cell = cellIndex_.Find(ring, key);
      if (cell * channels >= slots.size() || slots[cell * channels].key != key) {
        ++i;
        continue;
      }
      // Swap-remove: the last cell takes this one's place (the pane is unsorted from here on).
      cellIndex_.Erase(ring, key);
      const size_t lastCell = slots.size() / channels - 1;
      if (cell != lastCell) {
        std::copy_n(slots.begin() + static_cast<std::ptrdiff_t>(lastCell * channels), channels,
                    slots.begin() + static_cast<std::ptrdiff_t>(cell * channels));
        cellIndex_.Set(ring, slots[cell * channels].key, static_cast<uint32_t>(cell));
        moved = true;
      }
      slots.resize(lastCell * channels);
      sortedCells_[ring] = 0;
      if (slots.empty()) {  // a live pane holds data: an emptied one is released
        ReleaseSlot(p);
        livePanes_.erase(livePanes_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      ++i;
    }
  };
  if (lean_) forget(leanPaneSlots_);
  else forget(paneSlots_);
  if (twoStacks_) {
    keyEpoch_[key] = epoch_ - 1;  // its stacks start afresh when the id is used again
    if (keyCells_[key] != 0) {
      keyCells_[key] = 0;
      keyBits_[key >> 6] &= ~(uint64_t{1} << (key & 63));
    }
    if (moved) stacksValid_ = false;  // suffix aggregates are stored by cell position
  }
}

void EventTimeWindows::ExpireIdleKeys(double watermark) {
  if (!keySpace_ || keySpace_->options().keyTtl == 0) return;
  keySpace_->ExpireIdle(
      std::max(watermark, watermark_),
      [this](uint32_t key, double lastSeen) { return key < options_.keyCount ? KeyReleaseTime(key, lastSeen) : -kInfinity; },
      [this](uint32_t key) {
        if (key < options_.keyCount) ForgetKey(key);
        else MarkChanged(key);  // no state, but its dictionary entry goes
      });
  metrics_.liveKeys = static_cast<double>(keySpace_->live());
  metrics_.expiredKeys = keySpace_->expiredTotal();
  FitMemoryToKeys();
}

template <typename T>
size_t EventTimeWindows::PushKeys(Span<const double> timestamps, const KeyBatch& keys, Span<const T> values,
                                  Span<uint32_t> lateOut) {
  Require(keySpace_ != nullptr, codes::kInvalidArgument, "these windows take dense Uint32Array ids (no `keys` kind was set)");
  Require(keys.size() == timestamps.size, codes::kInvalidLength, "keys must have one entry per timestamp");
  if (keyIds_.size() < keys.size()) keyIds_.resize(keys.size());
  keySpace_->Intern(keys, keyIds_.data());
  try {
    return Push(timestamps, Span<const uint32_t>(keyIds_.data(), keys.size()), values, lateOut);
  } catch (...) {
    keySpace_->UndoIntern();
    metrics_.liveKeys = static_cast<double>(keySpace_->live());
    throw;
  }
}

template size_t EventTimeWindows::PushKeys<double>(Span<const double>, const KeyBatch&, Span<const double>, Span<uint32_t>);
template size_t EventTimeWindows::PushKeys<float>(Span<const double>, const KeyBatch&, Span<const float>, Span<uint32_t>);

void EventTimeWindows::Intern(const KeyBatch& keys, Span<uint32_t> ids) {
  Require(keySpace_ != nullptr, codes::kInvalidArgument, "these windows take dense Uint32Array ids (no `keys` kind was set)");
  Require(ids.size >= keys.size(), codes::kInvalidLength, "ids output must hold one id per key");
  keySpace_->Intern(keys, ids.data);
  for (uint32_t id : keySpace_->created()) MarkChanged(id);  // new dictionary entries
  metrics_.liveKeys = static_cast<double>(keySpace_->live());
}

void EventTimeWindows::UndoIntern() {
  Require(keySpace_ != nullptr, codes::kInvalidArgument, "undoIntern() needs a key space (the `keys` option)");
  for (uint32_t id : keySpace_->created()) MarkChanged(id);
  keySpace_->UndoIntern();
  metrics_.liveKeys = static_cast<double>(keySpace_->live());
}

const std::vector<uint32_t>& EventTimeWindows::Expire(Span<const uint32_t> ids) {
  Require(keySpace_ != nullptr, codes::kInvalidArgument, "expire() needs a key space (the `keys` option)");
  const std::vector<uint32_t>& freed = keySpace_->Expire(ids, [this](uint32_t key) {
    if (key < options_.keyCount) ForgetKey(key);
    else MarkChanged(key);  // no state, but its dictionary entry goes
  });
  metrics_.liveKeys = static_cast<double>(keySpace_->live());
  metrics_.expiredKeys = keySpace_->expiredTotal();
  FitMemoryToKeys();
  return freed;
}

const std::vector<uint32_t>& EventTimeWindows::expiredIds() const {
  static const std::vector<uint32_t> kNone;
  return keySpace_ ? keySpace_->expired() : kNone;
}

}  // namespace sluice

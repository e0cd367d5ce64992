// EventTimeWindows, the key space: keys of any kind translated into dense ids before the dense push (a
// KeySpace), the per-key arrays growing on demand, and keys freed by keyTtl or expire(). The dense path is
// untouched: the only per-event work it gains is none (growth is checked against the batch's largest id,
// which Push computes anyway).
#include <algorithm>
#include <cmath>

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
  options_.keyCount = keyCount;
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
  return freed;
}

const std::vector<uint32_t>& EventTimeWindows::expiredIds() const {
  static const std::vector<uint32_t> kNone;
  return keySpace_ ? keySpace_->expired() : kNone;
}

}  // namespace sluice

// EventTimeWindows: incremental checkpoints. A delta holds the global state and the complete state of every
// key that changed since the last checkpoint (full or delta), so its size and the time to take it follow what
// changed, not the whole state. Layout of the payload (snapshot kind event-time-windows-delta), little-endian:
//   the options, as a full snapshot's header (kind, size, slide, gap, offset, allowedLateness, horizon,
//   keyCount = the key capacity now, channels, aggregates) | u64 sequence (1 for the first delta after a full
//   checkpoint) | u32 CRC of the checkpoint it builds on | f64 watermark | the metrics (as a full snapshot) |
//   u8 key space (0 / 1), with it the key space's delta header (id capacity, live count, expired total,
//   timed) | u64 changed keys | per key, ascending: u32 key | with a key space its entry (live: length,
//   bytes, latest event time; or a tombstone) | sessions: u32 count, per session start, end, events, fired,
//   dirty, the accumulators | panes: u32 cells, per cell i64 pane, f64 events, the accumulators [channel];
//   u32 pending updates, per update i64 window, u8 fired before.
// Panes no delta mentions are purged by the delta's watermark exactly as the live object purged them; every
// other change of a key's state marks it changed (see the header).
#include <algorithm>
#include <cmath>

#include "base/snapshot.h"
#include "windows/event_time_windows.h"
#include "windows/event_time_windows_detail.h"

namespace sluice {

using namespace event_time_windows_detail;

namespace {
constexpr size_t kDeltaMetrics = offsetof(WindowMetrics, liveKeys) / sizeof(double);
constexpr double kMaxEventTime = 9007199254740991.0;

}  // namespace

std::vector<uint8_t> EventTimeWindows::SnapshotDelta() {
  Require(!sketches_, codes::kNotSupported, "incremental snapshots of windows with sketch aggregates (quantiles, distinct) are not supported: take snapshot()");
  Require(tracking_, codes::kInvalidState, "snapshotDelta() needs a checkpoint to build on: take snapshot() (or restore()) first");
  const EventTimeWindowsOptions& o = options_;
  SnapshotWriter w(SnapshotKind::kEventTimeWindowsDelta);
  PutStoredOptions(w, o);
  w.Put<uint64_t>(chainSequence_ + 1);
  w.Put<uint32_t>(chainCrc_);
  w.Put<double>(watermark_);
  w.PutArray(reinterpret_cast<const double*>(&metrics_), kDeltaMetrics);
  w.Put<uint8_t>(keySpace_ ? 1 : 0);
  if (keySpace_) keySpace_->WriteDeltaHeader(w);
  std::vector<uint32_t> keys = dirtyList_;
  std::sort(keys.begin(), keys.end());
  // Pending updates of changed keys, by key (then window), without repeats: one pass over them.
  std::vector<std::pair<uint32_t, std::pair<int64_t, uint8_t>>> pending;
  for (const auto& u : pendingUpdates_) {
    const uint32_t key = static_cast<uint32_t>(u.second >> 1);
    if (IsChanged(key)) pending.push_back({key, {u.first, static_cast<uint8_t>(u.second & 1)}});
  }
  std::sort(pending.begin(), pending.end());
  pending.erase(std::unique(pending.begin(), pending.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first && a.second.first == b.second.first; }),
                pending.end());
  size_t nextPending = 0;
  w.Put<uint64_t>(keys.size());
  for (uint32_t key : keys) {
    w.Put<uint32_t>(key);
    if (keySpace_) keySpace_->WriteDeltaKey(w, key);
    if (o.kind == WindowKind::kSession) {
      const int32_t head = key < sessionHead_.size() ? sessionHead_[key] : -1;
      uint32_t count = 0;
      for (int32_t r = head; r >= 0; r = sessionCells_[r].next) ++count;
      w.Put<uint32_t>(count);
      for (int32_t r = head; r >= 0; r = sessionCells_[r].next) {
        w.Put<double>(sessions_[r].start);
        w.Put<double>(sessions_[r].end);
        w.Put<double>(sessionCells_[r].events);
        w.Put<uint8_t>(sessions_[r].fired);
        w.Put<uint8_t>(sessions_[r].dirty);
        for (size_t c = 0; c < channels_; ++c) w.Put(sessionAccumulators_[static_cast<size_t>(r) * channels_ + c]);
      }
      continue;
    }
    // The key's cells: one lookup per live pane.
    auto put = [&](const auto& paneSlots) {
      uint32_t count = 0;
      auto cellIn = [&](int64_t p) -> const auto* {
        const uint32_t ring = SlotOf(p);
        const auto& slots = paneSlots[ring];
        const size_t cell = key < o.keyCount ? cellIndex_.Find(ring, key) : CellIndex::kNone;
        return cell * channels_ < slots.size() && slots[cell * channels_].key == key ? &slots[cell * channels_] : nullptr;
      };
      for (int64_t p : livePanes_) count += cellIn(p) != nullptr;
      w.Put<uint32_t>(count);
      for (int64_t p : livePanes_) {
        const auto* cell = cellIn(p);
        if (!cell) continue;
        w.Put<int64_t>(p);
        w.Put<double>(cell->events);
        for (size_t c = 0; c < channels_; ++c) w.Put(cell[c].acc);
      }
    };
    if (lean_) put(leanPaneSlots_);
    else put(paneSlots_);
    size_t end = nextPending;
    while (end < pending.size() && pending[end].first == key) ++end;
    w.Put<uint32_t>(static_cast<uint32_t>(end - nextPending));
    for (; nextPending < end; ++nextPending) {
      w.Put<int64_t>(pending[nextPending].second.first);
      w.Put<uint8_t>(pending[nextPending].second.second);
    }
  }
  std::vector<uint8_t> bytes = w.Finish();
  const uint64_t sequence = chainSequence_ + 1;
  StartChain(EnvelopeCrc(Span<const uint8_t>(bytes.data(), bytes.size())));
  chainSequence_ = sequence;
  return bytes;
}

void EventTimeWindows::ApplyDelta(Span<const uint8_t> bytes) {
  SnapshotReader r(bytes, SnapshotKind::kEventTimeWindowsDelta);
  Require(!sketches_, codes::kNotSupported, "incremental snapshots of windows with sketch aggregates (quantiles, distinct) are not supported");
  const EventTimeWindowsOptions& o = options_;
  bool same = r.Get<uint8_t>() == static_cast<uint8_t>(o.kind);
  for (double x : {o.size, o.slide, o.gap, o.offset, o.allowedLateness, o.horizon}) same = r.Get<double>() == x && same;
  const uint32_t keyCount = r.Get<uint32_t>();
  same = (keyCount == o.keyCount || ((o.maxKeys != 0 || keySpace_) && keyCount >= o.keyCount && keyCount <= KeyLimit())) && same;
  same = r.Get<uint32_t>() == o.channels && same;
  same = r.Get<uint32_t>() == o.aggregates.size() && same;
  Require(same, codes::kInvalidArgument, "delta was taken with other options");
  for (Aggregate a : o.aggregates) Require(r.Get<uint8_t>() == static_cast<uint8_t>(a), codes::kInvalidArgument, "delta was taken with other aggregates");
  const uint64_t sequence = r.Get<uint64_t>();
  const uint32_t baseCrc = r.Get<uint32_t>();
  Require(tracking_ && sequence == chainSequence_ + 1 && baseCrc == chainCrc_, codes::kInvalidArgument,
          "delta does not build on this object's last checkpoint (another chain, or a delta missing or repeated)");
  Require(dirtyList_.empty() && !advancedSinceCheckpoint_, codes::kInvalidState,
          "applyDelta() needs the object as its last checkpoint left it (it changed since)");
  const double watermark = r.GetField<double>("watermark", [&](double x) { return !std::isnan(x) && x >= watermark_; });
  WindowMetrics metrics;
  r.GetArray(reinterpret_cast<double*>(&metrics), kDeltaMetrics);
  CheckStoredMetrics(metrics);
  const uint8_t hasKeys = r.Get<uint8_t>();
  Require(hasKeys == (keySpace_ ? 1 : 0), codes::kInvalidArgument, "delta was taken with another `keys` kind");
  KeySpace::Delta keyDelta;
  if (keySpace_) keySpace_->ReadDeltaHeader(r, keyDelta);
  const uint64_t changed = r.Get<uint64_t>();
  Require((changed <= keyCount || keySpace_) && changed <= r.Remaining() / 8, codes::kMalformedData, "delta key count out of range");

  // Staged: every key's new state, checked, before anything changes.
  struct KeyState {
    uint32_t key;
    size_t first, end;                // its cells or sessions in the staged arrays
    size_t firstPending, endPending;  // its pending updates
  };
  std::vector<KeyState> states;
  states.reserve(changed);
  std::vector<std::pair<int64_t, double>> cells;  // (pane, events)
  std::vector<TimedAccumulator> accs;
  std::vector<LeanAccumulator> leanAccs;
  std::vector<Session> sessions;
  std::vector<double> sessionEvents;
  std::vector<std::pair<int64_t, uint64_t>> pending;
  const int64_t firedThrough = LastWindowEndingBy(watermark, 0);
  const int64_t purgedThrough = LastWindowEndingBy(watermark, o.allowedLateness);
  const int64_t lateBelow = purgedThrough == kBeforeAll || purgedThrough == kAfterAll
                                ? purgedThrough
                                : ClampIndex(static_cast<double>(purgedThrough + 1) * static_cast<double>(panesPerSlide_));
  const size_t channels = channels_;
  int64_t previousKey = -1;
  for (uint64_t i = 0; i < changed; ++i) {
    KeyState state{};
    state.key = r.Get<uint32_t>();
    // With a key space, a key may have a dictionary entry and no state yet (interned, not pushed): ids up
    // to the dictionary's; state only below the key capacity (checked below).
    Require(static_cast<int64_t>(state.key) > previousKey && (state.key < keyCount || (keySpace_ && state.key < kMaxDictionaryKeys)),
            codes::kMalformedData, "delta keys out of order or range");
    previousKey = state.key;
    bool live = true;
    if (keySpace_) {
      keySpace_->ReadDeltaKey(r, state.key, keyDelta);
      live = keyDelta.keys.back().live;
    }
    if (o.kind == WindowKind::kSession) {
      const uint32_t count = r.Get<uint32_t>();
      Require(count <= r.Remaining() / 26, codes::kMalformedData, "delta session count out of range");
      state.first = sessions.size();
      double previousEnd = -kInfinity;
      for (uint32_t j = 0; j < count; ++j) {
        double events;
        const Session s = ReadStoredSession(r, previousEnd, events);
        // A fired session past its cleanup time was purged: a delta never holds one.
        CheckField(!s.fired || s.end - 1 + o.allowedLateness > watermark, "sessions[] (purged by the watermark)");
        previousEnd = s.end;
        sessions.push_back(s);
        sessionEvents.push_back(events);
        const size_t at = accs.size();
        accs.resize(at + channels);
        for (size_t c = 0; c < channels; ++c) accs[at + c] = r.Get<TimedAccumulator>();
      }
      state.end = sessions.size();
    } else {
      const uint32_t count = r.Get<uint32_t>();
      Require(count <= ringPanes_ && count <= r.Remaining() / 16, codes::kMalformedData, "delta cell count out of range");
      state.first = cells.size();
      int64_t previousPane = kBeforeAll;
      const double g = static_cast<double>(paneSize_);
      for (uint32_t j = 0; j < count; ++j) {
        const int64_t p = r.Get<int64_t>();
        const double events = r.Get<double>();
        CheckField(p > previousPane && p >= lateBelow && std::fabs(static_cast<double>(p) * g + o.offset) <= kMaxEventTime + g,
                   "cells[].pane");
        CheckField(IsCount(events) && events >= 1, "cells[].events");
        previousPane = p;
        cells.emplace_back(p, events);
        for (size_t c = 0; c < channels; ++c) {
          if (lean_) leanAccs.push_back(r.Get<LeanAccumulator>());
          else accs.push_back(r.Get<TimedAccumulator>());
        }
      }
      state.end = cells.size();
      const uint32_t updates = r.Get<uint32_t>();
      Require(updates <= r.Remaining() / 9, codes::kMalformedData, "delta pending updates out of range");
      state.firstPending = pending.size();
      for (uint32_t j = 0; j < updates; ++j) {
        const int64_t k = r.Get<int64_t>();
        const uint8_t before = r.Get<uint8_t>();
        CheckField(before <= 1 && k <= firedThrough && k > purgedThrough &&
                       std::fabs(o.offset + static_cast<double>(k) * o.slide) <= kMaxEventTime + o.size,
                   "pendingUpdates[].window");
        pending.emplace_back(k, uint64_t{state.key} << 1 | before);
      }
      state.endPending = pending.size();
    }
    const bool stateless = state.first == state.end && state.firstPending == state.endPending;
    CheckField((live && state.key < keyCount) || stateless, "keys[] (state of a key not live, or beyond the key capacity)");
    states.push_back(state);
  }
  r.ExpectEnd();
  if (keySpace_) keySpace_->CheckDelta(keyDelta);
  if (o.kind != WindowKind::kSession) {
    // The panes live afterwards: those the new watermark keeps that hold a cell of an unchanged key, and
    // those of the delta's cells. At most the ring's.
    std::vector<int64_t> after;
    auto remaining = [&](const auto& paneSlots) {
      for (int64_t p : livePanes_) {
        if (p < lateBelow) continue;
        const uint32_t ring = SlotOf(p);
        const auto& slots = paneSlots[ring];
        size_t left = slots.size() / channels;
        for (const KeyState& s : states) {
          if (s.key >= o.keyCount) continue;
          const size_t cell = cellIndex_.Find(ring, s.key);
          left -= cell * channels < slots.size() && slots[cell * channels].key == s.key;
        }
        if (left > 0) after.push_back(p);
      }
    };
    if (lean_) remaining(leanPaneSlots_);
    else remaining(paneSlots_);
    for (const auto& cell : cells) after.push_back(cell.first);
    std::sort(after.begin(), after.end());
    CheckField(static_cast<size_t>(std::unique(after.begin(), after.end()) - after.begin()) <= ringPanes_,
               "cells[].pane (more live panes than the ring holds)");
  }

  // Commit.
  if (keyCount > o.keyCount) ResizeKeys(keyCount);
  if (o.kind != WindowKind::kSession && !pendingUpdates_.empty()) {
    std::vector<uint32_t> inDelta;
    for (const KeyState& s : states) inDelta.push_back(s.key);
    pendingUpdates_.erase(std::remove_if(pendingUpdates_.begin(), pendingUpdates_.end(),
                                         [&](const auto& u) {
                                           return std::binary_search(inDelta.begin(), inDelta.end(), static_cast<uint32_t>(u.second >> 1));
                                         }),
                          pendingUpdates_.end());
  }
  for (const KeyState& s : states) {
    if (s.key < o.keyCount) DropKeyState(s.key);
  }
  watermark_ = watermark;
  UpdateThresholds();
  if (o.kind == WindowKind::kSession) {
    for (const KeyState& s : states) {
      int32_t previous = -1;
      for (size_t j = s.first; j < s.end; ++j) {
        const int32_t record = AllocateSession();
        Session& session = sessions_[record];
        session.start = sessions[j].start;
        session.end = sessions[j].end;
        session.fired = sessions[j].fired;
        session.dirty = sessions[j].dirty;
        session.due = session.cleanup = 0;
        sessionCells_[record] = Cell{s.key, -1, sessionEvents[j]};
        std::copy_n(&accs[j * channels], channels, &sessionAccumulators_[static_cast<size_t>(record) * channels]);
        if (previous >= 0) sessionCells_[previous].next = record;
        else sessionHead_[s.key] = record;
        previous = record;
        if (!session.fired || session.dirty) QueueDue(record);
        if (session.fired) {
          session.cleanup = 1;
          AddTimer(cleanupSessions_, session.end - 1 + o.allowedLateness, record);
        }
      }
    }
  } else {
    // Purge what the watermark purged, then place the changed keys' cells.
    size_t purged = 0;
    while (purged < livePanes_.size() && livePanes_[purged] < lateBelow_) ReleaseSlot(livePanes_[purged++]);
    livePanes_.erase(livePanes_.begin(), livePanes_.begin() + static_cast<std::ptrdiff_t>(purged));
    auto place = [&](auto& paneSlots, const auto& staged) {
      for (const KeyState& s : states) {
        for (size_t j = s.first; j < s.end; ++j) {
          const int64_t p = cells[j].first;
          uint32_t ring = SlotOf(p);
          if (ring == kNoSlot) ring = TakeSlot(p);
          auto& slots = paneSlots[ring];
          if (slots.empty()) Reuse(slots);
          cellIndex_.Set(ring, s.key, static_cast<uint32_t>(slots.size() / channels));
          slots.resize(slots.size() + channels);
          auto* cell = &slots[slots.size() - channels];
          cell->key = s.key;
          cell->events = cells[j].second;
          for (size_t c = 0; c < channels; ++c) cell[c].acc = staged[j * channels + c];
          sortedCells_[ring] = 0;
        }
      }
    };
    if (lean_) place(leanPaneSlots_, leanAccs);
    else place(paneSlots_, accs);
    pendingUpdates_.insert(pendingUpdates_.end(), pending.begin(), pending.end());
    stacksValid_ = false;
  }
  metrics_ = metrics;
  if (keySpace_) {
    keySpace_->ApplyDelta(keyDelta);
    metrics_.liveKeys = static_cast<double>(keySpace_->live());
    metrics_.expiredKeys = keySpace_->expiredTotal();
  }
  appliedKeys_.clear();
  for (const KeyState& s : states) appliedKeys_.push_back(s.key);
  StartChain(EnvelopeCrc(bytes));
  chainSequence_ = sequence;
}

}  // namespace sluice

// EventTimeWindows::Snapshot and Restore.
#include "windows/event_time_windows.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "base/snapshot.h"
#include "windows/event_time_windows_detail.h"

namespace sluice {

using namespace event_time_windows_detail;

// The metrics a snapshot holds: those before liveKeys (the key counts come from the key space's section).
constexpr size_t kSnapshotMetrics = offsetof(WindowMetrics, liveKeys) / sizeof(double);
constexpr uint32_t kKeySectionTag = 0x5359454B;  // "KEYS": the key space's section follows

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

namespace {
// Event times are within ±(2^53 − 1); a session's end lies up to a gap (≤ 2^40) beyond its last event.
constexpr double kMaxEventTime = 9007199254740991.0;
bool IsSessionTime(double x) { return x >= -kMaxEventTime && x <= kMaxEventTime + 1099511627776.0; }

void PutAccumulators(SnapshotWriter& w, const TimedAccumulator* accs, size_t count) {
  static_assert(std::is_trivially_copyable_v<TimedAccumulator>);
  w.PutArray(accs, count);
}
}  // namespace

std::vector<uint8_t> EventTimeWindows::Snapshot() const {
  Require(!sketches_, codes::kNotSupported, "snapshots of sketch aggregates (quantiles, distinct) are not supported yet");
  SnapshotWriter w(SnapshotKind::kEventTimeWindows);
  const EventTimeWindowsOptions& o = options_;
  w.Put<uint8_t>(static_cast<uint8_t>(o.kind));
  for (double x : {o.size, o.slide, o.gap, o.offset, o.allowedLateness, o.horizon}) w.Put<double>(x);
  w.Put<uint32_t>(o.keyCount);
  w.Put<uint32_t>(o.channels);
  w.Put<uint32_t>(static_cast<uint32_t>(o.aggregates.size()));
  for (Aggregate a : o.aggregates) w.Put<uint8_t>(static_cast<uint8_t>(a));
  w.Put<double>(watermark_);
  w.PutArray(reinterpret_cast<const double*>(&metrics_), kSnapshotMetrics);
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
  // Added after format 2's payload, so snapshots without it (dense ids, or older) restore as before.
  if (keySpace_) {
    w.Put<uint32_t>(kKeySectionTag);
    keySpace_->Write(w);
  }
  return w.Finish();
}

std::unique_ptr<KeySpace> EventTimeWindows::ReadKeySection(SnapshotReader& r, const std::vector<uint32_t>& usedKeys) const {
  const bool hasSection = r.Remaining() >= 4;
  if (hasSection) Require(r.Get<uint32_t>() == kKeySectionTag, codes::kMalformedData, "snapshot has trailing bytes");
  if (!keySpace_) {
    Require(!hasSection, codes::kInvalidArgument, "snapshot holds a key dictionary: restore it into windows with the same `keys` kind");
    return nullptr;
  }
  Require(hasSection, codes::kInvalidArgument, "snapshot has no key dictionary (taken from windows with dense ids)");
  auto keys = std::make_unique<KeySpace>(keySpace_->options());
  keys->Read(r);
  bool live = true;
  for (uint32_t key : usedKeys) live &= keys->dictionary().IsLive(key);
  Require(live, codes::kMalformedData, "snapshot state refers to a key that its dictionary does not hold");
  return keys;
}

void EventTimeWindows::Restore(Span<const uint8_t> bytes) {
  Require(!sketches_, codes::kNotSupported, "snapshots of sketch aggregates (quantiles, distinct) are not supported yet");
  SnapshotReader r(bytes, SnapshotKind::kEventTimeWindows);
  const EventTimeWindowsOptions& o = options_;
  bool same = r.Get<uint8_t>() == static_cast<uint8_t>(o.kind);
  for (double x : {o.size, o.slide, o.gap, o.offset, o.allowedLateness, o.horizon}) same = r.Get<double>() == x && same;
  // The key capacity: fixed for dense ids without maxKeys; else any up to the limit (it grows on demand).
  const uint32_t keyCount = r.Get<uint32_t>();
  same = (keyCount == o.keyCount || ((o.maxKeys != 0 || keySpace_) && keyCount >= 1 && keyCount <= KeyLimit())) && same;
  same = r.Get<uint32_t>() == o.channels && same;
  same = r.Get<uint32_t>() == o.aggregates.size() && same;
  Require(same, codes::kInvalidArgument, "snapshot was taken with other options");
  for (Aggregate a : o.aggregates) Require(r.Get<uint8_t>() == static_cast<uint8_t>(a), codes::kInvalidArgument, "snapshot was taken with other aggregates");
  // Any number advance() takes (finite), −Infinity before the first, +Infinity after flush().
  const double watermark = r.GetField<double>("watermark", [](double x) { return !std::isnan(x); });
  WindowMetrics metrics;
  r.GetArray(reinterpret_cast<double*>(&metrics), kSnapshotMetrics);
  CheckField(IsCount(metrics.onTime), "metrics.onTime");
  CheckField(IsCount(metrics.updating), "metrics.updating");
  CheckField(IsCount(metrics.late), "metrics.late");
  CheckField(IsCount(metrics.firedWindows), "metrics.firedWindows");
  CheckField(IsCount(metrics.updateFirings) && metrics.updateFirings <= metrics.firedWindows, "metrics.updateFirings");
  CheckField(IsCount(metrics.ignoredWatermarks), "metrics.ignoredWatermarks");
  const size_t channels = channels_;
  auto readAccumulators = [&](std::vector<TimedAccumulator>& into, size_t count) {
    const size_t before = into.size();
    into.resize(before + count);
    r.GetArray(into.data() + before, count);
  };

  std::unique_ptr<KeySpace> keys;  // the key space's section, staged
  if (o.kind == WindowKind::kSession) {
    const uint64_t keysWithSessions = r.Get<uint64_t>();
    Require(keysWithSessions <= keyCount, codes::kMalformedData, "snapshot has too many keys");
    std::vector<int32_t> heads(keyCount, -1);
    std::vector<Cell> cells;
    std::vector<Session> sessions;
    std::vector<TimedAccumulator> accs;
    for (uint64_t i = 0; i < keysWithSessions; ++i) {
      const uint32_t key = r.Get<uint32_t>();
      const uint32_t count = r.Get<uint32_t>();
      Require(key < keyCount && heads[key] < 0 && count >= 1 && count <= r.Remaining(), codes::kMalformedData,
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
        CheckField(IsSessionTime(s.start) && IsSessionTime(s.end), "sessions[].start/end");
        CheckField(IsCount(events), "sessions[].events");
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
    std::vector<uint32_t> used;
    for (uint32_t key = 0; key < keyCount; ++key) {
      if (heads[key] >= 0) used.push_back(key);
    }
    keys = ReadKeySection(r, used);
    r.ExpectEnd();
    ResizeKeys(keyCount);
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
        Require(count <= keyCount && count <= r.Remaining() / 12, codes::kMalformedData, "snapshot pane too large");
        std::vector<uint8_t> seen;
        for (uint64_t j = 0; j < count; ++j) {
          const uint32_t key = r.Get<uint32_t>();
          const double events = r.Get<double>();
          Require(key < keyCount && events >= 1, codes::kMalformedData, "snapshot cell out of range");
          CheckField(IsCount(events), "panes[].cells[].events");
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
    // Live panes are those the watermark has not purged (a pane below lateBelow holds only windows past their
    // cleanup time, see UpdateThresholds) and hold event times; at most ringPanes of them (checked above).
    const int64_t firedThrough = LastWindowEndingBy(watermark, 0);
    const int64_t purgedThrough = LastWindowEndingBy(watermark, o.allowedLateness);
    const int64_t lateBelow = purgedThrough == kBeforeAll || purgedThrough == kAfterAll
                                  ? purgedThrough
                                  : ClampIndex(static_cast<double>(purgedThrough + 1) * static_cast<double>(panesPerSlide_));
    if (!panes.empty()) {
      CheckField(panes.front() >= lateBelow, "panes[].index (purged by the watermark)");
      const double g = static_cast<double>(paneSize_);
      for (int64_t p : {panes.front(), panes.back()}) {
        CheckField(std::fabs(static_cast<double>(p) * g + o.offset) <= kMaxEventTime + g, "panes[].index (time)");
      }
    }
    const uint64_t pending = r.Get<uint64_t>();
    Require(pending <= r.Remaining() / 16, codes::kMalformedData, "snapshot pending updates too many");
    std::vector<std::pair<int64_t, uint64_t>> updates;
    for (uint64_t i = 0; i < pending; ++i) {
      const int64_t k = r.Get<int64_t>();
      const uint64_t entry = r.Get<uint64_t>();
      Require((entry >> 1) < keyCount, codes::kMalformedData, "snapshot pending update key out of range");
      // An update is of a window that fired and is not cleaned up yet, and holds an event's time.
      CheckField(k <= firedThrough && k > purgedThrough &&
                     std::fabs(o.offset + static_cast<double>(k) * o.slide) <= kMaxEventTime + o.size,
                 "pendingUpdates[].window");
      updates.emplace_back(k, entry);
    }
    std::vector<uint32_t> used;
    for (const auto& cells : paneCells) {
      for (const Cell& c : cells) used.push_back(c.key);
    }
    for (const auto& u : updates) used.push_back(static_cast<uint32_t>(u.second >> 1));
    Require(static_cast<double>(ringPanes_) * keyCount <= 4294967296.0, codes::kOutOfRange,
            "snapshot keys × ring panes exceeds 2^32 slot indices");
    keys = ReadKeySection(r, used);
    r.ExpectEnd();
    ResetRing();
    ResizeKeys(keyCount);
    for (size_t i = 0; i < panes.size(); ++i) {
      if (paneCells[i].empty()) continue;  // format 1 listed empty panes too
      const uint32_t slot = TakeSlot(panes[i]);
      if (lean_) BuildPaneSlots(slot, paneCells[i], leanPaneAccs[i]);
      else BuildPaneSlots(slot, paneCells[i], paneAccs[i]);
      for (size_t j = 0; j < paneCells[i].size(); ++j) slotOf_[size_t{slot} * keyCount + paneCells[i][j].key] = static_cast<uint32_t>(j);
    }
    pendingUpdates_ = std::move(updates);
  }
  watermark_ = watermark;
  metrics_ = metrics;
  if (keySpace_) {
    keySpace_ = std::move(keys);
    metrics_.liveKeys = static_cast<double>(keySpace_->live());
    metrics_.expiredKeys = keySpace_->expiredTotal();
  }
  stacksValid_ = false;
  UpdateThresholds();
}


}  // namespace sluice

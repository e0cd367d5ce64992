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
// "SKCH": the sketches' section follows the payload (windows with sketch aggregates only; their aggregate
// codes in the header keep such a snapshot from restoring into windows without them, and back).
constexpr uint32_t kSketchSectionTag = 0x48434B53;

double ChannelCount(const TimedAccumulator& acc) { return acc.values.count(); }
double ChannelCount(const LeanAccumulator& acc) { return acc.count; }

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

// The cells of a pane in key order: their indices; empty when they are in key order already (the usual case:
// cells are made in key order, or sorted by firing), so the writer reads them in place, sequentially.
template <typename Slot>
std::vector<uint32_t> EventTimeWindows::CellsByKey(const std::vector<Slot>& slots) const {
  bool sorted = true;
  for (size_t j = channels_; j < slots.size() && sorted; j += channels_) sorted = slots[j - channels_].key < slots[j].key;
  if (sorted) return {};
  std::vector<uint64_t> order, scratch;
  order.reserve(slots.size() / channels_);
  for (size_t j = 0; j * channels_ < slots.size(); ++j) order.push_back(uint64_t{slots[j * channels_].key} << 32 | j);
  SortByHighWord(order, scratch);
  std::vector<uint32_t> cells(order.size());
  for (size_t j = 0; j < order.size(); ++j) cells[j] = static_cast<uint32_t>(order[j]);
  return cells;
}

void EventTimeWindows::StartChain(uint32_t crc) const {
  tracking_ = true;
  for (uint32_t key : dirtyList_) dirtyBits_[key >> 6] = 0;
  dirtyList_.clear();
  chainSequence_ = 0;
  chainCrc_ = crc;
  advancedSinceCheckpoint_ = false;
}

std::vector<uint8_t> EventTimeWindows::Snapshot() const {
  SnapshotWriter w(SnapshotKind::kEventTimeWindows);
  std::vector<std::vector<uint32_t>> paneOrder(livePanes_.size());
  const EventTimeWindowsOptions& o = options_;
  PutStoredOptions(w, o);
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
    // Cells in key order (paneOrder[i]: the cells of the i-th live pane), whatever order they arrived in.
    w.Put<uint8_t>(2);
    w.Put<uint64_t>(livePanes_.size());
    for (size_t i = 0; i < livePanes_.size(); ++i) {
      const size_t ring = SlotOf(livePanes_[i]);
      w.Put<int64_t>(livePanes_[i]);
      auto put = [&](const auto& slots) {
        const size_t cells = slots.size() / channels_;
        paneOrder[i] = CellsByKey(slots);
        const std::vector<uint32_t>& order = paneOrder[i];
        w.Put<uint64_t>(cells);
        for (size_t k = 0; k < cells; ++k) {
          const size_t j = order.empty() ? k : order[k];
          w.Put<uint32_t>(slots[j * channels_].key);
          w.Put<double>(slots[j * channels_].events);
        }
        w.Put<uint64_t>(slots.size());
        for (size_t k = 0; k < cells; ++k) {
          const size_t j = order.empty() ? k : order[k];
          for (size_t c = 0; c < channels_; ++c) w.Put(slots[j * channels_ + c].acc);
        }
      };
      if (lean_) put(leanPaneSlots_[ring]);
      else put(paneSlots_[ring]);
    }
    // Sorted and without repeats, as firing takes them.
    std::vector<std::pair<int64_t, uint64_t>> updates = pendingUpdates_;
    std::sort(updates.begin(), updates.end());
    updates.erase(std::unique(updates.begin(), updates.end(),
                              [](const auto& a, const auto& b) { return a.first == b.first && a.second >> 1 == b.second >> 1; }),
                  updates.end());
    w.Put<uint64_t>(updates.size());
    for (const auto& u : updates) {
      w.Put<int64_t>(u.first);
      w.Put<uint64_t>(u.second);
    }
  }
  // Added after format 2's payload, so snapshots without them (no sketches, dense ids, or older) restore as
  // before: the sketches of every cell (sessions, then panes, in the payload's order), then the key space.
  if (sketches_) {
    w.Put<uint32_t>(kSketchSectionTag);
    w.Put<double>(o.accuracy);
    w.Put<uint32_t>(o.distinctPrecision);
    w.PutVector(o.quantiles);
    auto put = [&w](const SketchCell& cell) {
      for (const DDSketch& sketch : cell.quantiles) sketch.Write(w);
      for (const HyperLogLog& sketch : cell.distinct) sketch.Write(w);
    };
    if (o.kind == WindowKind::kSession) {
      for (uint32_t key = 0; key < o.keyCount; ++key) {
        for (int32_t r = sessionHead_[key]; r >= 0; r = sessionCells_[r].next) put(sessionSketches_[static_cast<size_t>(r)]);
      }
    } else {
      for (size_t i = 0; i < livePanes_.size(); ++i) {
        const size_t ring = SlotOf(livePanes_[i]);
        auto putPane = [&](const auto& slots) {
          const std::vector<uint32_t>& order = paneOrder[i];  // empty: in order already
          for (size_t k = 0; k * channels_ < slots.size(); ++k) {
            put(paneSketches_[ring].cells[slots[(order.empty() ? k : order[k]) * channels_].sketch]);
          }
        };
        if (lean_) putPane(leanPaneSlots_[ring]);
        else putPane(paneSlots_[ring]);
      }
    }
  }
  if (keySpace_) {
    w.Put<uint32_t>(kKeySectionTag);
    keySpace_->Write(w);
  }
  std::vector<uint8_t> bytes = w.Finish();
  StartChain(EnvelopeCrc(Span<const uint8_t>(bytes.data(), bytes.size())));
  return bytes;
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

// One stored session (snapshots and deltas write them alike): start, end, its event count (into `events`),
// fired and dirty flags; checked, and after `previousEnd` (a key's sessions are stored in order).
EventTimeWindows::Session EventTimeWindows::ReadStoredSession(SnapshotReader& r, double previousEnd, double& events) {
  Session s{};
  s.start = r.Get<double>();
  s.end = r.Get<double>();
  events = r.Get<double>();
  s.fired = r.Get<uint8_t>();
  s.dirty = r.Get<uint8_t>();
  Require(std::isfinite(s.start) && std::isfinite(s.end) && s.start < s.end && s.start > previousEnd && s.fired <= 1 &&
              s.dirty <= 1 && events >= 1,
          codes::kMalformedData, "stored session out of range");
  CheckField(IsSessionTime(s.start) && IsSessionTime(s.end), "sessions[].start/end");
  CheckField(IsCount(events), "sessions[].events");
  return s;
}

void EventTimeWindows::Restore(Span<const uint8_t> bytes) {
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
  CheckStoredMetrics(metrics);
  const size_t channels = channels_;
  auto readAccumulators = [&](std::vector<TimedAccumulator>& into, size_t count) {
    const size_t before = into.size();
    into.resize(before + count);
    r.GetArray(into.data() + before, count);
  };

  std::unique_ptr<KeySpace> keys;  // the key space's section, staged
  // The sketches' section (sketch aggregates only): one SketchCell per cell, whose quantile sketches must
  // count what the cell's accumulators count (channelCount(cell, channel)).
  auto readSketches = [&](size_t cells, auto&& channelCount) {
    std::vector<SketchCell> sketches;
    if (!sketches_) return sketches;
    Require(r.Remaining() >= 4 && r.Get<uint32_t>() == kSketchSectionTag, codes::kMalformedData, "snapshot has no sketch section");
    bool sameSketches = r.Get<double>() == o.accuracy;
    sameSketches = r.Get<uint32_t>() == o.distinctPrecision && sameSketches;
    sameSketches = r.GetVector<double>(64) == o.quantiles && sameSketches;
    Require(sameSketches, codes::kInvalidArgument, "snapshot was taken with other sketch options (accuracy, distinctPrecision, quantiles)");
    sketches.reserve(cells);
    for (size_t i = 0; i < cells; ++i) {
      SketchCell cell = NewSketchCell();
      for (size_t c = 0; c < cell.quantiles.size(); ++c) {
        cell.quantiles[c].Read(r);
        CheckField(cell.quantiles[c].count() == channelCount(i, c), "quantile sketch count (the cell's value count)");
      }
      for (HyperLogLog& sketch : cell.distinct) sketch.Read(r);
      sketches.push_back(std::move(cell));
    }
    return sketches;
  };
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
        double events;
        const Session s = ReadStoredSession(r, previousEnd, events);
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
    // Records were numbered in the payload's order, which is the sketches' order.
    std::vector<SketchCell> sketches =
        readSketches(cells.size(), [&](size_t record, size_t c) { return ChannelCount(accs[record * channels + c]); });
    for (size_t record = 0; record < sketches.size(); ++record) sketches[record].key = cells[record].key;
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
    if (sketches_) sessionSketches_ = std::move(sketches);
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
    // Sketches in the payload's order: pane by pane, cell by cell.
    std::vector<std::pair<size_t, size_t>> cellAt;  // the i-th cell overall: (pane, cell)
    for (size_t i = 0; i < paneCells.size(); ++i) {
      for (size_t j = 0; j < paneCells[i].size(); ++j) cellAt.emplace_back(i, j);
    }
    std::vector<SketchCell> sketches = readSketches(cellAt.size(), [&](size_t i, size_t c) {
      const auto [pane, cell] = cellAt[i];
      return lean_ ? ChannelCount(leanPaneAccs[pane][cell * channels + c]) : ChannelCount(paneAccs[pane][cell * channels + c]);
    });
    std::vector<uint32_t> used;
    for (const auto& cells : paneCells) {
      for (const Cell& c : cells) used.push_back(c.key);
    }
    for (const auto& u : updates) used.push_back(static_cast<uint32_t>(u.second >> 1));
    keys = ReadKeySection(r, used);
    r.ExpectEnd();
    ResetRing();
    ResizeKeys(keyCount);
    size_t nextSketch = 0;
    for (size_t i = 0; i < panes.size(); ++i) {
      if (paneCells[i].empty()) continue;  // format 1 listed empty panes too
      const uint32_t slot = TakeSlot(panes[i]);
      if (lean_) BuildPaneSlots(slot, paneCells[i], leanPaneAccs[i]);
      else BuildPaneSlots(slot, paneCells[i], paneAccs[i]);
      for (size_t j = 0; j < paneCells[i].size(); ++j) cellIndex_.Set(slot, paneCells[i][j].key, static_cast<uint32_t>(j));
      if (sketches_) {  // the pane's sketch table: cell j's sketches at j
        SketchPane& table = paneSketches_[slot];
        table.cells.clear();
        for (size_t j = 0; j < paneCells[i].size(); ++j) {
          SketchCell& cell = sketches[nextSketch++];
          cell.key = paneCells[i][j].key;
          table.cells.push_back(std::move(cell));
          if (lean_) leanPaneSlots_[slot][j * channels].sketch = static_cast<uint32_t>(j);
          else paneSlots_[slot][j * channels].sketch = static_cast<uint32_t>(j);
        }
        table.used = table.cells.size();
      }
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
  StartChain(EnvelopeCrc(bytes));
}


}  // namespace sluice

// Keyed event-time windows (tumbling, sliding, session) over columns, with Flink's firing rules:
//  - a window [start, end) holds timestamps start ≤ t < end and fires when the watermark reaches end − 1;
//  - it stays updatable until the watermark reaches end − 1 + allowedLateness (then it is purged); an
//    event for a fired but live window updates it and fires it again (flagged as an update) at the next
//    advance; an event that belongs to no live window goes to the late output (its index), never dropped;
//  - session windows [firstTs, lastTs + gap) merge when an event bridges them (touching counts, as
//    Flink's TimeWindow.intersects).
// Sliding windows are built from panes of gcd(size, slide): each event updates one pane cell. A window of
// up to 16 panes merges them (each pane sorted by key once, in place, then merged as sorted runs); beyond
// that, Two-Stacks per key over the pane cells makes a window O(1) merges per key, amortised.
//
// Panes live in a ring of `ringPanes` slots (a power of two covering size + allowedLateness + horizon). Pane p
// sits in slot p mod ringPanes when that slot is free, else in the next free slot (a small sorted directory
// finds those), so only panes that hold data take a slot: a stream that pauses for any time, keys that go
// idle, or a watermark that jumps ahead need no slot for the empty time between. The one limit: at most
// `ringPanes` panes hold live (unpurged) data at once; a batch needing more is ERR_OUT_OF_RANGE.
// Windows to fire are found from the live panes, so a jump costs the windows that hold data, not the time.
//
// Memory: tumbling/sliding keep a (ring slot, key) → cell index (cell_index.h): while ring slots × keys × 4
// bytes ≤ 16 MiB one 4-byte index per key per ring slot, beyond a hash table per live pane, 16–32 bytes per cell;
// plus 4 bytes per key for sliding windows (FiringCount's per-key tally), and per (key, live pane) that holds
// data one cell of 128·channels bytes (64·channels when only count/sum/mean/min/max are asked for: one cache line). A purged
// pane's buffer goes to the next pane that starts, so no allocation happens once buffers reached their
// high-water mark. Two-Stacks adds per key 40 bytes + one accumulator per channel, and per cell one suffix
// accumulator per channel. Sessions keep 4 bytes per key plus one record per open session
// (40 + 104·channels bytes) from a pool that is reused likewise.
//
// Sketch aggregates (kQuantile: DDSketch, kDistinct: HyperLogLog) live beside the cells, which keep their size:
// per (key, live pane) cell, or per session, one SketchCell of 32 bytes + per channel a DDSketch (≈ 120 bytes +
// 8 bytes per bucket between the smallest and largest magnitude seen, at most 2·2048 buckets, 32 KiB) when a
// quantile column is asked for and a HyperLogLog (2^distinctPrecision bytes + 32) when `distinct` is. Purged
// panes' tables and freed sessions' sketches are reused, cleared. Sketch windows never use Two-Stacks (it would
// keep a suffix sketch per cell): a window merges its panes' sketches, O(panes per window) merges per key.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>

#include "windows/aggregates.h"
#include "windows/cell_index.h"
#include "windows/dd_sketch.h"
#include "windows/hyper_log_log.h"
#include "base/span.h"
#include "keys/key_space.h"

namespace sluice {

enum class WindowKind : uint8_t { kTumbling = 0, kSliding = 1, kSession = 2 };

struct EventTimeWindowsOptions {
  WindowKind kind = WindowKind::kTumbling;
  double size = 0;     // tumbling / sliding: window length (integer ≥ 1)
  double slide = 0;    // sliding: step (integer ≥ 1, ≤ size); tumbling: = size
  double gap = 0;      // session: inactivity gap (integer ≥ 1)
  double offset = 0;   // tumbling / sliding: windows start at offset + k·slide (integer, |offset| < slide)
  double allowedLateness = 0;  // integer ≥ 0
  double horizon = 0;  // tumbling / sliding: ring = panes of size + allowedLateness + horizon; 0: 4·size
  uint32_t keyCount = 1;  // dense ids: [0, keyCount); with maxKeys or keySpace: the starting capacity
  // Dense ids: > keyCount lets ids up to maxKeys − 1 in, the key space growing by doubling; 0: keyCount fixed.
  uint32_t maxKeys = 0;
  // Keys of another kind (strings, 64-bit ids, bytes), interned into ids by a KeySpace (maxKeys, keyTtl).
  std::optional<KeySpaceOptions> keySpace;
  uint32_t channels = 1;
  std::vector<Aggregate> aggregates;
  // The q (in [0, 1]) of each kQuantile entry of `aggregates`, in their order.
  std::vector<double> quantiles;
  double accuracy = DDSketch::kDefaultAccuracy;                // kQuantile: DDSketch relative accuracy
  uint32_t distinctPrecision = HyperLogLog::kDefaultPrecision;  // kDistinct: HyperLogLog precision p
};

// The sketches of one (key, pane) cell or one session, one per channel: a DDSketch when a quantile column is
// asked for, a HyperLogLog when `distinct` is. Kept apart from the accumulator cells (which stay as small as
// without sketches); a cell points to its sketches by index.
struct SketchCell {
  uint32_t key = 0;
  std::vector<DDSketch> quantiles;
  std::vector<HyperLogLog> distinct;

  void Clear() {
    for (DDSketch& s : quantiles) s.Clear();
    for (HyperLogLog& s : distinct) s.Clear();
  }
  void Merge(const SketchCell& other) {
    for (size_t c = 0; c < quantiles.size(); ++c) quantiles[c].Merge(other.quantiles[c]);
    for (size_t c = 0; c < distinct.size(); ++c) distinct[c].Merge(other.distinct[c]);
  }
  size_t MemoryBytes() const {
    size_t bytes = sizeof(*this);
    for (const DDSketch& s : quantiles) bytes += s.MemoryBytes();
    for (const HyperLogLog& s : distinct) bytes += s.MemoryBytes();
    return bytes;
  }
};

// One channel's statistics for one pane or window. first/last are by timestamp (ties: arrival order), so
// the result does not depend on arrival order across panes.
struct TimedAccumulator {
  Accumulator values;
  double firstTime = std::numeric_limits<double>::infinity();
  double lastTime = -std::numeric_limits<double>::infinity();
  double firstValue = std::numeric_limits<double>::quiet_NaN();
  double lastValue = std::numeric_limits<double>::quiet_NaN();

  void Add(double x, double t) {
    if (x != x) return;  // NaN: missing value
    values.Add(x);
    if (t < firstTime) {
      firstTime = t;
      firstValue = x;
    }
    if (t >= lastTime) {
      lastTime = t;
      lastValue = x;
    }
  }
  void Merge(const TimedAccumulator& later) {
    values.Merge(later.values);
    if (later.firstTime < firstTime) {
      firstTime = later.firstTime;
      firstValue = later.firstValue;
    }
    if (later.lastTime >= lastTime) {
      lastTime = later.lastTime;
      lastValue = later.lastValue;
    }
  }
  Summary ToSummary() const {
    Summary s = values.ToSummary();
    s.first = firstValue;
    s.last = lastValue;
    return s;
  }
};

// The statistics of one channel when only count / sum / mean / min / max are asked for: 40 bytes instead of
// 104, so a pane's cells stay in cache (mean is sum / count here, Welford's running mean in the full one).
struct LeanAccumulator {
  double count = 0;
  CompensatedSum sum;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  void Add(double x, double /*t*/) {
    if (x != x) return;
    count += 1;
    sum.Add(x);
    min = x < min ? x : min;
    max = x > max ? x : max;
  }
  void Merge(const LeanAccumulator& later) {
    count += later.count;
    sum.Add(later.sum.sum);
    sum.Add(later.sum.compensation);
    min = later.min < min ? later.min : min;
    max = later.max > max ? later.max : max;
  }
  Summary ToSummary() const {
    Summary s;
    s.count = count;
    s.sum = sum.Value();
    s.mean = count > 0 ? s.sum / count : 0;
    s.min = min;
    s.max = max;
    return s;
  }
};

// One channel of one (key, pane) cell, with the cell's key and event count in front: a cell of C channels is
// C consecutive slots (the header of the first one counts), so with the lean accumulator the whole state an
// event touches is one cache line.
template <typename Acc>
struct alignas(64) PaneSlot {
  uint32_t key = 0;
  uint32_t sketch = 0;  // sketch aggregates: the cell's SketchCell in its pane's table (fills padding)
  double events = 0;
  Acc acc;
};
// The sketch index fills the header's padding: cells of windows without sketch aggregates keep their size.
static_assert(sizeof(PaneSlot<LeanAccumulator>) == 64 && sizeof(PaneSlot<TimedAccumulator>) == 128);

// Fired windows as columns, sorted by (end, key); `values` is [window][channel][aggregate].
struct FiredWindows {
  std::vector<uint32_t> keys;
  std::vector<double> starts, ends, counts;
  std::vector<uint8_t> updates;
  std::vector<double> values;
  size_t size() const { return keys.size(); }
  void Clear() {
    keys.clear();
    starts.clear();
    ends.clear();
    counts.clear();
    updates.clear();
    values.clear();
  }
};

struct WindowMetrics {
  double onTime = 0;             // events placed only into windows that had not fired
  double updating = 0;           // late but allowed events: they update (or first fire) a window whose end passed
  double late = 0;               // events in no live window: returned in the late output
  double firedWindows = 0;       // window results emitted (first firings and updates)
  double updateFirings = 0;      // of which updates of already fired windows
  double ignoredWatermarks = 0;  // explicit watermarks that went back (ignored, like Flink)
  double liveKeys = 0;           // keys interned and not expired (key spaces only)
  double expiredKeys = 0;        // keys freed so far, by keyTtl or expire()
};

class EventTimeWindows {
 public:
  explicit EventTimeWindows(const EventTimeWindowsOptions& options);

  // Places each event in its windows. `keys` may be empty (all key 0); values are [event][channel].
  // Indices of late events go to lateOut (capacity ≥ events); returns how many. Every check happens first.
  template <typename T>
  size_t Push(Span<const double> timestamps, Span<const uint32_t> keys, Span<const T> values, Span<uint32_t> lateOut);

  // Raises the watermark to `watermark` (finite) and fires, into fired(): pending updates of fired windows,
  // then every window whose end − 1 ≤ watermark, in (end, key) order. A watermark below the current one
  // is ignored (metric) but still emits pending updates. Returns the number of windows fired.
  size_t AdvanceWatermark(double watermark);
  // End of stream: fires everything (watermark +Infinity).
  size_t Flush();
  // How many windows AdvanceWatermark(watermark) (or Flush(), watermark +Infinity) would fire now, without
  // firing them: callers check their output space first. Changes nothing observable (pending updates are put
  // in the canonical order that firing puts them in anyway); costs at most what firing would, no allocation.
  size_t FiringCount(double watermark);

  // Keys of any kind (options.keySpace): interns the batch (one native pass), then Push with the ids; all
  // or nothing (keys new in this batch are forgotten again when the push fails).
  template <typename T>
  size_t PushKeys(Span<const double> timestamps, const KeyBatch& keys, Span<const T> values, Span<uint32_t> lateOut);
  // Interns keys without pushing events (callers that translate keys themselves, then Push the ids).
  void Intern(const KeyBatch& keys, Span<uint32_t> ids);
  void UndoIntern();  // forgets the keys that the last Intern created (their push failed)
  // Frees live keys now, with whatever they hold (open windows are dropped without firing); their ids are
  // reused. Returns the ids freed (repeats once). Needs a key space.
  const std::vector<uint32_t>& Expire(Span<const uint32_t> ids);
  // Ids freed by the last AdvanceWatermark / Flush (keyTtl) or Expire call.
  const std::vector<uint32_t>& expiredIds() const;
  const KeySpace* keySpace() const { return keySpace_.get(); }

  const FiredWindows& fired() const { return fired_; }
  double watermark() const { return watermark_; }
  const WindowMetrics& metrics() const { return metrics_; }
  const EventTimeWindowsOptions& options() const { return options_; }
  uint32_t ringPanes() const { return ringPanes_; }
  size_t MemoryBytes() const;  // native bytes held now (capacities)

  // The whole state. Cells are written in key order within each pane and pending updates sorted, so two
  // objects in the same state write the same bytes whatever order their cells arrived in (an object restored
  // from a full snapshot and one brought to the same point by deltas compare byte for byte).
  // Snapshot and Restore also start a checkpoint chain: the next SnapshotDelta builds on them.
  std::vector<uint8_t> Snapshot() const;
  void Restore(Span<const uint8_t> bytes);  // all or nothing

  // Incremental checkpoints (event_time_windows_delta.cc). Keys whose state changed since the last
  // checkpoint (a push, expiry, a session fired or purged, late updates fired, a new dictionary entry) are
  // tracked in a bitset and a list from the first Snapshot/Restore on. SnapshotDelta writes the global state
  // (watermark, metrics, key capacity, the key space's counts) and, per changed key, its complete state: its
  // cells in every live pane and its pending updates, or its sessions, and its dictionary entry (or its
  // absence); then clears the set. A delta names the checkpoint it builds on (sequence number and CRC).
  // ApplyDelta brings an object that stands at that checkpoint (restored, or the delta before applied) to the
  // delta's: everything is checked first (ERR_MALFORMED_DATA for bad bytes, ERR_INVALID_ARGUMENT for a delta
  // of another chain or other options), then applied; panes the new watermark purges go as they would have.
  // Not with sketch aggregates (ERR_NOT_SUPPORTED): their cells are large and would need a section of their own.
  std::vector<uint8_t> SnapshotDelta();
  void ApplyDelta(Span<const uint8_t> bytes);
  size_t changedKeys() const { return dirtyList_.size(); }  // keys the next delta holds
  // The keys the last ApplyDelta replaced (ascending), for callers that mirror the dictionary (lib's strings).
  const std::vector<uint32_t>& appliedKeys() const { return appliedKeys_; }

 private:
  struct Cell {  // one (key, pane) of a tumbling/sliding window, or the head of a session record
    uint32_t key;
    int32_t next;  // sessions: next session of the key (by start), −1 at the end
    double events;
  };
  struct Session {
    double start, end;
    uint8_t fired, dirty;
    uint8_t due;         // has a timer in dueSessions_
    uint8_t cleanup;     // has a timer in cleanupSessions_
    uint32_t stamp;      // bumped when the record is freed: older heap entries are stale
  };
  // A session's timer. Timers are lazy: a session that grew since is timed again with its new time when its
  // timer comes up; a freed one is skipped by its stamp.
  struct SessionTimer {
    double time;
    int32_t record;
    uint32_t stamp;
  };
  static Session ReadStoredSession(SnapshotReader& reader, double previousEnd, double& events);
  // Timers bucketed by floor(time / width): adding is an append (cache-friendly, O(1)), and taking the
  // timers up to a time visits only the buckets it passes. Bucket buffers are reused.
  class TimerBuckets {
   public:
    void SetWidth(double width) { width_ = width; }
    void Add(const SessionTimer& timer);
    // Calls next(timer) for every timer with time ≤ limit; next returns the timer's new time (> limit) to
    // keep it, or NaN to drop it. The rest stay.
    template <typename Next>
    void Take(double limit, Next&& next);
    void Clear();
    size_t Bytes() const;
    // Calls visit(timer) for every timer with time ≤ limit, in no particular order; changes nothing.
    template <typename Callback>
    void ForEachUpTo(double limit, Callback&& visit) const;

   private:
    double width_ = 1;
    std::map<int64_t, std::vector<SessionTimer>> buckets_;
    std::vector<SessionTimer>* last_ = nullptr;  // the bucket of the last Add (streams add to the newest)
    int64_t lastIndex_ = 0;
    std::vector<std::vector<SessionTimer>> spare_;
    std::vector<SessionTimer> carry_;
  };
  void AddTimer(TimerBuckets& timers, double time, int32_t record);
  void QueueDue(int32_t record);

  size_t CellDoubles() const { return channels_ * kAccDoubles; }
  static constexpr size_t kAccDoubles = sizeof(TimedAccumulator) / sizeof(double);

  // Pane and window arithmetic (tumbling / sliding), all in integer pane / window indices.
  int64_t PaneOf(double t) const;
  int64_t LastWindowEndingBy(double watermark, double lateness) const;  // k of the last window with end − 1 + lateness ≤ wm
  void UpdateThresholds();

  template <typename T, typename Acc>
  void PushPanes(Span<const double> ts, Span<const uint32_t> keys, Span<const T> values, uint32_t* lateOut, size_t* lateCount);
  template <typename T>
  void PushSessions(Span<const double> ts, Span<const uint32_t> keys, Span<const T> values, uint32_t* lateOut, size_t* lateCount);
  void CheckPanesFit(Span<const double> ts);

  // The key space (event_time_windows_keys.cc): growing the per-key arrays, and freeing a key's state.
  uint32_t KeyLimit() const;  // ids below this are accepted
  void ResizeKeys(uint32_t keyCount);
  double KeyReleaseTime(uint32_t key, double lastSeen) const;  // watermark from which the key holds no window
  void ForgetKey(uint32_t key);     // frees the key's state (expiry), marked changed
  void DropKeyState(uint32_t key);  // its cells or sessions (not its pending updates), unmarked (ApplyDelta)
  void ExpireIdleKeys(double watermark);
  // After keys were freed (keyTtl, expire): per-key arrays and cell buffers follow the live keys down.
  // O(ring panes) per call that freed keys, plus the copies when something shrinks; nothing per event.
  void FitMemoryToKeys();
  void FitFired();                // the fired-window columns, once empty, after FitMemoryToKeys
  bool firedFitPending_ = false;
  // Restore: the key space's section after the payload (checked against the keys the state uses), or null.
  std::unique_ptr<KeySpace> ReadKeySection(SnapshotReader& r, const std::vector<uint32_t>& usedKeys) const;

  // The ring: which slot holds pane p (kNoSlot: none), taking and releasing slots.
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  static constexpr int64_t kNoPane = std::numeric_limits<int64_t>::min();
  uint32_t SlotOf(int64_t p) const {
    const size_t home = static_cast<size_t>(p & (ringPanes_ - 1));
    if (slotPane_[home] == p) return static_cast<uint32_t>(home);
    return displaced_.empty() ? kNoSlot : DisplacedSlotOf(p);
  }
  uint32_t DisplacedSlotOf(int64_t p) const;
  uint32_t TakeSlot(int64_t p);  // p holds no slot; fewer than ringPanes_ panes are live
  void ReleaseSlot(int64_t p);
  void ResetRing();
  // Calls fire(k) for every window k in (firedThrough_, through] that holds a live pane, in increasing k.
  template <typename Fire>
  void ForEachWindowToFire(int64_t through, Fire&& fire) const;
  void NormalizePendingUpdates();
  template <typename Acc>
  size_t CountPaneWindows(int64_t through);

  template <typename Acc>
  void SortPane(size_t ring);
  template <typename Acc>
  void FirePaneWindow(int64_t k);
  template <typename Acc>
  void FirePaneUpdates();
  template <typename Acc>
  void FireTwoStacksWindow(int64_t k);
  template <typename Acc>
  std::vector<Acc>& BackAccumulators() {
    if constexpr (std::is_same_v<Acc, LeanAccumulator>) return leanBack_;
    else return back_;
  }
  template <typename Acc>
  std::vector<std::vector<Acc>>& Suffixes() {
    if constexpr (std::is_same_v<Acc, LeanAccumulator>) return leanSuffixes_;
    else return suffixes_;
  }
  void FirePanes(double newWatermark);
  void FireSessions(double newWatermark);
  size_t SessionFiringCount(double watermark) const;  // FiringCount for session windows
  template <typename Acc>
  void EmitWindow(uint32_t key, double start, double end, double events, const Acc* cells, bool update,
                  const SketchCell* sketches = nullptr);

  // Sketch aggregates (kQuantile, kDistinct). Each live ring pane has a table of SketchCells (a cell's
  // PaneSlot::sketch indexes it); a purged pane's table goes to the next pane with its allocations, cleared.
  // Sessions have one SketchCell per record. Windows merge their panes' sketches into windowSketch_.
  struct SketchPane {
    std::vector<SketchCell> cells;
    size_t used = 0;  // cells[0, used) belong to the pane; the rest are cleared spares
  };
  SketchCell NewSketchCell() const;
  uint32_t TakeSketchCell(size_t ring, uint32_t key);  // a cleared SketchCell for a new cell of pane `ring`
  template <typename T>
  static void AddToSketches(SketchCell& cell, const T* values, size_t channels) {
    for (size_t c = 0; c < cell.quantiles.size(); ++c) cell.quantiles[c].Add(static_cast<double>(values[c]));
    for (size_t c = 0; c < cell.distinct.size(); ++c) cell.distinct[c].Add(static_cast<double>(values[c]));
    (void)channels;
  }
  // windowSketch_ = the merge of `key`'s sketch cells in panes [firstPane, lastPane]; returns it.
  template <typename Acc>
  const SketchCell* MergePaneSketches(uint32_t key, int64_t firstPane, int64_t lastPane);
  bool sketches_ = false;
  std::vector<SketchPane> paneSketches_;   // per ring slot
  std::vector<SketchPane> spareSketches_;  // tables of purged panes
  std::vector<SketchCell> sessionSketches_;  // per session record
  SketchCell windowSketch_;
  template <typename Acc>
  std::vector<std::vector<PaneSlot<Acc>>>& PaneSlots() {
    if constexpr (std::is_same_v<Acc, LeanAccumulator>) return leanPaneSlots_;
    else return paneSlots_;
  }
  template <typename Acc>
  void BuildPaneSlots(size_t ring, const std::vector<Cell>& cells, const std::vector<Acc>& accs);

  int32_t AllocateSession();
  void FreeSession(int32_t index);

  // Incremental checkpoints. Mutable: Snapshot() (const) starts a chain. Tracking begins at the first
  // Snapshot/Restore (an object never checkpointed pays nothing); a key is listed once until the next delta.
  void MarkChanged(uint32_t key) const {
    if (!tracking_) return;
    const size_t word = key >> 6;
    if (word >= dirtyBits_.size()) dirtyBits_.resize(std::max(word + 1, dirtyBits_.size() * 2), 0);
    const uint64_t bit = uint64_t{1} << (key & 63);
    if (dirtyBits_[word] & bit) return;
    dirtyBits_[word] |= bit;
    dirtyList_.push_back(key);
  }
  void StartChain(uint32_t crc) const;  // after a full snapshot or restore: nothing changed since `crc`
  bool IsChanged(uint32_t key) const {
    const size_t word = key >> 6;
    return word < dirtyBits_.size() && (dirtyBits_[word] >> (key & 63) & 1) != 0;
  }
  template <typename Slot>
  std::vector<uint32_t> CellsByKey(const std::vector<Slot>& slots) const;
  mutable bool tracking_ = false;
  mutable std::vector<uint64_t> dirtyBits_;
  mutable std::vector<uint32_t> dirtyList_;
  mutable uint64_t chainSequence_ = 0;  // 0 at a full snapshot / restore, +1 per delta
  mutable uint32_t chainCrc_ = 0;       // CRC of the last checkpoint's bytes (full or delta)
  mutable bool advancedSinceCheckpoint_ = false;
  std::vector<uint32_t> appliedKeys_;  // a watermark advance since (ApplyDelta needs an untouched object)

  EventTimeWindowsOptions options_;
  uint32_t channels_;
  std::unique_ptr<KeySpace> keySpace_;
  std::vector<uint32_t> keyIds_;  // PushKeys' scratch: the batch's ids
  int64_t paneSize_ = 1, panesPerWindow_ = 1, panesPerSlide_ = 1;
  uint32_t ringPanes_ = 0;  // power of two
  double watermark_ = -std::numeric_limits<double>::infinity();
  WindowMetrics metrics_;
  FiredWindows fired_;

  // Tumbling / sliding. Windows k ≤ firedThrough_ have fired, k ≤ purgedThrough_ are purged; panes below
  // lateBelow_ are purged; an event in a pane ≥ onTimeFrom_ touches no fired window.
  int64_t firedThrough_, purgedThrough_, lateBelow_, onTimeFrom_;
  std::vector<int64_t> slotPane_;    // [ring slot] → the pane it holds, or kNoPane
  std::vector<int64_t> livePanes_;   // panes that hold data, ascending (at most ringPanes_; capacity reserved)
  std::vector<std::pair<int64_t, uint32_t>> displaced_;  // (pane, slot) of live panes not in slot p mod ring, by pane
  std::vector<int64_t> paneScratch_;  // CheckPanesFit's exact count of new panes (slow path only)
  // Sliding, FiringCount's per-key scratch: with Two-Stacks the key's cells in the window (all zero between
  // calls), else the stamp of the last window that counted the key (countStamp_ grows per window).
  std::vector<uint32_t> keyTally_;
  uint32_t countStamp_ = 0;
  CellIndex cellIndex_;                             // (ring slot, key) → cell index in that pane's arena
  bool lean_ = false;                               // only count / sum / mean / min / max: LeanAccumulator
  std::vector<std::vector<PaneSlot<TimedAccumulator>>> paneSlots_;    // per ring pane: [cell][channel]
  std::vector<std::vector<PaneSlot<LeanAccumulator>>> leanPaneSlots_;  // the same when lean_
  std::vector<uint32_t> sortedCells_;  // per ring pane: its cells are sorted by key up to here
  std::vector<std::pair<int64_t, uint64_t>> pendingUpdates_;     // (window k, key << 1 | fired before) to fire
  std::vector<uint64_t> order_;  // scratch for sorting a pane
  std::vector<uint64_t> radixScratch_;
  void SortOrderByKey();

  // Many panes per window (size / gcd > kPaneMergeLimit): Two-Stacks per key over its pane cells, so a
  // window costs O(1) merges per key, amortised, instead of one per pane. Front stack: suffix aggregates
  // stored beside the cells of panes up to frontEnd_[key]; back stack: one running aggregate of the key's
  // cells entered since (back_). Window membership is a per-key count of cells in the window's panes and a
  // key bitmap (keys come out in order). All of it is derived: a late update, a restore or a skipped window
  // rebuilds it from the cells (an epoch invalidates every key at once).
  static constexpr int64_t kPaneMergeLimit = 16;
  bool twoStacks_ = false;
  bool stacksValid_ = false;
  int64_t nextWindow_ = 0, enteredHigh_ = 0;
  uint32_t epoch_ = 0;
  std::vector<uint32_t> keyEpoch_, keyCells_;
  std::vector<int64_t> frontEnd_, frontCursor_;
  std::vector<double> backEvents_;
  std::vector<TimedAccumulator> back_;
  std::vector<LeanAccumulator> leanBack_;
  std::vector<uint64_t> keyBits_;
  std::vector<std::vector<TimedAccumulator>> suffixes_;      // per ring pane: [cell][channel]
  std::vector<std::vector<LeanAccumulator>> leanSuffixes_;
  std::vector<std::vector<double>> suffixEvents_;            // per ring pane: [cell]

  // Buffers of purged panes, handed to the next pane that starts, so memory follows the panes alive at once
  // (not the ring size) and no allocation happens once they reached their high-water mark.
  std::tuple<std::vector<std::vector<PaneSlot<TimedAccumulator>>>, std::vector<std::vector<PaneSlot<LeanAccumulator>>>,
             std::vector<std::vector<TimedAccumulator>>, std::vector<std::vector<LeanAccumulator>>,
             std::vector<std::vector<double>>>
      spares_;
  template <typename T>
  void Recycle(std::vector<T>& buffer) {
    if (buffer.capacity() == 0) return;
    buffer.clear();
    std::get<std::vector<std::vector<T>>>(spares_).push_back(std::move(buffer));
    buffer = std::vector<T>();
  }
  template <typename T>
  void Reuse(std::vector<T>& buffer) {
    auto& spares = std::get<std::vector<std::vector<T>>>(spares_);
    if (buffer.capacity() != 0 || spares.empty()) return;
    buffer = std::move(spares.back());
    spares.pop_back();
  }

  // Sessions: per key the head of a list sorted by start; records come from a pool with a free list.
  std::vector<int32_t> sessionHead_;
  std::vector<Cell> sessionCells_;
  std::vector<Session> sessions_;
  std::vector<TimedAccumulator> sessionAccumulators_;
  int32_t freeSession_ = -1;
  TimerBuckets dueSessions_;      // by end: sessions to fire (new, or updated after firing)
  TimerBuckets cleanupSessions_;  // by end − 1 + allowedLateness: fired sessions to purge
  std::vector<std::pair<double, uint64_t>> sessionOrder_;  // (end, key << 32 | record)
};

}  // namespace sluice

// The Pipeline's native pass: one call per source batch runs checks → windows push → watermark → firing →
// rows (forward fill, features) → forecast (the LSTM kernels, one call per round of distinct keys) → the
// residual's rolling z-score, and writes the result batch's columns into one buffer the caller hands out
// once the row count is known. lib/pipeline/pipeline.ts builds views over that buffer and routes batches.
//
// Per key it keeps, in vectors indexed by key id: the last row start, the last row's features, the model
// history (historyRows() rows of features), the pending forecast, the z-score ring (anomaly.window values
// per feature) and, in state mode, the LstmState's (h, c). Dense ids: keyCount of them, fixed. With a key
// space (options.keySpace: keys of any kind interned by the windows' KeySpace, so every stage agrees on the
// ids) the vectors follow the dictionary's ids: they double when an interned id reaches past them and halve
// when expiry leaves the upper half unused; an expired key's state is cleared (FreeKeys) and its id reused.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/span.h"
#include "keys/key_space.h"
#include "lstm/lstm_model.h"
#include "lstm/lstm_state.h"
#include "windows/aggregates.h"
#include "windows/event_time_windows.h"
#include "windows/rolling_zscore.h"
#include "windows/watermark_tracker.h"

namespace sluice {

enum class ForecastMode : uint8_t { kNone = 0, kWindow = 1, kState = 2 };

// scaled = (value − offset) / scale per feature; empty: no scaler.
struct FeatureScaler {
  std::vector<double> offset, scale;
  bool empty() const { return offset.empty(); }
};

struct PipelineCoreOptions {
  uint32_t inputs = 1;
  uint32_t keyCount = 1;  // dense ids: [0, keyCount); with keySpace: the starting capacity
  // Keys of another kind (strings, 64-bit ids, bytes) interned natively (maxKeys, keyTtl); absent: dense ids.
  std::optional<KeySpaceOptions> keySpace;
  uint32_t channels = 1;
  double size = 1, slide = 1, offset = 0, horizon = 0;  // event-time windows (tumbling when slide = size)
  double bound = 0;                                        // watermark out-of-orderness
  double idleTimeout = std::numeric_limits<double>::infinity();
  bool labels = false;    // batches carry a label column; a row's label is its window's max
  uint32_t maxFill = 120;  // longest gap (rows) forward-filled
  std::vector<Aggregate> features{Aggregate::kMean};  // per channel: a row has channels · features.size() features
  // The windows' sketch options for sketch features (EventTimeWindowsOptions': one q per kQuantile feature,
  // in order; DDSketch accuracy; HyperLogLog precision of kDistinct).
  std::vector<double> quantiles;
  double accuracy = DDSketch::kDefaultAccuracy;
  uint32_t distinctPrecision = HyperLogLog::kDefaultPrecision;
  ForecastMode mode = ForecastMode::kNone;
  std::shared_ptr<LstmModel> model;  // inputSize = outputSize = the feature count (mode ≠ kNone)
  uint32_t steps = 1;                // window mode: rows per forecast
  bool changeTarget = false;         // the model forecasts the change from the current row
  FeatureScaler inputScaler, targetScaler;
  bool anomaly = true;  // score the residual with a rolling z-score
  RollingZScoreOptions zscore;
  // The result carries the forecast, score and flagged columns. Without a forecaster they hold nothing
  // (NaN, NaN, 0), so a caller may leave them out (false: fewer fresh bytes per result); with one they are
  // always there.
  bool scoreColumns = true;
};

// A column of the caller's numbers in any element type a batch may carry.
struct NumberColumn {
  enum class Type : uint8_t { kFloat64, kFloat32, kUint8 };
  Type type = Type::kFloat64;
  const void* data = nullptr;
  size_t size = 0;
};

struct PipelineBatch {
  uint32_t input = 0;
  Span<const double> timestamps;
  Span<const uint32_t> keys;  // empty: every event is key 0 (with a key space: ids of live keys)
  const KeyBatch* keyBatch = nullptr;  // with a key space, instead of `keys`: keys to intern (all or nothing)
  NumberColumn values;        // [event][channel]
  NumberColumn labels;        // [event] with options.labels (may be empty when there are no events)
  double now = 0;             // processing time (idleness)
};

// The counters of PipelineMetrics (events, …) and the time spent in the pass.
struct PipelineCounters {
  double events = 0, windowedEvents = 0, lateEvents = 0, windowsFired = 0, filledRows = 0, flaggedRows = 0;
  double batchesIn = 0, batchesOut = 0, busyMs = 0, latencySumMs = 0, latencyMaxMs = 0, latencyLastMs = 0;
};

// Where one result batch's columns are in its buffer (byte offsets), for `rows` rows and `late` late events:
// float64 start, end, count [rows], values, forecast [rows][features], score [rows], label [rows] (with
// labels), lateTimestamps [late]; uint32 key [rows], lateKeys [late]; uint8 filled, flagged [rows].
// Without `scores` (PipelineCoreOptions::scoreColumns) forecast, score and flagged take no bytes.
// lib/pipeline/pipeline.ts (resultViews) reads the same order.
struct ResultLayout {
  ResultLayout(size_t rows, size_t late, size_t features, bool labels, bool scores = true);
  size_t start, end, count, values, forecast, score, label, lateTimestamps, key, lateKeys, filled, flagged, bytes;
};

struct PipelineResult {
  size_t rows = 0, late = 0;
  uint32_t input = 0;
  double watermark = 0;
  bool final = false;
};

class PipelineCore {
 public:
  // Checks the options (ERR_INVALID_ARGUMENT / ERR_OUT_OF_RANGE) and builds the engines.
  explicit PipelineCore(const PipelineCoreOptions& options, double now);

  // Gives the result's buffer of `bytes` bytes (zero-filled not needed: every byte is written).
  using Allocate = std::function<uint8_t*(size_t bytes)>;

  // One source batch. Everything is checked first (on a copy of the columns, so memory another thread
  // changes cannot slip past a check); nothing changes when a check fails. modelOpen: whether the model
  // may be used (a closed model fails the batch where it is needed, which stops the pipeline).
  PipelineResult Process(const PipelineBatch& batch, bool modelOpen, const Allocate& allocate);
  // Raises the windows' watermark to `watermark` (finite; a lower one changes nothing) and fires.
  PipelineResult AdvanceTo(double watermark, bool modelOpen, const Allocate& allocate);
  // End of stream: fires every window (final); later calls are ERR_INVALID_STATE.
  PipelineResult Finish(bool modelOpen, const Allocate& allocate);

  size_t features() const { return features_; }
  // Whether results carry forecast, score and flagged (options.scoreColumns, or a forecaster).
  bool scoreColumns() const { return scoreColumns_; }
  size_t historyRows() const { return historyRows_; }
  double watermark() const { return engines_.windows->watermark(); }
  double firedWindows() const { return engines_.windows->metrics().firedWindows; }
  const PipelineCounters& counters() const { return counters_; }
  const PipelineCoreOptions& options() const { return options_; }
  size_t MemoryBytes() const;

  // ---- key space (options.keySpace; ERR_INVALID_ARGUMENT otherwise) ----
  const KeySpace* keySpace() const { return engines_.windows->keySpace(); }
  uint32_t keyCapacity() const { return keyCapacity_; }
  double liveKeys() const { return engines_.windows->metrics().liveKeys; }
  double expiredKeys() const { return engines_.windows->metrics().expiredKeys; }
  // Gives keys their ids (new keys added, all or nothing: ERR_OUT_OF_RANGE past maxKeys adds none); the
  // per-key state grows to hold them. For callers that translate keys themselves (lib's string cache) and
  // pass the ids to Process.
  void Intern(const KeyBatch& keys, Span<uint32_t> ids);
  // Forgets the keys the last Intern created, unless a batch has used them since (its events are in the
  // windows). Returns whether it did.
  bool UndoIntern();
  // Frees live ids now with everything they hold (open windows dropped without firing, rows state, z-score,
  // LSTM state); their ids are reused. ERR_OUT_OF_RANGE (nothing freed) unless every id is live.
  size_t Expire(Span<const uint32_t> ids);
  // Ids freed by the last Process / AdvanceTo / Finish (keyTtl) or Expire call.
  const std::vector<uint32_t>& expiredIds() const { return expired_; }

  // Versioned, checksummed bytes (kind pipeline) of the whole state; ERR_INVALID_STATE once finished or stopped.
  std::vector<uint8_t> Snapshot() const;
  // All or nothing: every field is checked against the options and its invariants (ERR_MALFORMED_DATA
  // naming it) before anything changes. Clears a stop.
  void Restore(Span<const uint8_t> bytes);

  // Incremental checkpoints (pipeline_delta.cc): the windows' delta (EventTimeWindows::SnapshotDelta), the
  // tracker and counters, and the complete rows state (forward fill, history, pending forecast, z-score
  // ring, LSTM (h, c)) of every key that emitted rows or was freed since the last checkpoint (Snapshot,
  // Restore or a delta). A delta names the pipeline checkpoint it builds on (sequence, CRC); ApplyDelta
  // checks everything first (ERR_MALFORMED_DATA, ERR_INVALID_ARGUMENT; nothing changes), then applies.
  // ERR_NOT_SUPPORTED with sketch features (as the windows').
  std::vector<uint8_t> SnapshotDelta();
  void ApplyDelta(Span<const uint8_t> bytes);
  // The keys the last ApplyDelta replaced in the windows (ascending), for lib's string map.
  const std::vector<uint32_t>& appliedKeys() const { return engines_.windows->appliedKeys(); }

 private:
  // The per-key state of the rows path (what a snapshot holds besides the engines).
  struct KeyState {
    std::vector<double> lastStart;    // [key]: the last row's start, NaN: none
    std::vector<double> lastValues;   // [key][feature]
    std::vector<double> history;      // [key][historyRows][feature], oldest first
    std::vector<uint32_t> historyCount;  // [key]
    std::vector<double> pending;      // [key][feature]: the forecast of the key's next row, NaN: none
  };
  struct Engines {
    std::unique_ptr<WatermarkTracker> tracker;
    std::unique_ptr<EventTimeWindows> windows;
    std::unique_ptr<LstmState> lstm;
    std::unique_ptr<RollingZScore> zscore;
  };
  Engines MakeEngines(double now, uint32_t keyCapacity) const;
  KeyState MakeKeyState(uint32_t keyCapacity) const;
  KeySpace& RequireKeySpace() const;
  void FitKeys();                           // capacity for every id of the dictionary (doubling / halving)
  void ResizeKeys(uint32_t keyCapacity);    // every per-key vector and engine to exactly keyCapacity keys
  void FreeKeys(const std::vector<uint32_t>& ids);  // clears what the rows path keeps for them
  void ForgetExpired();                     // after the windows advanced: keyTtl's expired keys
  void CheckOpen() const;
  void PackBatch(const PipelineBatch& batch);  // copies and checks → timestamps_, keys_, packed_
  // Fired windows → rows → result buffer; stops the pipeline if it fails.
  PipelineResult EmitRows(uint32_t input, size_t late, bool final, bool modelOpen, const Allocate& allocate,
                          std::chrono::steady_clock::time_point began);
  // Forecasts and scores the rows of a batch (the rows path's last part).
  void ScoreRows(const ResultLayout& layout, uint8_t* out, size_t rows, bool modelOpen);
  void AppendHistory(uint32_t key, const double* values);
  void GatherInput(uint32_t key, size_t input);  // the key's history → model input `input`
  void RunModel(size_t rounds, bool modelOpen);  // all gathered inputs → modelOut_
  void ResetKey(uint32_t key);
  void MarkRowsChanged(uint32_t key);  // the key's rows state changed (tracked from the first checkpoint)
  void StartChain(uint32_t crc) const;
  void WriteKeyRows(SnapshotWriter& w, uint32_t key) const;
  void WriteShape(SnapshotWriter& writer) const;
  uint32_t ReadShape(SnapshotReader& reader, bool keyArrays) const;
  PipelineCounters ReadCounters(SnapshotReader& reader) const;
  void CheckKeyRows(size_t k, double lastStart, uint32_t historyCount, const double* history, const double* pending) const;

  PipelineCoreOptions options_;
  size_t features_;         // channels · features per channel
  size_t windowChannels_;   // channels (+ 1 label channel)
  std::vector<Aggregate> windowAggregates_;  // what the windows compute: the features (+ max for labels)
  size_t labelAggregate_;                     // index of max among them
  size_t historyRows_;
  bool scoreColumns_;
  Engines engines_;
  KeyState keys_;
  uint32_t keyCapacity_;   // keys the per-key vectors hold (options_.keyCount for dense ids)
  bool internOpen_ = false;  // the last Intern's keys are not used by a batch yet (UndoIntern may forget them)
  std::vector<uint32_t> expired_;
  PipelineCounters counters_;
  bool finished_ = false;
  std::string stopped_;  // why a batch failed after its windows fired; empty: running
  // Incremental checkpoints: keys whose rows state changed since the last checkpoint, and that checkpoint.
  mutable bool tracking_ = false;
  mutable std::vector<uint8_t> changedBits_;  // [key]: listed in changedList_
  mutable std::vector<uint32_t> changedList_;
  mutable uint64_t chainSequence_ = 0;
  mutable uint32_t chainCrc_ = 0;

  // Scratch reused across batches (no allocation once they reached their high-water mark).
  std::vector<double> timestamps_, packed_;
  std::vector<uint32_t> eventKeys_, lateIndex_;
  std::vector<uint32_t> keyRound_;  // [key]: rows of the key seen so far in the batch (zero between batches)
  std::vector<uint32_t> gaps_, roundOf_, roundRows_, roundStart_, inputKeys_;
  std::vector<size_t> roundInputs_;  // [round]: its first model input
  std::vector<int32_t> inputOf_;     // [row in round order]: its model input, or why none
  std::vector<double> residual_;
  std::vector<float> modelIn_, modelOut_;
};

}  // namespace sluice

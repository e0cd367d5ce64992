#include "pipeline/pipeline_core.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/error.h"
#include "base/snapshot.h"

namespace sluice {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

std::string Number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

bool IsInteger(double value) { return std::isfinite(value) && value == std::floor(value); }

// JavaScript's Math.round, which the rows path has always used for gaps.
double RoundHalfUp(double value) { return std::floor(value + 0.5); }

// Calls fn(const T* data) with the column's element type.
template <typename Fn>
void WithColumn(const NumberColumn& column, Fn&& fn) {
  switch (column.type) {
    case NumberColumn::Type::kFloat64: fn(static_cast<const double*>(column.data)); break;
    case NumberColumn::Type::kFloat32: fn(static_cast<const float*>(column.data)); break;
    case NumberColumn::Type::kUint8: fn(static_cast<const uint8_t*>(column.data)); break;
  }
}

template <typename T>
T* At(uint8_t* buffer, size_t offset) {
  return reinterpret_cast<T*>(buffer + offset);
}

[[noreturn]] void Malformed(const std::string& what) { Fail(codes::kMalformedData, "pipeline snapshot: " + what); }

constexpr uint32_t kRestart = UINT32_MAX;  // a gap longer than maxFill: the key starts again

// For each of n fired windows (keys, starts), the rows forward-filled before it — gaps[w], or kRestart when
// more than maxFill are missing — moving each key's lastStart on; returns the rows in all (windows + gaps).
// Its own function over plain pointers, so that the counters stay in registers.
size_t CountGapRows(const uint32_t* keys, const double* starts, size_t n, double slide, double maxFill, double* lastStart,
                    uint32_t* gaps) {
  size_t rows = n;
  for (size_t w = 0; w < n; ++w) {
    const uint32_t k = keys[w];
    const double step = starts[w] - lastStart[k];
    uint32_t gap = 0;
    // The common case, the key's next window, needs no division (a NaN step fails both tests: no row before).
    if (step != slide && !std::isnan(step)) {
      const double missing = RoundHalfUp(step / slide) - 1;
      if (missing > maxFill) gap = kRestart;
      else if (missing > 0) gap = static_cast<uint32_t>(missing);
    }
    gaps[w] = gap;
    lastStart[k] = starts[w];
    rows += gap == kRestart ? 0 : gap;
  }
  return rows;
}

}  // namespace

ResultLayout::ResultLayout(size_t rows, size_t late, size_t features, bool labels, bool scores) {
  size_t at = 0;
  auto take = [&at](size_t bytes) {
    const size_t offset = at;
    at += bytes;
    return offset;
  };
  start = take(rows * 8);
  end = take(rows * 8);
  count = take(rows * 8);
  values = take(rows * features * 8);
  forecast = take(scores ? rows * features * 8 : 0);
  score = take(scores ? rows * 8 : 0);
  label = take(labels ? rows * 8 : 0);
  lateTimestamps = take(late * 8);
  key = take(rows * 4);
  lateKeys = take(late * 4);
  filled = take(rows);
  flagged = take(scores ? rows : 0);
  bytes = at;
}

PipelineCore::PipelineCore(const PipelineCoreOptions& options, double now) : options_(options) {
  const PipelineCoreOptions& o = options_;
  Require(o.inputs >= 1 && o.keyCount >= 1 && o.channels >= 1, codes::kOutOfRange, "inputs, keyCount and channels must be ≥ 1");
  Require(IsInteger(o.size) && o.size >= 1 && IsInteger(o.slide) && o.slide >= 1 && o.slide <= o.size, codes::kOutOfRange,
          "window.size must be an integer ≥ 1 and window.slide an integer in [1, size]");
  Require(!o.features.empty(), codes::kInvalidArgument, "features.aggregates must name at least one aggregate");
  features_ = o.channels * o.features.size();
  windowChannels_ = o.channels + (o.labels ? 1 : 0);
  // The windows compute the features, and the max that a row's label is when the features lack it.
  windowAggregates_ = o.features;
  const auto max = std::find(windowAggregates_.begin(), windowAggregates_.end(), Aggregate::kMax);
  labelAggregate_ = static_cast<size_t>(max - windowAggregates_.begin());
  if (o.labels && max == windowAggregates_.end()) windowAggregates_.push_back(Aggregate::kMax);
  if (o.mode != ForecastMode::kNone) {
    Require(o.model != nullptr, codes::kInvalidArgument, "the forecaster needs a model");
    Require(o.model->inputSize() == features_ && o.model->outputSize() == features_, codes::kInvalidArgument,
            "forecaster.model must have inputSize = outputSize = the feature count");
    Require(o.steps >= 1, codes::kOutOfRange, "forecaster.steps must be ≥ 1");
    for (const FeatureScaler* scaler : {&o.inputScaler, &o.targetScaler}) {
      Require(scaler->empty() || (scaler->offset.size() == features_ && scaler->scale.size() == features_),
              codes::kInvalidArgument, "a forecaster scaler must have one offset and scale per feature");
    }
  }
  scoreColumns_ = o.scoreColumns || o.mode != ForecastMode::kNone;
  historyRows_ = o.mode == ForecastMode::kWindow ? o.steps + (o.changeTarget ? 1 : 0) : (o.changeTarget ? 2 : 1);
  Require(!o.keySpace || (o.keySpace->maxKeys >= 1 && o.keySpace->maxKeys <= kMaxDictionaryKeys), codes::kOutOfRange,
          "maxKeys must be in [1, 2^28]");
  keyCapacity_ = o.keySpace ? std::min(o.keyCount, o.keySpace->maxKeys) : o.keyCount;
  engines_ = MakeEngines(now, keyCapacity_);
  keys_ = MakeKeyState(keyCapacity_);
  keyRound_.assign(keyCapacity_, 0);
}

PipelineCore::Engines PipelineCore::MakeEngines(double now, uint32_t keyCapacity) const {
  const PipelineCoreOptions& o = options_;
  Engines engines;
  WatermarkTrackerOptions tracker;
  tracker.inputs = o.inputs;
  tracker.bound = o.bound;
  tracker.idleTimeout = o.idleTimeout;
  engines.tracker = std::make_unique<WatermarkTracker>(tracker, now);
  EventTimeWindowsOptions windows;
  windows.kind = o.slide == o.size ? WindowKind::kTumbling : WindowKind::kSliding;
  windows.size = o.size;
  windows.slide = o.slide;
  windows.offset = o.offset;
  windows.horizon = o.horizon;
  windows.keyCount = keyCapacity;
  windows.keySpace = o.keySpace;  // the windows intern, grow and expire; the other stages follow their ids
  windows.channels = static_cast<uint32_t>(windowChannels_);
  windows.aggregates = windowAggregates_;
  windows.quantiles = o.quantiles;
  windows.accuracy = o.accuracy;
  windows.distinctPrecision = o.distinctPrecision;
  engines.windows = std::make_unique<EventTimeWindows>(windows);
  if (o.mode == ForecastMode::kState) engines.lstm = std::make_unique<LstmState>(o.model, keyCapacity);
  if (o.mode != ForecastMode::kNone && o.anomaly) engines.zscore = std::make_unique<RollingZScore>(o.zscore, keyCapacity, features_);
  return engines;
}

PipelineCore::KeyState PipelineCore::MakeKeyState(uint32_t keyCapacity) const {
  const size_t K = keyCapacity, F = features_;
  KeyState state;
  state.lastStart.assign(K, kNaN);
  state.lastValues.assign(K * F, kNaN);
  state.history.assign(options_.mode == ForecastMode::kNone ? 0 : K * historyRows_ * F, 0.0);
  state.historyCount.assign(K, 0);
  state.pending.assign(K * F, kNaN);
  return state;
}

size_t PipelineCore::MemoryBytes() const {
  const KeyState& k = keys_;
  size_t bytes = engines_.windows->MemoryBytes() + (engines_.lstm ? engines_.lstm->Bytes() : 0);
  bytes += (k.lastStart.capacity() + k.lastValues.capacity() + k.history.capacity() + k.pending.capacity()) * sizeof(double);
  bytes += (k.historyCount.capacity() + keyRound_.capacity()) * sizeof(uint32_t);
  if (engines_.zscore) bytes += size_t{keyCapacity_} * features_ * (options_.zscore.window * 8 + 4 * 8);
  return bytes;
}

void PipelineCore::CheckOpen() const {
  if (!stopped_.empty()) Fail(codes::kInvalidState, "the Pipeline stopped: " + stopped_);
  if (finished_) Fail(codes::kInvalidState, "the Pipeline has finished (finish() ended the stream)");
}

void PipelineCore::PackBatch(const PipelineBatch& batch) {
  const size_t n = batch.timestamps.size, C = options_.channels, W = windowChannels_;
  Require(batch.values.size == n * C, codes::kInvalidLength, "batch.values must have timestamps.length · channels values");
  Require(batch.keys.empty() || batch.keys.size == n, codes::kInvalidLength, "batch.keys must have timestamps.length keys");
  Require(!options_.labels || batch.labels.size == n || (n == 0 && batch.labels.size == 0), codes::kInvalidLength,
          "batch.labels must have timestamps.length labels");
  // One copy of each column, checked and then used: a SharedArrayBuffer changed meanwhile cannot pass a
  // check in one read and be used in another.
  timestamps_.assign(batch.timestamps.begin(), batch.timestamps.end());
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(timestamps_[i])) {
      Fail(codes::kInvalidArgument, "batch.timestamps[" + std::to_string(i) + "] is " + Number(timestamps_[i]) + "; timestamps must be finite");
    }
  }
  eventKeys_.assign(batch.keys.begin(), batch.keys.end());
  // Ids of interned keys are checked live by the windows (live ids are below keyCapacity_: FitKeys).
  for (size_t i = 0; i < eventKeys_.size() && !options_.keySpace; ++i) {
    if (eventKeys_[i] >= options_.keyCount) {
      Fail(codes::kOutOfRange, "batch.keys[" + std::to_string(i) + "] is " + std::to_string(eventKeys_[i]) + ", keyCount is " +
                                   std::to_string(options_.keyCount));
    }
  }
  packed_.resize(n * W);
  WithColumn(batch.values, [&](const auto* values) {
    for (size_t i = 0; i < n; ++i) {
      for (size_t c = 0; c < C; ++c) packed_[i * W + c] = static_cast<double>(values[i * C + c]);
    }
  });
  if (options_.labels && n > 0) {
    WithColumn(batch.labels, [&](const auto* labels) {
      for (size_t i = 0; i < n; ++i) packed_[i * W + C] = static_cast<double>(labels[i]);
    });
  }
}

PipelineResult PipelineCore::Process(const PipelineBatch& batch, bool modelOpen, const Allocate& allocate) {
  const auto began = std::chrono::steady_clock::now();
  CheckOpen();
  Require(batch.input < options_.inputs, codes::kOutOfRange, "batch.input is out of range");
  Require(std::isfinite(batch.now), codes::kInvalidArgument, "batch.now must be finite");
  expired_.clear();
  PackBatch(batch);
  const size_t n = timestamps_.size();
  size_t late = 0;
  if (n > 0) {
    lateIndex_.resize(n);
    const bool intern = batch.keyBatch != nullptr;
    if (intern) {  // keys of any kind: their ids (new keys added), undone below if the windows refuse
      Require(batch.keys.empty() && batch.keyBatch->size() == n, codes::kInvalidLength, "batch.keys must have timestamps.length keys");
      eventKeys_.resize(n);
      Intern(*batch.keyBatch, {eventKeys_.data(), n});
    }
    // Windows first: if they refuse the batch (ERR_OUT_OF_RANGE beyond the horizon), nothing has changed.
    try {
      late = engines_.windows->Push<double>({timestamps_.data(), n}, {eventKeys_.data(), eventKeys_.size()},
                                            {packed_.data(), packed_.size()}, {lateIndex_.data(), n});
    } catch (...) {
      if (intern) UndoIntern();
      throw;
    }
    internOpen_ = false;  // the keys hold events now
    engines_.tracker->Observe(batch.input, {timestamps_.data(), n}, batch.now);
    counters_.events += static_cast<double>(n);
    counters_.lateEvents += static_cast<double>(late);
  }
  counters_.batchesIn += 1;
  engines_.windows->AdvanceWatermark(engines_.tracker->Update(batch.now));
  ForgetExpired();
  return EmitRows(batch.input, late, false, modelOpen, allocate, began);
}

PipelineResult PipelineCore::AdvanceTo(double watermark, bool modelOpen, const Allocate& allocate) {
  const auto began = std::chrono::steady_clock::now();
  CheckOpen();
  Require(std::isfinite(watermark), codes::kInvalidArgument, "watermark must be finite");
  // Only a real advance goes to the windows (they count a lower one as ignored).
  expired_.clear();
  engines_.windows->AdvanceWatermark(std::max(watermark, engines_.windows->watermark()));
  ForgetExpired();
  return EmitRows(0, 0, false, modelOpen, allocate, began);
}

PipelineResult PipelineCore::Finish(bool modelOpen, const Allocate& allocate) {
  const auto began = std::chrono::steady_clock::now();
  CheckOpen();
  expired_.clear();
  engines_.windows->Flush();
  ForgetExpired();
  finished_ = true;
  return EmitRows(0, 0, true, modelOpen, allocate, began);
}

PipelineResult PipelineCore::EmitRows(uint32_t input, size_t late, bool final, bool modelOpen, const Allocate& allocate,
                                      std::chrono::steady_clock::time_point began) {
  size_t rows = 0;
  try {
    const FiredWindows& fired = engines_.windows->fired();
    const size_t n = fired.size(), F = features_, C = options_.channels, A = windowAggregates_.size();
    const size_t perChannel = options_.features.size(), valuesPerWindow = windowChannels_ * A;
    const double slide = options_.slide, size = options_.size, maxFill = options_.maxFill;
    // Plain pointers, read once: the stores below go through double* and uint32_t*, which the compiler
    // must otherwise assume may change the vectors' own pointers, reloading them on every row.
    const uint32_t* const firedKeys = fired.keys.data();
    const double* const firedStarts = fired.starts.data();
    const double* const firedEnds = fired.ends.data();
    const double* const firedCounts = fired.counts.data();
    const double* const firedValues = fired.values.data();
    double* const lastValues = keys_.lastValues.data();
    // Count the rows first: fired windows plus the gaps before them (lastStart moves on as we go).
    gaps_.resize(n);
    uint32_t* const gaps = gaps_.data();
    rows = CountGapRows(firedKeys, firedStarts, n, slide, maxFill, keys_.lastStart.data(), gaps);
    if (tracking_) {
      for (size_t w = 0; w < n; ++w) MarkRowsChanged(firedKeys[w]);
    }
    double windowed = 0;
    for (size_t w = 0; w < n; ++w) windowed += firedCounts[w];
    counters_.windowedEvents += windowed;
    counters_.windowsFired += static_cast<double>(n);

    const ResultLayout layout(rows, late, F, options_.labels, scoreColumns_);
    uint8_t* out = allocate(layout.bytes);
    double* const start = At<double>(out, layout.start);
    double* const end = At<double>(out, layout.end);
    double* const count = At<double>(out, layout.count);
    double* const values = At<double>(out, layout.values);
    double* const label = At<double>(out, layout.label);
    uint32_t* const key = At<uint32_t>(out, layout.key);
    uint8_t* const filled = At<uint8_t>(out, layout.filled);
    if (scoreColumns_) {
      std::fill_n(At<double>(out, layout.forecast), rows * F, kNaN);
      std::fill_n(At<double>(out, layout.score), rows, kNaN);
      std::fill_n(At<uint8_t>(out, layout.flagged), rows, uint8_t{0});
    }
    for (size_t i = 0; i < late; ++i) {
      const uint32_t event = lateIndex_[i];
      At<double>(out, layout.lateTimestamps)[i] = timestamps_[event];
      At<uint32_t>(out, layout.lateKeys)[i] = eventKeys_.empty() ? 0 : eventKeys_[event];
    }

    // The rows in runs: a window with rows forward-filled before it (or a restart) starts a run, which goes on
    // through the windows that are their keys' next ones. In a run, row i is window w + i, so its key, start,
    // end and count columns are block copies of the fired windows'; values go row by row (forward fill).
    const bool labels = options_.labels;
    size_t r = 0, filledRows = 0;  // an integer count: a double sum would be one dependent add per row
    for (size_t w = 0; w < n;) {
      const uint32_t k = firedKeys[w];
      const double* const last = lastValues + k * F;
      uint32_t gap = gaps[w];
      if (gap == kRestart) {
        ResetKey(k);
        gap = 0;
      }
      for (uint32_t g = gap; g > 0; --g, ++r) {
        const double s = firedStarts[w] - g * slide;
        key[r] = k;
        start[r] = s;
        end[r] = s + size;
        count[r] = 0;
        filled[r] = 1;
        std::copy_n(last, F, values + r * F);
        if (labels) label[r] = kNaN;
        filledRows += 1;
      }
      size_t runEnd = w + 1;
      while (runEnd < n && gaps[runEnd] == 0) ++runEnd;
      const size_t run = runEnd - w;
      std::copy_n(firedKeys + w, run, key + r);
      std::copy_n(firedStarts + w, run, start + r);
      std::copy_n(firedEnds + w, run, end + r);
      std::copy_n(firedCounts + w, run, count + r);
      for (size_t i = 0; i < run; ++i, ++r) {
        const double* const window = firedValues + (w + i) * valuesPerWindow;
        double* const keyLast = lastValues + firedKeys[w + i] * F;
        double* const row = values + r * F;
        uint8_t rowFilled = 0;
        for (size_t c = 0; c < C; ++c) {
          for (size_t f = 0; f < perChannel; ++f) {
            const size_t feature = c * perChannel + f;
            double v = window[c * A + f];
            if (std::isnan(v)) {
              v = keyLast[feature];
              rowFilled = 1;
            }
            row[feature] = v;
            keyLast[feature] = v;
          }
        }
        filled[r] = rowFilled;
        filledRows += rowFilled;
        if (labels) label[r] = window[C * A + labelAggregate_];
      }
      w = runEnd;
    }
    counters_.filledRows += static_cast<double>(filledRows);
    if (options_.mode != ForecastMode::kNone) ScoreRows(layout, out, rows, modelOpen);
  } catch (const std::exception& error) {
    stopped_ = std::string("a batch failed after its windows fired (") + error.what() + "); restore() a snapshot or start again";
    throw;
  }
  counters_.batchesOut += 1;
  const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
  counters_.busyMs += elapsed;
  counters_.latencySumMs += elapsed;
  counters_.latencyLastMs = elapsed;
  counters_.latencyMaxMs = std::max(counters_.latencyMaxMs, elapsed);
  PipelineResult result;
  result.rows = rows;
  result.late = late;
  result.input = input;
  result.final = final;
  result.watermark = final ? kInfinity : engines_.windows->watermark();
  return result;
}

void PipelineCore::ScoreRows(const ResultLayout& layout, uint8_t* out, size_t rows, bool modelOpen) {
  const size_t F = features_, R = historyRows_;
  const uint32_t* key = At<uint32_t>(out, layout.key);
  const double* values = At<double>(out, layout.values);
  const uint8_t* filled = At<uint8_t>(out, layout.filled);
  double* forecast = At<double>(out, layout.forecast);
  double* score = At<double>(out, layout.score);
  uint8_t* flagged = At<uint8_t>(out, layout.flagged);
  // Round j holds each key's j-th row of the batch: the keys of a round are distinct and a key's rows stay
  // in time order. A row's model input is made of rows only (never of forecasts), so all inputs are
  // gathered first, then the model runs: window mode once for the whole batch, state mode once per round
  // (a key's state steps in time order); then the rows are scored in the same order.
  roundOf_.resize(rows);
  size_t rounds = 0;
  for (size_t r = 0; r < rows; ++r) {
    const uint32_t round = keyRound_[key[r]]++;
    roundOf_[r] = round;
    rounds = std::max<size_t>(rounds, round + 1);
  }
  for (size_t r = 0; r < rows; ++r) keyRound_[key[r]] = 0;
  roundStart_.assign(rounds + 1, 0);
  for (size_t r = 0; r < rows; ++r) ++roundStart_[roundOf_[r] + 1];
  for (size_t j = 0; j < rounds; ++j) roundStart_[j + 1] += roundStart_[j];
  roundRows_.resize(rows);
  for (size_t r = 0; r < rows; ++r) roundRows_[roundStart_[roundOf_[r]]++] = static_cast<uint32_t>(r);  // stable
  // roundStart_[j] is now the end of round j.

  // Gather: each row whose features are all known joins its key's history; a key with a full history
  // gets a model input (inputOf_: its index, kNotReady, or kUnknown for a row with a missing feature).
  constexpr int32_t kUnknown = -2, kNotReady = -1;
  // Per-key state is requested kAhead (history, z-score rings) or 2·kAhead rows (pending forecast, z-score
  // sums and ring heads) before its row's turn: with many keys (100,000) each is a cache miss, and the misses
  // then overlap instead of stalling one by one.
  constexpr size_t kAhead = 8;
  inputOf_.resize(rows);
  const size_t inputFloats = (options_.changeTarget ? R - 1 : R) * F;  // per model input
  if (modelIn_.size() < rows * inputFloats) modelIn_.resize(rows * inputFloats);
  inputKeys_.clear();
  roundInputs_.assign(rounds + 1, 0);
  for (size_t j = 0, at = 0; j < rounds; ++j) {
    for (; at < roundStart_[j]; ++at) {
      if (at + kAhead < rows) {
        const uint32_t ahead = key[roundRows_[at + kAhead]];
        __builtin_prefetch(&keys_.history[ahead * R * F], 1);
        __builtin_prefetch(&keys_.historyCount[ahead], 1);
      }
      const size_t r = roundRows_[at];
      const double* row = &values[r * F];
      if (std::any_of(row, row + F, [](double v) { return std::isnan(v); })) {
        inputOf_[at] = kUnknown;
        continue;
      }
      const uint32_t k = key[r];
      AppendHistory(k, row);
      if (keys_.historyCount[k] != R) {
        inputOf_[at] = kNotReady;
        continue;
      }
      inputOf_[at] = static_cast<int32_t>(inputKeys_.size());
      inputKeys_.push_back(k);
      GatherInput(k, inputKeys_.size() - 1);
    }
    roundInputs_[j + 1] = inputKeys_.size();
  }
  RunModel(rounds, modelOpen);

  // Score in the same order: a row is scored against the forecast pending before it, then its own
  // forecast (of the key's next row) becomes pending.
  RollingZScore* zscore = engines_.zscore.get();
  residual_.resize(F);
  const FeatureScaler& target = options_.targetScaler;
  for (size_t at = 0; at < rows; ++at) {
    if (at + 2 * kAhead < rows) {
      const uint32_t ahead = key[roundRows_[at + 2 * kAhead]];
      __builtin_prefetch(&keys_.pending[ahead * F], 1);
      if (zscore) zscore->PrefetchSums(ahead);
    }
    if (zscore && at + kAhead < rows) zscore->PrefetchRing(key[roundRows_[at + kAhead]]);
    if (inputOf_[at] == kUnknown) continue;
    const size_t r = roundRows_[at];
    const uint32_t k = key[r];
    const double* row = &values[r * F];
    double* pending = &keys_.pending[k * F];
    std::copy_n(pending, F, &forecast[r * F]);
    if (zscore && !filled[r]) {
      // The residual in feature units: the z-score divides by its own rolling spread.
      for (size_t f = 0; f < F; ++f) residual_[f] = row[f] - pending[f];
      const double s = zscore->ScoreAndUpdate(k, residual_.data());
      score[r] = s;
      if (s > zscore->options().threshold) {
        flagged[r] = 1;
        counters_.flaggedRows += 1;
      }
    }
    if (inputOf_[at] == kNotReady) {
      std::fill_n(pending, F, kNaN);
      continue;
    }
    const float* y = &modelOut_[inputOf_[at] * F];
    for (size_t f = 0; f < F; ++f) {
      float p = y[f];
      // Back to feature units in a float, as the model's output has always been kept.
      if (!target.empty()) p = static_cast<float>(p * target.scale[f] + target.offset[f]);
      pending[f] = static_cast<double>(p) + (options_.changeTarget ? row[f] : 0.0);
    }
  }
}

void PipelineCore::AppendHistory(uint32_t key, const double* values) {
  const size_t F = features_, R = historyRows_;
  double* rows = &keys_.history[key * R * F];
  const uint32_t n = keys_.historyCount[key];
  if (n < R) {
    std::copy_n(values, F, rows + n * F);
    keys_.historyCount[key] = n + 1;
  } else {
    std::memmove(rows, rows + F, (R - 1) * F * sizeof(double));
    std::copy_n(values, F, rows + (R - 1) * F);
  }
}

void PipelineCore::GatherInput(uint32_t key, size_t input) {
  const size_t F = features_, R = historyRows_, T = options_.changeTarget ? R - 1 : R;
  const FeatureScaler& in = options_.inputScaler;
  const double* history = &keys_.history[key * R * F];
  float* x = &modelIn_[input * T * F];  // ScoreRows sized it for every row of the batch
  // Scaled levels, or scaled changes between rows.
  for (size_t i = 0; i < T * F; ++i) {
    const size_t f = i % F;
    double v = options_.changeTarget ? history[i + F] - history[i] : history[i];
    if (!in.empty()) v = (v - in.offset[f]) / in.scale[f];
    x[i] = static_cast<float>(v);
  }
}

void PipelineCore::RunModel(size_t rounds, bool modelOpen) {
  const size_t inputs = inputKeys_.size(), F = features_;
  if (inputs == 0) return;
  if (!modelOpen) Fail(codes::kInvalidState, "the LstmModel is closed");
  modelOut_.resize(inputs * F);
  if (options_.mode == ForecastMode::kWindow) {
    LstmRunShape shape;
    shape.steps = options_.changeTarget ? historyRows_ - 1 : historyRows_;
    shape.batch = inputs;
    shape.batchFirst = true;
    options_.model->Predict({modelIn_.data(), inputs * shape.steps * F}, shape, {modelOut_.data(), modelOut_.size()});
    return;
  }
  for (size_t j = 0; j < rounds; ++j) {
    const size_t from = roundInputs_[j], n = roundInputs_[j + 1] - from;
    if (n == 0) continue;
    engines_.lstm->Step({&inputKeys_[from], n}, {&modelIn_[from * F], n * F}, {&modelOut_[from * F], n * F});
  }
}

void PipelineCore::ResetKey(uint32_t key) {
  keys_.historyCount[key] = 0;
  std::fill_n(&keys_.pending[key * features_], features_, kNaN);
  if (engines_.zscore) engines_.zscore->ResetKey(key);
  if (engines_.lstm) engines_.lstm->Reset({&key, 1});
}

// ---- key space ----

KeySpace& PipelineCore::RequireKeySpace() const {
  const KeySpace* space = engines_.windows->keySpace();
  Require(space != nullptr, codes::kInvalidArgument, "the Pipeline takes dense Uint32Array ids (no `keys` kind was set)");
  return const_cast<KeySpace&>(*space);
}

void PipelineCore::Intern(const KeyBatch& keys, Span<uint32_t> ids) {
  RequireKeySpace();
  if (!stopped_.empty()) Fail(codes::kInvalidState, "the Pipeline stopped: " + stopped_);
  engines_.windows->Intern(keys, ids);
  internOpen_ = true;
  try {
    FitKeys();
  } catch (...) {
    UndoIntern();
    throw;
  }
}

bool PipelineCore::UndoIntern() {
  RequireKeySpace();
  if (!internOpen_) return false;
  engines_.windows->UndoIntern();
  internOpen_ = false;
  return true;
}

size_t PipelineCore::Expire(Span<const uint32_t> ids) {
  RequireKeySpace();
  if (!stopped_.empty()) Fail(codes::kInvalidState, "the Pipeline stopped: " + stopped_);
  expired_ = engines_.windows->Expire(ids);  // checks every id first
  internOpen_ = false;
  FreeKeys(expired_);
  FitKeys();
  return expired_.size();
}

void PipelineCore::ForgetExpired() {
  const KeySpace* space = engines_.windows->keySpace();
  // Without keyTtl the windows' list is the last expire()'s, already handled.
  if (space == nullptr || space->options().keyTtl == 0) return;
  expired_ = engines_.windows->expiredIds();
  if (expired_.empty()) return;
  FreeKeys(expired_);
  FitKeys();
}

void PipelineCore::FreeKeys(const std::vector<uint32_t>& ids) {
  const size_t F = features_, R = historyRows_;
  for (const uint32_t key : ids) {
    if (key >= keyCapacity_) continue;  // never held state here
    MarkRowsChanged(key);
    keys_.lastStart[key] = kNaN;
    std::fill_n(&keys_.lastValues[key * F], F, kNaN);
    if (!keys_.history.empty()) std::fill_n(&keys_.history[key * R * F], R * F, 0.0);
    keys_.historyCount[key] = 0;
    std::fill_n(&keys_.pending[key * F], F, kNaN);
    if (engines_.zscore) engines_.zscore->ResetKey(key);
    if (engines_.lstm) engines_.lstm->Reset({&key, 1});
  }
}

void PipelineCore::FitKeys() {
  const uint32_t ids = RequireKeySpace().dictionary().idCapacity();  // every live id is below
  const uint32_t floor = std::max<uint32_t>(1, std::min(options_.keyCount, options_.keySpace->maxKeys));
  uint64_t capacity = keyCapacity_;
  while (capacity < ids) capacity *= 2;  // amortised: doubling
  // Halve while a quarter or less is in use: memory follows the live keys, without flapping at a boundary.
  while (capacity / 2 >= floor && capacity / 4 >= ids && capacity > ids) capacity /= 2;
  capacity = std::min<uint64_t>(std::max<uint64_t>(capacity, ids), kMaxDictionaryKeys);
  if (capacity != keyCapacity_) ResizeKeys(static_cast<uint32_t>(capacity));
}

void PipelineCore::ResizeKeys(uint32_t keyCapacity) {
  // All or nothing: the new vectors are built first, then each engine resizes (each leaves itself as it was
  // when it cannot), then everything is swapped in. Only growth may fail; a shrink that cannot allocate
  // is skipped (the ids it would drop are free, so the larger state stays valid).
  const size_t K = keyCapacity, F = features_, R = historyRows_, before = keyCapacity_, kept = std::min(K, before);
  try {
    KeyState grown = MakeKeyState(keyCapacity);
    std::copy_n(keys_.lastStart.begin(), kept, grown.lastStart.begin());
    std::copy_n(keys_.lastValues.begin(), kept * F, grown.lastValues.begin());
    if (!keys_.history.empty()) std::copy_n(keys_.history.begin(), kept * R * F, grown.history.begin());
    std::copy_n(keys_.historyCount.begin(), kept, grown.historyCount.begin());
    std::copy_n(keys_.pending.begin(), kept * F, grown.pending.begin());
    std::vector<uint32_t> keyRound(K, 0);  // zero between batches
    if (engines_.lstm) engines_.lstm->Resize(K);
    try {
      if (engines_.zscore) engines_.zscore->Resize(K);
    } catch (...) {
      if (engines_.lstm) engines_.lstm->Resize(before);
      throw;
    }
    keys_ = std::move(grown);
    keyRound_ = std::move(keyRound);
  } catch (const std::bad_alloc&) {
    if (K < before) return;
    Fail(codes::kOutOfMemory, "cannot grow the Pipeline's per-key state to " + std::to_string(K) + " keys");
  } catch (const CoreError&) {
    if (K < before) return;
    throw;
  }
  keyCapacity_ = keyCapacity;
}

// ---- snapshots ----

namespace {

// The options a snapshot must share with the pipeline it is restored into, in the order they are stored.
struct SnapshotShape {
  uint32_t inputs, keyCount, channels, steps, zscoreWindow;
  uint8_t labels, mode, changeTarget, anomaly;
  double size, slide, offset;
};

// keyCount: the key capacity (the per-key arrays' length), which grows with a key space.
SnapshotShape ShapeOf(const PipelineCoreOptions& o, uint32_t keyCount) {
  return {o.inputs, keyCount, o.channels, o.steps, o.zscore.window, o.labels, static_cast<uint8_t>(o.mode),
          o.changeTarget, o.anomaly, o.size, o.slide, o.offset};
}

std::vector<uint8_t> FeatureCodes(const std::vector<Aggregate>& features) {
  std::vector<uint8_t> codes;
  for (const Aggregate a : features) codes.push_back(static_cast<uint8_t>(a));
  return codes;
}

}  // namespace

// The shape and features a snapshot or delta must share with this pipeline (ERR_MALFORMED_DATA naming the
// first that differs) → the key capacity it was taken at. keyArrays: the bytes hold arrays of that many keys
// (a full snapshot; a delta's hold the changed keys only).
uint32_t PipelineCore::ReadShape(SnapshotReader& reader, bool keyArrays) const {
  const SnapshotShape shape = reader.Get<SnapshotShape>();
  const SnapshotShape expected = ShapeOf(options_, keyCapacity_);
  auto same = [&](bool equal, const char* field) {
    if (!equal) Malformed(std::string("taken from a pipeline of another shape (") + field + ")");
  };
  same(shape.inputs == expected.inputs, "inputs");
  // With a key space any capacity up to the dictionary's limit (it grows and shrinks with the ids); the
  // arrays it sizes must fit in the bytes left before anything is allocated for them.
  if (options_.keySpace) {
    same(shape.keyCount >= 1 && shape.keyCount <= kMaxDictionaryKeys && (!keyArrays || shape.keyCount <= reader.Remaining() / sizeof(double)),
         "keyCount");
  } else {
    same(shape.keyCount == expected.keyCount, "keyCount");
  }
  same(shape.channels == expected.channels, "channels");
  same(shape.steps == expected.steps, "forecaster.steps");
  same(shape.zscoreWindow == expected.zscoreWindow, "anomaly.window");
  same(shape.labels == expected.labels, "labels");
  same(shape.mode == expected.mode, "forecaster.mode");
  same(shape.changeTarget == expected.changeTarget, "forecaster.target");
  same(shape.anomaly == expected.anomaly, "anomaly");
  same(shape.size == expected.size, "window.size");
  same(shape.slide == expected.slide, "window.slide");
  same(shape.offset == expected.offset, "window.offset");
  same(reader.GetVector<uint8_t>(kAggregateKinds * 64) == FeatureCodes(options_.features), "features.aggregates");

  return shape.keyCount;
}

// The counters, each checked (ERR_MALFORMED_DATA naming it).
PipelineCounters PipelineCore::ReadCounters(SnapshotReader& reader) const {
  const PipelineCounters counters = reader.Get<PipelineCounters>();
  using P = PipelineCounters;
  const struct {
    const char* name;
    double P::*field;
    bool count;  // counts things (an integer); else a time
  } fields[] = {{"events", &P::events, true},         {"windowedEvents", &P::windowedEvents, true},
                {"lateEvents", &P::lateEvents, true}, {"windowsFired", &P::windowsFired, true},
                {"filledRows", &P::filledRows, true}, {"flaggedRows", &P::flaggedRows, true},
                {"batchesIn", &P::batchesIn, true},   {"batchesOut", &P::batchesOut, true},
                {"busyMs", &P::busyMs, false},        {"latencySumMs", &P::latencySumMs, false},
                {"latencyMaxMs", &P::latencyMaxMs, false}, {"latencyLastMs", &P::latencyLastMs, false}};
  static_assert(sizeof(P) == sizeof(fields) / sizeof(fields[0]) * sizeof(double), "every counter is checked");
  for (const auto& field : fields) {
    const double value = counters.*field.field;
    if (!(std::isfinite(value) && value >= 0 && (!field.count || value == std::floor(value)))) {
      Malformed(std::string("counter ") + field.name + " is " + Number(value));
    }
  }
  // Sliding windows count an event once per window it is in (size / slide times), so only tumbling ones bound them.
  if (options_.slide == options_.size && counters.windowedEvents + counters.lateEvents > counters.events) {
    Malformed("windowedEvents + lateEvents exceed events");
  }
  if (counters.filledRows + counters.windowsFired > 0 && counters.batchesOut == 0) Malformed("rows without batchesOut");
  return counters;
}

// One key's rows state (a snapshot's or a delta's): ERR_MALFORMED_DATA naming the field and key k.
void PipelineCore::CheckKeyRows(size_t k, double lastStart, uint32_t historyCount, const double* history, const double* pending) const {
  const double s = lastStart;
  const std::string at = "[" + std::to_string(k) + "]";
  if (!std::isnan(s) && !(std::isfinite(s) && IsInteger((s - options_.offset) / options_.slide))) {
    Malformed("lastStart" + at + " is " + Number(s) + ", not a window start");
  }
  if (historyCount > historyRows_) Malformed("historyCount" + at + " is above the " + std::to_string(historyRows_) + " rows kept");
  if (historyCount > 0 && std::isnan(s)) Malformed("historyCount" + at + " without a row (lastStart is NaN)");
  // Without a forecaster no row is kept (and there are no history arrays to read).
  if (options_.mode == ForecastMode::kNone && historyCount != 0) Malformed("historyCount" + at + " without a forecaster");
  // The rows kept are the model's inputs: a row with a NaN never enters (AppendHistory's callers skip it).
  const double* kept = history;  // null without a forecaster
  if (historyCount <= historyRows_ &&
      std::any_of(kept, kept + historyCount * features_, [](double v) { return std::isnan(v); })) {
    Malformed("history" + at + " holds a NaN row");
  }
  if (options_.mode == ForecastMode::kNone && !std::isnan(pending[0])) Malformed("pending" + at + " without a forecaster");
}

void PipelineCore::WriteShape(SnapshotWriter& writer) const {
  writer.Put(ShapeOf(options_, keyCapacity_));
  writer.PutVector(FeatureCodes(options_.features));
}

std::vector<uint8_t> PipelineCore::Snapshot() const {
  CheckOpen();
  SnapshotWriter writer(SnapshotKind::kPipeline);
  WriteShape(writer);
  writer.Put(counters_);
  writer.PutVector(engines_.tracker->Snapshot());
  writer.PutVector(engines_.windows->Snapshot());
  writer.PutVector(engines_.lstm ? engines_.lstm->Snapshot() : std::vector<uint8_t>());
  writer.PutVector(keys_.lastStart);
  writer.PutVector(keys_.lastValues);
  writer.PutVector(keys_.history);
  writer.PutVector(keys_.historyCount);
  writer.PutVector(keys_.pending);
  if (engines_.zscore) engines_.zscore->Write(writer);
  std::vector<uint8_t> bytes = writer.Finish();
  StartChain(EnvelopeCrc({bytes.data(), bytes.size()}));
  return bytes;
}

void PipelineCore::Restore(Span<const uint8_t> bytes) {
  SnapshotReader reader(bytes, SnapshotKind::kPipeline);
  const uint32_t keyCapacity = ReadShape(reader, true);
  const PipelineCounters counters = ReadCounters(reader);

  const std::vector<uint8_t> tracker = reader.GetVector<uint8_t>(reader.Remaining());
  const std::vector<uint8_t> windows = reader.GetVector<uint8_t>(reader.Remaining());
  const std::vector<uint8_t> lstm = reader.GetVector<uint8_t>(reader.Remaining());
  if (!engines_.lstm && !lstm.empty()) Malformed("an LSTM state in a pipeline without state mode");

  KeyState ks = MakeKeyState(keyCapacity);
  reader.GetArray(ks.lastStart.data(), ks.lastStart.size());
  reader.GetArray(ks.lastValues.data(), ks.lastValues.size());
  reader.GetArray(ks.history.data(), ks.history.size());
  reader.GetArray(ks.historyCount.data(), ks.historyCount.size());
  reader.GetArray(ks.pending.data(), ks.pending.size());
  for (size_t k = 0; k < ks.lastStart.size(); ++k) {
    CheckKeyRows(k, ks.lastStart[k], ks.historyCount[k], ks.history.empty() ? nullptr : &ks.history[k * historyRows_ * features_],
                 &ks.pending[k * features_]);
  }

  Engines fresh = MakeEngines(0, keyCapacity);
  auto restore = [](const char* part, auto& engine, const std::vector<uint8_t>& part_bytes) {
    try {
      engine->Restore({part_bytes.data(), part_bytes.size()});
    } catch (const CoreError& error) {
      Malformed(std::string(part) + ": " + error.what());
    }
  };
  restore("tracker", fresh.tracker, tracker);
  restore("windows", fresh.windows, windows);
  if (fresh.lstm) restore("lstm", fresh.lstm, lstm);
  if (fresh.zscore) fresh.zscore->Read(reader);
  reader.ExpectEnd();
  if (const KeySpace* space = fresh.windows->keySpace()) {
    // Every id with state must be a key of the dictionary (the windows check their own cells): a forged
    // snapshot must not leave state under an id that a new key would be given.
    const KeyDictionary& dictionary = space->dictionary();
    if (dictionary.idCapacity() > keyCapacity) Malformed("the key dictionary holds ids beyond keyCount");
    for (uint32_t k = 0; k < keyCapacity; ++k) {
      if (dictionary.IsLive(k)) continue;
      const double* pending = ks.pending.data() + size_t{k} * features_;
      const double* last = ks.lastValues.data() + size_t{k} * features_;
      auto known = [](double v) { return !std::isnan(v); };
      const bool holds = !std::isnan(ks.lastStart[k]) || ks.historyCount[k] != 0 || std::any_of(pending, pending + features_, known) ||
                         std::any_of(last, last + features_, known) ||
                         (fresh.zscore && fresh.zscore->Holds(k)) || (fresh.lstm && !fresh.lstm->IsZero(k));
      if (holds) Malformed("state of key id " + std::to_string(k) + ", which the key dictionary does not hold");
    }
  }
  engines_ = std::move(fresh);
  keys_ = std::move(ks);
  keyCapacity_ = keyCapacity;
  keyRound_.assign(keyCapacity, 0);
  internOpen_ = false;
  expired_.clear();
  counters_ = counters;
  finished_ = false;
  stopped_.clear();
  StartChain(EnvelopeCrc(bytes));
}

}  // namespace sluice

// PipelineCore: rows and forward fill, chosen features, forecasts against LstmModel::Predict, snapshot exactness,
// semantic snapshot checks, a closed model stopping the pipeline, bad batches changing nothing.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/snapshot.h"
#include "pipeline/pipeline_core.h"
#include "tests/check.h"
#include "tests/lstm/lstm_reference.h"

namespace {

using sluice::NumberColumn;
using sluice::PipelineBatch;
using sluice::PipelineCore;
using sluice::PipelineCoreOptions;
using sluice::PipelineResult;
using sluice::ResultLayout;

// One pass's output: the buffer the core filled and its result.
struct Output {
  std::vector<uint8_t> bytes;
  PipelineResult result;
  const double* F64(size_t offset) const { return reinterpret_cast<const double*>(bytes.data() + offset); }
  const uint32_t* U32(size_t offset) const { return reinterpret_cast<const uint32_t*>(bytes.data() + offset); }
  const uint8_t* U8(size_t offset) const { return bytes.data() + offset; }
};

struct Events {
  std::vector<double> ts, values;
  std::vector<uint32_t> keys;
};

Output Process(PipelineCore& core, const Events& e, bool modelOpen = true) {
  Output out;
  PipelineBatch batch;
  batch.timestamps = {e.ts.data(), e.ts.size()};
  batch.keys = {e.keys.data(), e.keys.size()};
  batch.values.data = e.values.data();
  batch.values.size = e.values.size();
  out.result = core.Process(batch, modelOpen, [&](size_t bytes) {
    out.bytes.resize(bytes);
    return out.bytes.data();
  });
  return out;
}

Output Finish(PipelineCore& core) {
  Output out;
  out.result = core.Finish(true, [&](size_t bytes) {
    out.bytes.resize(bytes);
    return out.bytes.data();
  });
  return out;
}

// keys 0 … keys−1, one event per key and 10 time units, channel values from the step and key.
Events Stream(size_t from, size_t steps, uint32_t keys, size_t channels) {
  Events e;
  for (size_t s = from; s < from + steps; ++s) {
    for (uint32_t k = 0; k < keys; ++k) {
      e.ts.push_back(static_cast<double>(s * 10 + k));
      e.keys.push_back(k);
      for (size_t c = 0; c < channels; ++c) e.values.push_back(std::sin(0.3 * s + k) * 5 + static_cast<double>(c));
    }
  }
  return e;
}

PipelineCoreOptions Basic(uint32_t keys, uint32_t channels) {
  PipelineCoreOptions o;
  o.keyCount = keys;
  o.channels = channels;
  o.size = 10;
  o.slide = 10;
  o.horizon = 1000;
  return o;
}

// The offset after a snapshot array (u64 count, then count elements of `size` bytes) at `at`.
size_t SkipArray(const std::vector<uint8_t>& bytes, size_t at, size_t size) {
  uint64_t count = 0;
  std::memcpy(&count, &bytes[at], 8);
  return at + 8 + count * size;
}

// Writes `value` at `at` and seals the bytes again (a valid checksum over a bad field).
void Put(std::vector<uint8_t>& bytes, size_t at, double value) {
  std::memcpy(&bytes[at], &value, 8);
  const uint32_t crc = sluice::Crc32(bytes.data(), bytes.size() - 4);
  std::memcpy(&bytes[bytes.size() - 4], &crc, 4);
}

// Restore refuses `bytes` with ERR_MALFORMED_DATA naming `field`.
void ExpectMalformed(PipelineCore& core, const std::vector<uint8_t>& bytes, const std::string& field) {
  try {
    core.Restore({bytes.data(), bytes.size()});
  } catch (const sluice::CoreError& error) {
    CHECK(std::strcmp(error.code(), sluice::codes::kMalformedData) == 0);
    CHECK(std::string(error.what()).find(field) != std::string::npos);
    return;
  }
  CHECK(false);  // not refused
}

}  // namespace

SLUICE_TEST(PipelineCoreRowsAreWindowMeansWithForwardFill) {
  PipelineCore core(Basic(1, 1), 0);
  Events e;
  e.ts = {1, 3, 12, 45};  // windows [0,10): mean 2, [10,20): 5, then [20,30) and [30,40) missing, [40,50): 7
  e.keys = {0, 0, 0, 0};
  e.values = {1, 3, 5, 7};
  const Output first = Process(core, e);
  // The watermark is 44: [0,10) … [30,40) close; the missing [20,30) and [30,40) come only once [40,50) fires.
  CHECK_EQ(first.result.rows, 2u);
  const ResultLayout a(first.result.rows, 0, 1, false);
  CHECK_EQ(first.F64(a.values)[0], 2.0);
  CHECK_EQ(first.F64(a.values)[1], 5.0);
  const Output last = Finish(core);
  CHECK(last.result.final);
  CHECK_EQ(last.result.rows, 3u);
  const ResultLayout b(3, 0, 1, false);
  CHECK_EQ(last.F64(b.start)[0], 20.0);
  CHECK_EQ(last.F64(b.start)[2], 40.0);
  CHECK_EQ(last.F64(b.values)[0], 5.0);  // forward-filled
  CHECK_EQ(last.U8(b.filled)[0], 1);
  CHECK_EQ(last.U8(b.filled)[2], 0);
  CHECK_EQ(last.F64(b.values)[2], 7.0);
  CHECK_EQ(core.counters().filledRows, 2.0);
  CHECK_THROWS_CODE(Process(core, e), sluice::codes::kInvalidState);
}

SLUICE_TEST(PipelineCoreChosenFeaturesArePerChannelAggregates) {
  PipelineCoreOptions o = Basic(1, 2);
  o.features = {sluice::Aggregate::kMin, sluice::Aggregate::kMax, sluice::Aggregate::kCount};
  PipelineCore core(o, 0);
  CHECK_EQ(core.features(), 6u);
  Events e;
  e.ts = {1, 2, 25};
  e.keys = {0, 0, 0};
  e.values = {1, 10, 3, 30, 0, 0};
  const Output out = Process(core, e);
  CHECK_EQ(out.result.rows, 1u);
  const ResultLayout l(1, 0, 6, false);
  const double expected[] = {1, 3, 2, 10, 30, 2};  // [channel][min, max, count]
  for (size_t f = 0; f < 6; ++f) CHECK_EQ(out.F64(l.values)[f], expected[f]);
}

SLUICE_TEST(PipelineCoreWindowForecastIsPredictOverTheKeysLastRows) {
  const sluice::test::RandomLstm random(1, 1, 6, 1, 7);
  auto model = std::make_shared<sluice::LstmModel>(random.Spec(), 1);
  PipelineCoreOptions o = Basic(2, 1);
  o.mode = sluice::ForecastMode::kWindow;
  o.model = model;
  o.steps = 3;
  PipelineCore core(o, 0);
  std::vector<std::vector<double>> rows(2), forecasts(2);
  for (size_t from = 0; from < 12; from += 4) {
    const Output out = Process(core, Stream(from, 4, 2, 1));
    const ResultLayout l(out.result.rows, 0, 1, false);
    for (size_t r = 0; r < out.result.rows; ++r) {
      rows[out.U32(l.key)[r]].push_back(out.F64(l.values)[r]);
      forecasts[out.U32(l.key)[r]].push_back(out.F64(l.forecast)[r]);
    }
  }
  for (size_t k = 0; k < 2; ++k) {
    CHECK(rows[k].size() > 6);
    for (size_t i = 0; i < rows[k].size(); ++i) {
      if (i < 3) {
        CHECK(std::isnan(forecasts[k][i]));
        continue;
      }
      std::vector<float> x = {static_cast<float>(rows[k][i - 3]), static_cast<float>(rows[k][i - 2]), static_cast<float>(rows[k][i - 1])};
      float y = 0;
      sluice::LstmRunShape shape;
      shape.steps = 3;
      shape.batch = 1;
      shape.batchFirst = true;
      model->Predict({x.data(), x.size()}, shape, {&y, 1});
      CHECK_EQ(forecasts[k][i], static_cast<double>(y));
    }
  }
}

SLUICE_TEST(PipelineCoreSnapshotRestoreContinuesExactly) {
  const sluice::test::RandomLstm random(1, 2, 5, 2, 3);
  auto model = std::make_shared<sluice::LstmModel>(random.Spec(), 1);
  for (const auto mode : {sluice::ForecastMode::kWindow, sluice::ForecastMode::kState}) {
    PipelineCoreOptions o = Basic(3, 2);
    o.mode = mode;
    o.model = model;
    o.steps = 2;
    o.changeTarget = true;
    o.zscore.window = 5;
    o.zscore.warmup = 2;
    PipelineCore whole(o, 0), first(o, 0), second(o, 0);
    for (size_t from = 0; from < 20; from += 5) Process(whole, Stream(from, 5, 3, 2));
    for (size_t from = 0; from < 10; from += 5) Process(first, Stream(from, 5, 3, 2));
    const std::vector<uint8_t> bytes = first.Snapshot();
    second.Restore({bytes.data(), bytes.size()});
    CHECK(second.Snapshot() == bytes);
    for (size_t from = 10; from < 20; from += 5) Process(second, Stream(from, 5, 3, 2));
    const Output a = Finish(whole), b = Finish(second);
    CHECK(a.bytes == b.bytes);
    CHECK_EQ(a.result.rows, b.result.rows);
  }
}

SLUICE_TEST(PipelineCoreRestoreChecksEveryFieldAndChangesNothing) {
  PipelineCore core(Basic(2, 1), 0);
  Process(core, Stream(0, 5, 2, 1));
  const std::vector<uint8_t> good = core.Snapshot();
  PipelineCore wider(Basic(3, 1), 0);
  ExpectMalformed(wider, good, "another shape (keyCount)");
  // Fields under a valid checksum: payload at 16, the shape (48 bytes), the features vector (1 aggregate).
  const size_t counters = 16 + 48 + 8 + 1;
  PipelineCore fresh(Basic(2, 1), 0);
  std::vector<uint8_t> bad = good;
  Put(bad, counters, -1.0);  // events
  ExpectMalformed(fresh, bad, "counter events");
  // The per-key arrays follow the counters (12 doubles) and the tracker, windows and LSTM snapshots.
  size_t at = counters + 12 * 8;
  for (int nested = 0; nested < 3; ++nested) at = SkipArray(good, at, 1);
  bad = good;
  Put(bad, at + 8, 3.5);  // lastStart[0]: not a window start
  ExpectMalformed(fresh, bad, "lastStart[0]");
  CHECK_EQ(fresh.counters().events, 0.0);
  fresh.Restore({good.data(), good.size()});
  CHECK(fresh.Snapshot() == good);
}

SLUICE_TEST(PipelineCoreClosedModelStopsThePipelineUntilRestore) {
  const sluice::test::RandomLstm random(1, 1, 4, 1, 5);
  PipelineCoreOptions o = Basic(1, 1);
  o.mode = sluice::ForecastMode::kState;
  o.model = std::make_shared<sluice::LstmModel>(random.Spec(), 1);
  PipelineCore core(o, 0);
  Process(core, Stream(0, 3, 1, 1));
  const std::vector<uint8_t> saved = core.Snapshot();
  CHECK_THROWS_CODE(Process(core, Stream(3, 3, 1, 1), false), sluice::codes::kInvalidState);
  CHECK_THROWS_CODE(Process(core, Stream(6, 3, 1, 1)), sluice::codes::kInvalidState);
  CHECK_THROWS_CODE(core.Snapshot(), sluice::codes::kInvalidState);
  core.Restore({saved.data(), saved.size()});
  CHECK_EQ(Process(core, Stream(3, 3, 1, 1)).result.rows, 3u);
}

SLUICE_TEST(PipelineCoreBadBatchesChangeNothing) {
  PipelineCore core(Basic(2, 1), 0);
  Events e = Stream(0, 2, 2, 1);
  e.keys[1] = 2;
  CHECK_THROWS_CODE(Process(core, e), sluice::codes::kOutOfRange);
  e.keys[1] = 1;
  e.ts[2] = std::nan("");
  CHECK_THROWS_CODE(Process(core, e), sluice::codes::kInvalidArgument);
  e.ts[2] = 10;
  e.values.pop_back();
  CHECK_THROWS_CODE(Process(core, e), sluice::codes::kInvalidLength);
  CHECK_EQ(core.counters().events, 0.0);
  CHECK_EQ(core.counters().batchesIn, 0.0);
}

namespace {

// Events of 64-bit keys `words` (one per event), interned by the pass.
Output ProcessKeys(PipelineCore& core, const std::vector<double>& ts, const std::vector<uint64_t>& words) {
  Output out;
  std::vector<double> values(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) values[i] = std::sin(0.7 * ts[i] + static_cast<double>(words[i] % 7));
  sluice::KeyBatch keys;
  keys.words = {words.data(), words.size()};
  PipelineBatch batch;
  batch.timestamps = {ts.data(), ts.size()};
  batch.keyBatch = &keys;
  batch.values.data = values.data();
  batch.values.size = values.size();
  out.result = core.Process(batch, true, [&](size_t bytes) {
    out.bytes.resize(bytes);
    return out.bytes.data();
  });
  return out;
}

PipelineCoreOptions Keyed(std::shared_ptr<sluice::LstmModel> model, double keyTtl) {
  PipelineCoreOptions o = Basic(2, 1);
  sluice::KeySpaceOptions space;
  space.kind = sluice::KeyKind::kUint64;
  space.keyTtl = keyTtl;
  o.keySpace = space;
  o.mode = sluice::ForecastMode::kState;
  o.model = std::move(model);
  o.zscore.window = 4;
  o.zscore.warmup = 2;
  return o;
}

}  // namespace

SLUICE_TEST(PipelineCoreKeySpaceGrowsShrinksExpiresAndRestores) {
  const sluice::test::RandomLstm random(1, 1, 4, 1, 9);
  auto model = std::make_shared<sluice::LstmModel>(random.Spec(), 1);
  PipelineCore core(Keyed(model, 0), 0), twin(Keyed(model, 0), 0);
  // 100 keys from a capacity of 2: the per-key state doubles to hold them.
  for (PipelineCore* p : {&core, &twin}) {
    for (size_t step = 0; step < 4; ++step) {
      std::vector<double> ts;
      std::vector<uint64_t> words;
      for (uint64_t k = 0; k < 100; ++k) {
        ts.push_back(static_cast<double>(step * 10 + k % 10));
        words.push_back(k * 0x9E3779B97F4A7C15ull);
      }
      ProcessKeys(*p, ts, words);
    }
  }
  CHECK(core.keyCapacity() >= 100);
  CHECK_EQ(core.liveKeys(), 100.0);
  const size_t full = core.MemoryBytes();
  // Expire all but the first 5 ids: the state follows the dictionary's ids down.
  std::vector<uint32_t> ids;
  for (uint32_t id = 5; id < 100; ++id) ids.push_back(id);
  CHECK_EQ(core.Expire({ids.data(), ids.size()}), 95u);
  CHECK_THROWS_CODE(core.Expire({ids.data(), 1}), sluice::codes::kOutOfRange);  // not live any more
  CHECK(core.keyCapacity() < 100);
  CHECK(core.MemoryBytes() < full);
  CHECK_EQ(core.expiredKeys(), 95.0);
  // A snapshot restores bit for bit, at the shrunk capacity, into a pipeline that never grew.
  const std::vector<uint8_t> bytes = core.Snapshot();
  PipelineCore restored(Keyed(model, 0), 0);
  restored.Restore({bytes.data(), bytes.size()});
  CHECK(restored.Snapshot() == bytes);
  CHECK_EQ(restored.keyCapacity(), core.keyCapacity());
  // The 5 keys left go on as in the twin that never expired anything; new keys reuse the freed ids.
  std::vector<uint64_t> kept;
  for (uint64_t k = 0; k < 5; ++k) kept.push_back(k * 0x9E3779B97F4A7C15ull);
  const std::vector<double> ts{45, 46, 47, 48, 49};
  twin.Expire({ids.data(), ids.size()});
  const Output a = ProcessKeys(restored, ts, kept), b = ProcessKeys(twin, ts, kept);
  CHECK(a.bytes == b.bytes);
  std::vector<uint64_t> fresh{7, 8, 9};
  ProcessKeys(restored, {50, 51, 52}, fresh);
  CHECK_EQ(restored.liveKeys(), 8.0);
  CHECK(restored.keyCapacity() >= 8);
}

SLUICE_TEST(PipelineCoreKeyTtlFreesIdleKeys) {
  const sluice::test::RandomLstm random(1, 1, 4, 1, 3);
  PipelineCore core(Keyed(std::make_shared<sluice::LstmModel>(random.Spec(), 1), 25), 0);
  ProcessKeys(core, {1, 2}, {11, 12});
  ProcessKeys(core, {20}, {11});  // key 12's window [0, 10) fires; it stays idle
  CHECK_EQ(core.liveKeys(), 2.0);
  ProcessKeys(core, {40}, {11});  // watermark 39 ≥ 2 + 25, and its window fired by the pass before: freed
  CHECK_EQ(core.liveKeys(), 1.0);
  CHECK_EQ(core.expiredKeys(), 1.0);
  CHECK_EQ(core.expiredIds().size(), 1u);
  ProcessKeys(core, {60}, {11});  // key 11 saw an event 19 ago: kept
  CHECK_EQ(core.liveKeys(), 1.0);
  CHECK_EQ(core.expiredIds().size(), 0u);
  // Dense ids where keys of a kind are expected are checked live.
  PipelineBatch batch;
  const std::vector<double> t{61};
  const std::vector<uint32_t> dead{1};
  const std::vector<double> v{1};
  batch.timestamps = {t.data(), 1};
  batch.keys = {dead.data(), 1};
  batch.values.data = v.data();
  batch.values.size = 1;
  CHECK_THROWS_CODE(core.Process(batch, true, [](size_t) -> uint8_t* { return nullptr; }), sluice::codes::kOutOfRange);
}

// Without score columns (no forecaster), the result's buffer has no forecast, score and flagged, and every
// other column is the scored layout's, byte for byte: over keys with gaps forward-filled, a gap past maxFill
// (a restart) and NaN features, so that the rows come in several runs of block-copied windows.
SLUICE_TEST(PipelineCoreResultsWithoutScoreColumns) {
  PipelineCoreOptions o = Basic(3, 2);
  o.maxFill = 3;
  PipelineCoreOptions slim = o;
  slim.scoreColumns = false;
  PipelineCore scored(o, 0), lean(slim, 0);
  CHECK(scored.scoreColumns());
  CHECK(!lean.scoreColumns());
  size_t rows = 0, filled = 0;
  for (size_t from = 0; from < 60; from += 6) {
    Events e;
    for (size_t s = from; s < from + 6; ++s) {
      for (uint32_t k = 0; k < 3; ++k) {
        if ((k == 1 && s % 5 == 2) || (k == 2 && s >= 20 && s < 26)) continue;  // gaps; key 2: 6 windows, a restart
        e.ts.push_back(static_cast<double>(s * 10 + k));
        e.keys.push_back(k);
        e.values.push_back(s % 7 == 3 && k == 0 ? NAN : std::sin(0.3 * s + k));
        e.values.push_back(static_cast<double>(s + k));
      }
    }
    const Output a = Process(scored, e), b = Process(lean, e);
    CHECK_EQ(a.result.rows, b.result.rows);
    const size_t n = a.result.rows;
    const ResultLayout la(n, 0, 2, false), lb(n, 0, 2, false, false);
    CHECK_EQ(b.bytes.size(), lb.bytes);
    CHECK_EQ(lb.bytes, n * (3 * 8 + 2 * 8 + 4 + 1));
    CHECK_EQ(la.bytes - lb.bytes, n * (2 * 8 + 8 + 1));
    CHECK(std::memcmp(a.U32(la.key), b.U32(lb.key), n * 4) == 0);
    CHECK(std::memcmp(a.U8(la.filled), b.U8(lb.filled), n) == 0);
    for (size_t column : {size_t{0}, size_t{1}, size_t{2}}) {  // start, end, count
      const size_t at[] = {la.start, la.end, la.count}, bt[] = {lb.start, lb.end, lb.count};
      CHECK(std::memcmp(a.F64(at[column]), b.F64(bt[column]), n * 8) == 0);
    }
    CHECK(std::memcmp(a.F64(la.values), b.F64(lb.values), n * 2 * 8) == 0);
    for (size_t r = 0; r < n; ++r) {
      CHECK(std::isnan(a.F64(la.score)[r]));
      CHECK_EQ(a.U8(la.flagged)[r], 0);
      CHECK_EQ(b.F64(lb.end)[r], b.F64(lb.start)[r] + 10);
      filled += b.U8(lb.filled)[r];
    }
    rows += n;
  }
  CHECK(rows > 80);
  CHECK(filled > 10);
  CHECK_EQ(scored.counters().filledRows, lean.counters().filledRows);
  CHECK_EQ(static_cast<double>(filled), lean.counters().filledRows);
}

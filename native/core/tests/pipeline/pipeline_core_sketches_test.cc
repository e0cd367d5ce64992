// PipelineCore with sketch features (DDSketch quantiles, HyperLogLog distinct) under the sanitizers: a row's
// features and label are the values of an EventTimeWindows with the same options over the same events, bit
// for bit; state-mode forecasts and the z-score run over them; a snapshot midway continues exactly; bad
// sketch options and a snapshot of other sketch options are refused with codes.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pipeline/pipeline_core.h"
#include "tests/check.h"
#include "tests/lstm/lstm_reference.h"

namespace {

using sluice::Aggregate;
using sluice::PipelineBatch;
using sluice::PipelineCore;
using sluice::PipelineCoreOptions;
using sluice::ResultLayout;

constexpr uint32_t kKeys = 3, kChannels = 2;

bool SameBits(double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0; }

struct Events {
  std::vector<double> ts, values, labels;
  std::vector<uint32_t> keys;
};

struct Output {
  std::vector<uint8_t> bytes;
  sluice::PipelineResult result;
  const double* F64(size_t offset) const { return reinterpret_cast<const double*>(bytes.data() + offset); }
  const uint32_t* U32(size_t offset) const { return reinterpret_cast<const uint32_t*>(bytes.data() + offset); }
};

Output Run(PipelineCore& core, const Events* e) {
  Output out;
  auto allocate = [&](size_t bytes) {
    out.bytes.resize(bytes);
    return out.bytes.data();
  };
  if (e == nullptr) {
    out.result = core.Finish(true, allocate);
    return out;
  }
  PipelineBatch batch;
  batch.timestamps = {e->ts.data(), e->ts.size()};
  batch.keys = {e->keys.data(), e->keys.size()};
  batch.values.data = e->values.data();
  batch.values.size = e->values.size();
  batch.labels.data = e->labels.data();
  batch.labels.size = e->labels.size();
  out.result = core.Process(batch, true, allocate);
  return out;
}

// Batches of disordered events: lognormal latencies and small integers (some NaN), 0/1 labels.
std::vector<Events> Stream(uint32_t seed) {
  std::mt19937_64 random(seed);
  std::lognormal_distribution<double> latency(2, 1.2);
  std::vector<Events> batches;
  double clock = 0;
  for (int b = 0; b < 60; ++b) {
    Events e;
    for (int i = 0; i < 12; ++i) {
      e.ts.push_back(std::floor(clock - static_cast<double>(random() % 4)));
      e.keys.push_back(static_cast<uint32_t>(random() % kKeys));
      e.values.push_back(random() % 19 == 0 ? NAN : latency(random));
      e.values.push_back(random() % 13 == 0 ? NAN : static_cast<double>(random() % 9));
      e.labels.push_back(random() % 7 == 0 ? 1 : 0);
      clock += static_cast<double>(random() % 3);
    }
    if (b % 17 == 16) clock += 45;  // gaps: forward-filled rows
    batches.push_back(std::move(e));
  }
  return batches;
}

PipelineCoreOptions SketchOptions(double slide) {
  PipelineCoreOptions o;
  o.keyCount = kKeys;
  o.channels = kChannels;
  o.size = 20;
  o.slide = slide;
  o.horizon = 400;
  o.labels = true;
  o.features = {Aggregate::kMean, Aggregate::kQuantile, Aggregate::kDistinct, Aggregate::kQuantile};
  o.quantiles = {0.5, 0.99};
  o.accuracy = 0.02;
  o.distinctPrecision = 8;
  return o;
}

}  // namespace

SLUICE_TEST(pipeline_core_sketch_features_are_the_windows_values) {
  for (const double slide : {20.0, 5.0}) {
    const PipelineCoreOptions o = SketchOptions(slide);
    PipelineCore core(o, 0);
    // The windows the pipeline should hold: the features per channel, then the label's max, over the values
    // and the label as one more channel.
    sluice::EventTimeWindowsOptions w;
    w.kind = slide == o.size ? sluice::WindowKind::kTumbling : sluice::WindowKind::kSliding;
    w.size = o.size;
    w.slide = slide;
    w.horizon = o.horizon;
    w.keyCount = kKeys;
    w.channels = kChannels + 1;
    w.aggregates = o.features;
    w.aggregates.push_back(Aggregate::kMax);
    w.quantiles = o.quantiles;
    w.accuracy = o.accuracy;
    w.distinctPrecision = o.distinctPrecision;
    sluice::EventTimeWindows windows(w);
    const size_t A = w.aggregates.size(), P = o.features.size(), F = kChannels * P;
    size_t compared = 0, filled = 0;
    const std::vector<Events> batches = Stream(static_cast<uint32_t>(slide));
    for (size_t b = 0; b <= batches.size(); ++b) {
      const Output out = Run(core, b < batches.size() ? &batches[b] : nullptr);
      if (b < batches.size()) {
        const Events& e = batches[b];
        std::vector<double> packed;
        for (size_t i = 0; i < e.ts.size(); ++i) {
          packed.insert(packed.end(), {e.values[i * kChannels], e.values[i * kChannels + 1], e.labels[i]});
        }
        std::vector<uint32_t> late(e.ts.size());
        windows.Push<double>({e.ts.data(), e.ts.size()}, {e.keys.data(), e.keys.size()}, {packed.data(), packed.size()}, {late.data(), late.size()});
        windows.AdvanceWatermark(out.result.watermark);
      } else {
        windows.Flush();
      }
      const sluice::FiredWindows& f = windows.fired();
      const ResultLayout l(out.result.rows, out.result.late, F, true);
      size_t w = 0;
      for (size_t r = 0; r < out.result.rows; ++r) {
        if (reinterpret_cast<const uint8_t*>(out.bytes.data() + l.filled)[r] && out.F64(l.count)[r] == 0) {
          ++filled;  // a gap's row: the key's last features
          continue;
        }
        // Rows of fired windows come in the windows' order.
        CHECK(w < f.size());
        CHECK_EQ(out.U32(l.key)[r], f.keys[w]);
        CHECK_EQ(out.F64(l.start)[r], f.starts[w]);
        for (uint32_t c = 0; c < kChannels; ++c) {
          for (size_t a = 0; a < P; ++a) {
            const double expected = f.values[w * (kChannels + 1) * A + c * A + a];
            // A NaN feature (a quantile of a channel NaN throughout) is forward-filled: anything but NaN.
            if (std::isnan(expected)) CHECK(!std::isnan(out.F64(l.values)[r * F + c * P + a]) || r == 0);
            else CHECK(SameBits(out.F64(l.values)[r * F + c * P + a], expected));
          }
        }
        CHECK(SameBits(out.F64(l.label)[r], f.values[w * (kChannels + 1) * A + kChannels * A + P]));
        ++w;
        ++compared;
      }
      CHECK_EQ(w, f.size());
    }
    std::printf("  slide %g: %zu rows equal the windows' values, %zu forward-filled\n", slide, compared, filled);
    CHECK(compared > 100);
    CHECK(filled > 0);
  }
}

SLUICE_TEST(pipeline_core_sketch_features_snapshot_midway_continues_exactly) {
  const sluice::test::RandomLstm random(1, kChannels * 4, 6, kChannels * 4, 5);
  auto model = std::make_shared<sluice::LstmModel>(random.Spec(), 1);
  for (const double slide : {20.0, 10.0}) {
    PipelineCoreOptions o = SketchOptions(slide);
    o.mode = sluice::ForecastMode::kState;
    o.model = model;
    o.zscore.window = 6;
    o.zscore.warmup = 3;
    const std::vector<Events> batches = Stream(11);
    PipelineCore whole(o, 0), first(o, 0), second(o, 0);
    size_t forecasts = 0;
    for (size_t b = 0; b <= batches.size(); ++b) {
      const Events* e = b < batches.size() ? &batches[b] : nullptr;
      const Output want = Run(whole, e);
      if (b == batches.size() / 2) {
        const std::vector<uint8_t> bytes = first.Snapshot();
        second.Restore({bytes.data(), bytes.size()});
        CHECK(second.Snapshot() == bytes);
      }
      const Output got = Run(b < batches.size() / 2 ? first : second, e);
      CHECK(got.bytes == want.bytes);  // every column, bit for bit
      const ResultLayout l(want.result.rows, want.result.late, o.channels * 4, true);
      for (size_t r = 0; r < want.result.rows; ++r) forecasts += !std::isnan(want.F64(l.forecast)[r * o.channels * 4]);
    }
    CHECK(forecasts > 50);
  }
}

SLUICE_TEST(pipeline_core_refuses_bad_sketch_options_and_snapshots_of_other_sketch_options) {
  auto refused = [](void (*change)(PipelineCoreOptions&), const char* code) {
    PipelineCoreOptions o = SketchOptions(20);
    change(o);
    CHECK_THROWS_CODE(PipelineCore(o, 0), code);
  };
  refused([](PipelineCoreOptions& o) { o.quantiles = {0.5}; }, sluice::codes::kInvalidArgument);  // one q per quantile feature
  refused([](PipelineCoreOptions& o) { o.quantiles = {0.5, 1.5}; }, sluice::codes::kOutOfRange);
  refused([](PipelineCoreOptions& o) { o.accuracy = 0; }, sluice::codes::kOutOfRange);
  refused([](PipelineCoreOptions& o) { o.accuracy = 1; }, sluice::codes::kOutOfRange);
  refused([](PipelineCoreOptions& o) { o.distinctPrecision = 3; }, sluice::codes::kOutOfRange);
  refused([](PipelineCoreOptions& o) { o.distinctPrecision = 19; }, sluice::codes::kOutOfRange);

  PipelineCore first(SketchOptions(20), 0);
  for (const Events& e : Stream(3)) Run(first, &e);
  const std::vector<uint8_t> bytes = first.Snapshot();
  PipelineCoreOptions other = SketchOptions(20);
  other.accuracy = 0.01;
  PipelineCore second(other, 0);
  const std::vector<uint8_t> before = second.Snapshot();
  try {
    second.Restore({bytes.data(), bytes.size()});
    CHECK(false);  // not refused
  } catch (const sluice::CoreError& error) {
    CHECK(std::strcmp(error.code(), sluice::codes::kMalformedData) == 0);
    CHECK(std::string(error.what()).find("other sketch options") != std::string::npos);
  }
  CHECK(second.Snapshot() == before);
}

// PipelineCore's incremental checkpoints under the sanitizers: pipeline A (64-bit keys that expire with keyTtl,
// an LSTM state step, residual z-scores) takes a delta every round and, at the end of each chain of 1 … 5
// deltas, a full snapshot; B, rebuilt from the chain's full snapshot and its deltas, must write the same bytes.
// Then damaged deltas (every byte flipped in turn, truncations) are refused and leave B as it was.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/snapshot.h"
#include "pipeline/pipeline_core.h"
#include "tests/check.h"
#include "tests/lstm/lstm_reference.h"

namespace {

using sluice::PipelineCore;
using sluice::PipelineCoreOptions;

PipelineCoreOptions DeltaOptions(std::shared_ptr<sluice::LstmModel> model) {
  PipelineCoreOptions o;
  o.keyCount = 2;  // grows
  o.size = 10;
  o.slide = 10;
  o.horizon = 1000;
  o.maxFill = 3;
  sluice::KeySpaceOptions space;
  space.kind = sluice::KeyKind::kUint64;
  space.keyTtl = 40;
  o.keySpace = space;
  o.mode = sluice::ForecastMode::kState;
  o.model = std::move(model);
  o.zscore.window = 4;
  o.zscore.warmup = 2;
  return o;
}

// A round of events of a drifting band of keys (keys go idle and expire; some events late).
void Round(PipelineCore& core, std::mt19937& random, double t) {
  std::vector<double> ts, values;
  std::vector<uint64_t> words;
  for (int i = 0; i < 20; ++i) {
    ts.push_back(t + static_cast<double>(random() % 12) - 6);
    words.push_back(static_cast<uint64_t>(t / 15) + random() % 15);
    values.push_back(static_cast<double>(random() % 100) / 7);
  }
  sluice::KeyBatch keys;
  keys.words = {words.data(), words.size()};
  sluice::PipelineBatch batch;
  batch.timestamps = {ts.data(), ts.size()};
  batch.keyBatch = &keys;
  batch.values.data = values.data();
  batch.values.size = values.size();
  std::vector<uint8_t> out;
  core.Process(batch, true, [&](size_t bytes) {
    out.resize(bytes);
    return out.data();
  });
}

sluice::Span<const uint8_t> View(const std::vector<uint8_t>& bytes) { return {bytes.data(), bytes.size()}; }

}  // namespace

SLUICE_TEST(PipelineCoreDeltaEqualsFull) {
  const sluice::test::RandomLstm lstm(1, 1, 4, 1, 9);
  auto model = std::make_shared<sluice::LstmModel>(lstm.Spec(), 1);
  std::mt19937 random(7);
  PipelineCore a(DeltaOptions(model), 0);
  std::vector<uint8_t> full = a.Snapshot();
  std::vector<std::vector<uint8_t>> chain;
  size_t chainLength = 1, checked = 0;
  for (int round = 0; round < 150; ++round) {
    Round(a, random, round * 4.0);
    chain.push_back(a.SnapshotDelta());
    if (chain.size() < chainLength) continue;
    const std::vector<uint8_t> reference = a.Snapshot();
    PipelineCore b(DeltaOptions(model), 0);
    b.Restore(View(full));
    for (const auto& delta : chain) b.ApplyDelta(View(delta));
    CHECK(b.Snapshot() == reference);
    ++checked;
    full = reference;
    chain.clear();
    chainLength = 1 + random() % 5;
  }
  CHECK(checked > 30);
  CHECK(a.expiredKeys() > 20);
}

SLUICE_TEST(PipelineCoreDamagedDeltasChangeNothing) {
  const sluice::test::RandomLstm lstm(1, 1, 4, 1, 9);
  auto model = std::make_shared<sluice::LstmModel>(lstm.Spec(), 1);
  std::mt19937 random(8);
  PipelineCore a(DeltaOptions(model), 0);
  for (int round = 0; round < 20; ++round) Round(a, random, round * 4.0);
  const std::vector<uint8_t> full = a.Snapshot();
  for (int round = 20; round < 26; ++round) Round(a, random, round * 4.0);
  const std::vector<uint8_t> delta = a.SnapshotDelta();
  PipelineCore b(DeltaOptions(model), 0);
  b.Restore(View(full));
  for (size_t i = 0; i < delta.size(); i += 3) {
    std::vector<uint8_t> damaged = delta;
    damaged[i] ^= 0x10;
    bool refused = false;
    try {
      b.ApplyDelta(View(damaged));
    } catch (const sluice::CoreError&) {
      refused = true;
    }
    CHECK(refused);
  }
  for (size_t cut : {size_t{0}, size_t{10}, delta.size() / 2, delta.size() - 1}) {
    bool refused = false;
    try {
      b.ApplyDelta({delta.data(), cut});
    } catch (const sluice::CoreError&) {
      refused = true;
    }
    CHECK(refused);
  }
  CHECK(b.Snapshot() == full);  // nothing changed (and the same bytes start the same chain)
  b.ApplyDelta(View(delta));
  CHECK(b.Snapshot() == a.Snapshot());
}

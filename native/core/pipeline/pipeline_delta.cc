// PipelineCore: incremental checkpoints. A key's rows state changes only when rows are emitted for it or it
// is freed, so a delta holds those keys' rows state beside the windows' own delta (which holds every key
// whose windows changed). Layout of the payload (snapshot kind pipeline-delta), little-endian:
//   the shape and features (as a full snapshot) | u64 sequence (1 for the first delta after a full
//   checkpoint) | u32 CRC of the pipeline checkpoint it builds on | the counters | the tracker's full
//   snapshot | the windows' delta | u64 changed keys | per key, ascending: u32 key, f64 lastStart,
//   f64 lastValues [features], u32 historyCount, f64 history [historyRows][features] (with a forecaster),
//   f64 pending [features], the z-score slots (with anomaly), f32 the LSTM row (state mode).
// A freed key is written with its cleared state (its tombstone is in the windows' delta).
#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/snapshot.h"
#include "pipeline/pipeline_core.h"

namespace sluice {

void PipelineCore::MarkRowsChanged(uint32_t key) {
  if (!tracking_) return;
  if (key >= changedBits_.size()) changedBits_.resize(std::max<size_t>(key + 1, changedBits_.size() * 2), 0);
  if (changedBits_[key]) return;
  changedBits_[key] = 1;
  changedList_.push_back(key);
}

void PipelineCore::StartChain(uint32_t crc) const {
  tracking_ = true;
  for (uint32_t key : changedList_) changedBits_[key] = 0;
  changedList_.clear();
  chainSequence_ = 0;
  chainCrc_ = crc;
}

void PipelineCore::WriteKeyRows(SnapshotWriter& w, uint32_t key) const {
  const size_t F = features_, R = historyRows_;
  w.Put<uint32_t>(key);
  w.Put<double>(keys_.lastStart[key]);
  w.PutArray(&keys_.lastValues[key * F], F);
  w.Put<uint32_t>(keys_.historyCount[key]);
  if (!keys_.history.empty()) w.PutArray(&keys_.history[key * R * F], R * F);
  w.PutArray(&keys_.pending[key * F], F);
  if (engines_.zscore) engines_.zscore->WriteKey(w, key);
  if (engines_.lstm) {
    const Span<const float> row = engines_.lstm->KeyRow(key);
    w.PutArray(row.data, row.size);
  }
}

std::vector<uint8_t> PipelineCore::SnapshotDelta() {
  CheckOpen();
  Require(tracking_, codes::kInvalidState, "snapshotDelta() needs a checkpoint to build on: take snapshot() (or restore()) first");
  SnapshotWriter writer(SnapshotKind::kPipelineDelta);
  // The windows' delta first: it refuses sketch features (ERR_NOT_SUPPORTED) before anything is cleared.
  const std::vector<uint8_t> windows = engines_.windows->SnapshotDelta();
  WriteShape(writer);
  writer.Put<uint64_t>(chainSequence_ + 1);
  writer.Put<uint32_t>(chainCrc_);
  writer.Put(counters_);
  writer.PutVector(engines_.tracker->Snapshot());
  writer.PutVector(windows);
  std::vector<uint32_t> changed;
  for (uint32_t key : changedList_) {
    if (key < keyCapacity_) changed.push_back(key);  // ids beyond were freed and dropped by a shrink
  }
  std::sort(changed.begin(), changed.end());
  writer.Put<uint64_t>(changed.size());
  for (uint32_t key : changed) WriteKeyRows(writer, key);
  std::vector<uint8_t> bytes = writer.Finish();
  const uint64_t sequence = chainSequence_ + 1;
  StartChain(EnvelopeCrc({bytes.data(), bytes.size()}));
  chainSequence_ = sequence;
  return bytes;
}

void PipelineCore::ApplyDelta(Span<const uint8_t> bytes) {
  SnapshotReader reader(bytes, SnapshotKind::kPipelineDelta);
  if (!stopped_.empty()) Fail(codes::kInvalidState, "the Pipeline stopped: " + stopped_);
  Require(!finished_, codes::kInvalidState, "the Pipeline has finished (finish() ended the stream)");
  const uint32_t keyCapacity = ReadShape(reader, false);
  const uint64_t sequence = reader.Get<uint64_t>();
  const uint32_t baseCrc = reader.Get<uint32_t>();
  Require(tracking_ && sequence == chainSequence_ + 1 && baseCrc == chainCrc_, codes::kInvalidArgument,
          "delta does not build on this pipeline's last checkpoint (another chain, or a delta missing or repeated)");
  Require(changedList_.empty(), codes::kInvalidState, "applyDelta() needs the pipeline as its last checkpoint left it (it changed since)");
  const PipelineCounters counters = ReadCounters(reader);
  const std::vector<uint8_t> trackerBytes = reader.GetVector<uint8_t>(reader.Remaining());
  const std::vector<uint8_t> windows = reader.GetVector<uint8_t>(reader.Remaining());

  // Staged: every changed key's rows state, checked, before anything changes.
  const size_t F = features_, R = historyRows_;
  const uint64_t count = reader.Get<uint64_t>();
  Require(count <= keyCapacity && count <= reader.Remaining() / (4 + 8 + 8 * F), codes::kMalformedData, "delta key count out of range");
  const size_t n = static_cast<size_t>(count);
  std::vector<uint32_t> ids(n);
  KeyState staged = MakeKeyState(static_cast<uint32_t>(std::max<size_t>(n, 1)));
  std::unique_ptr<RollingZScore> zscore;
  if (engines_.zscore) zscore = std::make_unique<RollingZScore>(options_.zscore, std::max<size_t>(n, 1), F);
  const size_t stride = engines_.lstm ? engines_.lstm->KeyRow(0).size : 0;
  std::vector<float> lstmRows(n * stride);
  int64_t previous = -1;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = reader.Get<uint32_t>();
    Require(static_cast<int64_t>(key) > previous && key < keyCapacity, codes::kMalformedData, "delta keys out of order or range");
    previous = key;
    ids[i] = key;
    staged.lastStart[i] = reader.Get<double>();
    reader.GetArray(&staged.lastValues[i * F], F);
    staged.historyCount[i] = reader.Get<uint32_t>();
    if (!staged.history.empty()) reader.GetArray(&staged.history[i * R * F], R * F);
    reader.GetArray(&staged.pending[i * F], F);
    CheckKeyRows(key, staged.lastStart[i], staged.historyCount[i], staged.history.empty() ? nullptr : &staged.history[i * R * F],
                 &staged.pending[i * F]);
    if (zscore) zscore->ReadKey(reader, static_cast<uint32_t>(i));
    if (stride > 0) {
      reader.GetArray(&lstmRows[i * stride], stride);
      CheckField(std::all_of(&lstmRows[i * stride], &lstmRows[i * stride] + stride, [](float v) { return std::isfinite(v); }),
                 "lstm row (not finite)");
    }
  }
  reader.ExpectEnd();
  auto tracker = std::make_unique<WatermarkTracker>(*engines_.tracker);
  try {
    tracker->Restore({trackerBytes.data(), trackerBytes.size()});
  } catch (const CoreError& error) {
    Fail(codes::kMalformedData, std::string("pipeline delta: tracker: ") + error.what());
  }

  // The per-key vectors to the delta's capacity, then the windows' delta (all or nothing on its own; the
  // last step that may fail: a refusal gives the capacity back).
  const uint32_t before = keyCapacity_;
  if (keyCapacity != before) ResizeKeys(keyCapacity);
  try {
    engines_.windows->ApplyDelta({windows.data(), windows.size()});
  } catch (...) {
    if (keyCapacity_ != before) ResizeKeys(before);
    throw;
  }

  // Commit.
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = ids[i];
    keys_.lastStart[key] = staged.lastStart[i];
    std::copy_n(&staged.lastValues[i * F], F, &keys_.lastValues[key * F]);
    keys_.historyCount[key] = staged.historyCount[i];
    if (!keys_.history.empty()) std::copy_n(&staged.history[i * R * F], R * F, &keys_.history[key * R * F]);
    std::copy_n(&staged.pending[i * F], F, &keys_.pending[key * F]);
    if (zscore) engines_.zscore->CopyKey(*zscore, static_cast<uint32_t>(i), key);
    if (stride > 0) engines_.lstm->SetKeyRow(key, &lstmRows[i * stride]);
  }
  engines_.tracker = std::move(tracker);
  counters_ = counters;
  expired_.clear();
  internOpen_ = false;
  StartChain(EnvelopeCrc(bytes));
  chainSequence_ = sequence;
}

}  // namespace sluice

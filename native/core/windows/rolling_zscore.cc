#include "windows/rolling_zscore.h"

#include <cmath>
#include <limits>
#include <string>

#include "base/error.h"

namespace sluice {

RollingZScore::RollingZScore(const RollingZScoreOptions& options, size_t keyCount, size_t channels)
    : options_(options), channels_(channels) {
  Require(options.window >= 2 && options.warmup >= 2 && options.warmup <= options.window, codes::kOutOfRange,
          "anomaly.window must be ≥ 2 and anomaly.warmup in [2, window]");
  Require(options.minStd >= 0 && options.threshold > 0, codes::kOutOfRange, "anomaly.minStd must be ≥ 0 and anomaly.threshold > 0");
  ring_.assign(keyCount * channels * options.window, 0.0);
  head_.assign(keyCount * channels, 0);
  fill_.assign(keyCount * channels, 0);
}

double RollingZScore::ScoreAndUpdate(uint32_t key, const double* values) {
  const size_t W = options_.window;
  double score = -std::numeric_limits<double>::infinity();
  for (size_t c = 0; c < channels_; ++c) {
    const size_t slot = key * channels_ + c;
    const double v = values[c];
    const uint32_t n = fill_[slot];
    if (n < options_.warmup || std::isnan(v)) {
      score = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    // Two passes over at most `window` values: exact, and no drift from running sums.
    const double* ring = &ring_[slot * W];
    double sum = 0;
    for (uint32_t i = 0; i < n; ++i) sum += ring[i];
    const double mean = sum / n;
    double ss = 0;
    for (uint32_t i = 0; i < n; ++i) {
      const double d = ring[i] - mean;
      ss += d * d;
    }
    const double std = std::fmax(std::sqrt(ss / (n - 1)), options_.minStd);
    const double z = std::fabs(v - mean) / std;
    if (!(z <= score)) score = std::isnan(score) ? score : z;  // NaN sticks: one channel warming up → NaN
  }
  const bool flagged = score > options_.threshold;
  if (!(flagged && options_.excludeFlagged)) {
    for (size_t c = 0; c < channels_; ++c) {
      const double v = values[c];
      if (std::isnan(v)) continue;
      const size_t slot = key * channels_ + c;
      ring_[slot * W + head_[slot]] = v;
      head_[slot] = static_cast<uint32_t>((head_[slot] + 1) % W);
      if (fill_[slot] < W) ++fill_[slot];
    }
  }
  return score;
}

void RollingZScore::ResetKey(uint32_t key) {
  for (size_t c = 0; c < channels_; ++c) {
    head_[key * channels_ + c] = 0;
    fill_[key * channels_ + c] = 0;
  }
}

void RollingZScore::Write(SnapshotWriter& writer) const {
  writer.PutVector(ring_);
  writer.PutVector(head_);
  writer.PutVector(fill_);
}

void RollingZScore::Read(SnapshotReader& reader) {
  std::vector<double> ring(ring_.size());
  std::vector<uint32_t> head(head_.size()), fill(fill_.size());
  reader.GetArray(ring.data(), ring.size());
  reader.GetArray(head.data(), head.size());
  reader.GetArray(fill.data(), fill.size());
  const uint32_t W = options_.window;
  for (size_t i = 0; i < head.size(); ++i) {
    // The ring fills from slot 0 in order, so until it is full the next slot is the fill count.
    if (fill[i] > W) Fail(codes::kMalformedData, "pipeline snapshot: zFill[" + std::to_string(i) + "] is above anomaly.window");
    if (head[i] >= W || (fill[i] < W && head[i] != fill[i])) {
      Fail(codes::kMalformedData, "pipeline snapshot: zHead[" + std::to_string(i) + "] does not match zFill");
    }
  }
  ring_ = std::move(ring);
  head_ = std::move(head);
  fill_ = std::move(fill);
}

}  // namespace sluice

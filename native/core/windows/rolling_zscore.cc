#include "windows/rolling_zscore.h"

#include <algorithm>
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
  count_.resize(channels);
  sum_.resize(channels);
  mean_.resize(channels);
}

double RollingZScore::ScoreAndUpdate(uint32_t key, const double* values) {
  const size_t W = options_.window, C = channels_;
  const double* ring = &ring_[key * C * W];
  const uint32_t* fill = &fill_[key * C];
  // Two passes over at most `window` values per channel: exact, and no drift from running sums. The channels'
  // sums run side by side (independent chains the CPU overlaps), each in ring order as one channel alone would.
  size_t longest = 0;
  for (size_t c = 0; c < C; ++c) {
    const bool scored = fill[c] >= options_.warmup && !std::isnan(values[c]);
    count_[c] = scored ? fill[c] : 0;
    sum_[c] = 0;
    longest = std::max<size_t>(longest, count_[c]);
  }
  for (size_t i = 0; i < longest; ++i) {
    for (size_t c = 0; c < C; ++c) {
      if (i < count_[c]) sum_[c] += ring[c * W + i];
    }
  }
  for (size_t c = 0; c < C; ++c) {
    mean_[c] = count_[c] > 0 ? sum_[c] / count_[c] : 0;
    sum_[c] = 0;  // now the sum of squared deviations
  }
  for (size_t i = 0; i < longest; ++i) {
    for (size_t c = 0; c < C; ++c) {
      if (i < count_[c]) {
        const double d = ring[c * W + i] - mean_[c];
        sum_[c] += d * d;
      }
    }
  }
  double score = -std::numeric_limits<double>::infinity();
  for (size_t c = 0; c < C; ++c) {
    const uint32_t n = count_[c];
    if (n == 0) {  // warming up, or a NaN value
      score = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    const double std = std::fmax(std::sqrt(sum_[c] / (n - 1)), options_.minStd);
    const double z = std::fabs(values[c] - mean_[c]) / std;
    if (!(z <= score)) score = std::isnan(score) ? score : z;  // NaN sticks: one channel warming up → NaN
  }
  const bool flagged = score > options_.threshold;
  if (!(flagged && options_.excludeFlagged)) {
    for (size_t c = 0; c < C; ++c) {
      const double v = values[c];
      if (std::isnan(v)) continue;
      const size_t slot = key * C + c;
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

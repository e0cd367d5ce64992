#include "windows/rolling_zscore.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "base/error.h"
#include "base/snapshot.h"

namespace sluice {

RollingZScore::RollingZScore(const RollingZScoreOptions& options, size_t keyCount, size_t channels)
    : options_(options), channels_(channels) {
  Require(options.window >= 2 && options.warmup >= 2 && options.warmup <= options.window, codes::kOutOfRange,
          "anomaly.window must be ≥ 2 and anomaly.warmup in [2, window]");
  Require(options.minStd >= 0 && options.threshold > 0, codes::kOutOfRange, "anomaly.minStd must be ≥ 0 and anomaly.threshold > 0");
  ring_.assign(keyCount * channels * options.window, 0.0);
  head_.assign(keyCount * channels, 0);
  fill_.assign(keyCount * channels, 0);
  shift_.assign(keyCount * channels, 0.0);
  s1_.assign(keyCount * channels, 0.0);
  s2_.assign(keyCount * channels, 0.0);
}

double RollingZScore::ScoreAndUpdate(uint32_t key, const double* values) {
  const size_t C = channels_;
  double score = -std::numeric_limits<double>::infinity();
  for (size_t c = 0; c < C; ++c) {
    const size_t slot = key * C + c;
    const uint32_t n = fill_[slot];
    if (n < options_.warmup || std::isnan(values[c])) {
      score = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    const double mean = shift_[slot] + s1_[slot] / n;
    // fmax's rule (a NaN loses) written out: std::fmax is a libm call here, twice per value on the hot path.
    const double spread = s2_[slot] - s1_[slot] * s1_[slot] / n;
    const double m2 = spread > 0.0 ? spread : 0.0;
    const double deviation = std::sqrt(m2 / (n - 1));
    const double std = deviation > options_.minStd ? deviation : options_.minStd;
    const double z = std::fabs(values[c] - mean) / std;
    if (!(z <= score)) score = std::isnan(score) ? score : z;  // NaN sticks: one channel warming up → NaN
  }
  const bool flagged = score > options_.threshold;
  if (!(flagged && options_.excludeFlagged)) {
    for (size_t c = 0; c < C; ++c) {
      if (!std::isnan(values[c])) Record(key * C + c, values[c]);
    }
  }
  return score;
}

// Sums of the ring's values less a shift near their mean (so the sum of squares does not cancel): a value
// entering adds, the one it replaces subtracts. Each time the ring wraps the shift becomes the exact mean
// (two passes over the ring) and the sums are recomputed, so rounding never accumulates over more than
// `window` updates.
void RollingZScore::Record(size_t slot, double v) {
  const uint32_t W = options_.window;
  double* ring = &ring_[slot * W];
  const uint32_t head = head_[slot];
  if (fill_[slot] == 0) shift_[slot] = v;
  const double d = v - shift_[slot];
  if (fill_[slot] < W) {
    ++fill_[slot];
    s1_[slot] += d;
    s2_[slot] += d * d;
  } else {
    const double old = ring[head] - shift_[slot];
    s1_[slot] += d - old;
    s2_[slot] += d * d - old * old;
  }
  ring[head] = v;
  head_[slot] = head + 1 == W ? 0 : head + 1;
  if (head_[slot] == 0) {
    double sum = 0;
    for (uint32_t i = 0; i < W; ++i) sum += ring[i];
    const double mean = sum / W;
    double s1 = 0, s2 = 0;
    for (uint32_t i = 0; i < W; ++i) {
      s1 += ring[i] - mean;
      s2 += (ring[i] - mean) * (ring[i] - mean);
    }
    shift_[slot] = mean;
    s1_[slot] = s1;
    s2_[slot] = s2;
  }
}

void RollingZScore::ResetKey(uint32_t key) {
  for (size_t c = 0; c < channels_; ++c) {
    const size_t slot = key * channels_ + c;
    head_[slot] = 0;
    fill_[slot] = 0;
    s1_[slot] = 0;
    s2_[slot] = 0;
  }
}

void RollingZScore::Resize(size_t keyCount) {
  // All or nothing: new arrays first (the only step that may throw), then swapped in.
  const size_t slots = keyCount * channels_, kept = std::min(slots, head_.size()), W = options_.window;
  auto resized = [kept](const auto& from, size_t size, size_t per) {
    std::remove_const_t<std::remove_reference_t<decltype(from)>> to(size * per, 0);
    std::copy_n(from.begin(), kept * per, to.begin());
    return to;
  };
  auto ring = resized(ring_, slots, W);
  auto head = resized(head_, slots, 1), fill = resized(fill_, slots, 1);
  auto shift = resized(shift_, slots, 1), s1 = resized(s1_, slots, 1), s2 = resized(s2_, slots, 1);
  ring_.swap(ring);
  head_.swap(head);
  fill_.swap(fill);
  shift_.swap(shift);
  s1_.swap(s1);
  s2_.swap(s2);
}

bool RollingZScore::Holds(uint32_t key) const {
  for (size_t c = 0; c < channels_; ++c) {
    if (fill_[key * channels_ + c] != 0) return true;
  }
  return false;
}

void RollingZScore::Write(SnapshotWriter& writer) const {
  writer.PutVector(ring_);
  writer.PutVector(head_);
  writer.PutVector(fill_);
  writer.PutVector(shift_);
  writer.PutVector(s1_);
  writer.PutVector(s2_);
}

// One (key, channel) slot of a snapshot: ERR_MALFORMED_DATA naming slot i unless its head and fill agree
// and its ring holds no NaN; sums that overflowed are recomputed from the ring (as Record does at a wrap).
void RollingZScore::CheckSlot(size_t i, const double* values, uint32_t head, uint32_t fill, double& shift, double& s1,
                              double& s2) const {
  const uint32_t W = options_.window;
  // The ring fills from slot 0 in order, so until it is full the next slot is the fill count.
  if (fill > W) Fail(codes::kMalformedData, "pipeline snapshot: zFill[" + std::to_string(i) + "] is above anomaly.window");
  if (head >= W || (fill < W && head != fill)) {
    Fail(codes::kMalformedData, "pipeline snapshot: zHead[" + std::to_string(i) + "] does not match zFill");
  }
  // The ring holds the values recorded: never NaN (ScoreAndUpdate skips it); ±Infinity may enter (a
  // residual of an infinite forecast).
  const uint32_t filled = fill;
  for (uint32_t j = 0; j < filled; ++j) CheckField(!std::isnan(values[j]), "pipeline zRing[" + std::to_string(i) + "]");
  // An empty ring has zero sums. Sums that overflowed (values whose squares pass 1e308: a live object gets
  // there too, and its snapshot must restore) are recomputed from the ring, as Record does at each wrap.
  if (filled == 0 && (s1 != 0 || s2 != 0)) {
    Fail(codes::kMalformedData, "pipeline snapshot: zSums[" + std::to_string(i) + "] do not fit zFill");
  }
  if (filled > 0 && !(std::isfinite(shift) && std::isfinite(s1) && std::isfinite(s2))) {
    double sum = 0;
    for (uint32_t j = 0; j < filled; ++j) sum += values[j];
    shift = sum / filled;
    s1 = s2 = 0;
    for (uint32_t j = 0; j < filled; ++j) {
      s1 += values[j] - shift;
      s2 += (values[j] - shift) * (values[j] - shift);
    }
  }
}

void RollingZScore::Read(SnapshotReader& reader) {
  std::vector<double> ring(ring_.size());
  std::vector<uint32_t> head(head_.size()), fill(fill_.size());
  std::vector<double> shift(shift_.size()), s1(s1_.size()), s2(s2_.size());
  reader.GetArray(ring.data(), ring.size());
  reader.GetArray(head.data(), head.size());
  reader.GetArray(fill.data(), fill.size());
  reader.GetArray(shift.data(), shift.size());
  reader.GetArray(s1.data(), s1.size());
  reader.GetArray(s2.data(), s2.size());
  for (size_t i = 0; i < head.size(); ++i) {
    CheckSlot(i, ring.data() + i * options_.window, head[i], fill[i], shift[i], s1[i], s2[i]);
  }
  ring_ = std::move(ring);
  head_ = std::move(head);
  fill_ = std::move(fill);
  shift_ = std::move(shift);
  s1_ = std::move(s1);
  s2_ = std::move(s2);
}

void RollingZScore::WriteKey(SnapshotWriter& writer, uint32_t key) const {
  const size_t slot = key * channels_, W = options_.window;
  writer.PutArray(&ring_[slot * W], channels_ * W);
  writer.PutArray(&head_[slot], channels_);
  writer.PutArray(&fill_[slot], channels_);
  writer.PutArray(&shift_[slot], channels_);
  writer.PutArray(&s1_[slot], channels_);
  writer.PutArray(&s2_[slot], channels_);
}

void RollingZScore::ReadKey(SnapshotReader& reader, uint32_t key) {
  const size_t slot = key * channels_, W = options_.window;
  reader.GetArray(&ring_[slot * W], channels_ * W);
  reader.GetArray(&head_[slot], channels_);
  reader.GetArray(&fill_[slot], channels_);
  reader.GetArray(&shift_[slot], channels_);
  reader.GetArray(&s1_[slot], channels_);
  reader.GetArray(&s2_[slot], channels_);
  for (size_t i = slot; i < slot + channels_; ++i) CheckSlot(i, &ring_[i * W], head_[i], fill_[i], shift_[i], s1_[i], s2_[i]);
}

void RollingZScore::CopyKey(const RollingZScore& from, uint32_t fromKey, uint32_t toKey) {
  const size_t a = fromKey * channels_, b = toKey * channels_, W = options_.window;
  std::copy_n(&from.ring_[a * W], channels_ * W, &ring_[b * W]);
  for (auto [source, target] : {std::pair{&from.head_, &head_}, std::pair{&from.fill_, &fill_}}) std::copy_n(&(*source)[a], channels_, &(*target)[b]);
  for (auto [source, target] : {std::pair{&from.shift_, &shift_}, std::pair{&from.s1_, &s1_}, std::pair{&from.s2_, &s2_}}) {
    std::copy_n(&(*source)[a], channels_, &(*target)[b]);
  }
}

}  // namespace sluice

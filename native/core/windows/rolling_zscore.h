// Per (key, channel) z-score of a value against the mean and standard deviation of the previous `window`
// values of that key and channel: the native twin of lib/windows/rolling_zscore.ts (the same rule and
// options), used by the pipeline's native pass on forecast residuals. Where the JS class sums the window
// on every score (O(window)), this one keeps shifted sums of the window up to date as values enter
// and leave (O(1)), recomputed exactly each time a ring wraps: scores agree with the JS class to rounding.
// Memory: keyCount · channels · (window + 4) · 8 bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/snapshot.h"

namespace sluice {

struct RollingZScoreOptions {
  uint32_t window = 60;        // ≥ 2
  uint32_t warmup = 10;        // values needed before a score is given, 2 … window
  double minStd = 1e-9;        // floor of the standard deviation, ≥ 0
  bool excludeFlagged = true;  // a flagged value does not enter the statistics
  double threshold = 4;        // |z| above this flags a value, > 0
};

class RollingZScore {
 public:
  RollingZScore(const RollingZScoreOptions& options, size_t keyCount, size_t channels);

  // Scores values[0 … channels) of `key` (max |z| over channels; NaN while warming up or when a value is
  // NaN), then records them unless flagged (and excludeFlagged). key < keyCount (the caller checks).
  double ScoreAndUpdate(uint32_t key, const double* values);
  void ResetKey(uint32_t key);
  // Requests the cache lines ScoreAndUpdate(key) will touch, in two stages a caller issues some keys apart
  // (with many keys each is a cache miss): first the key's sums, then (reading its ring heads) its rings.
  void PrefetchSums(uint32_t key) const {
    const size_t slot = key * channels_;
    for (const double* sums : {&shift_[slot], &s1_[slot], &s2_[slot]}) __builtin_prefetch(sums, 1);
    __builtin_prefetch(&fill_[slot], 1);
    __builtin_prefetch(&head_[slot], 1);
  }
  void PrefetchRing(uint32_t key) const {
    for (size_t c = 0, slot = key * channels_; c < channels_; ++c, ++slot) {
      __builtin_prefetch(&ring_[slot * options_.window + head_[slot]], 1);
    }
  }
  // Exactly keyCount keys: new keys start empty, keys beyond are dropped (an owner whose key space grows and
  // shrinks, such as the Pipeline's).
  void Resize(size_t keyCount);
  // Whether the key has recorded values (a key that was reset, or never scored, has none).
  bool Holds(uint32_t key) const;
  const RollingZScoreOptions& options() const { return options_; }

  // State as snapshot arrays; Read checks every head and fill (ERR_MALFORMED_DATA naming the field) and
  // changes nothing unless all of them are good.
  void Write(SnapshotWriter& writer) const;
  void Read(SnapshotReader& reader);
  // One key's slots (incremental checkpoints). ReadKey checks them as Read does; a caller that must change
  // nothing on a failure reads into a staging object and copies the keys over (CopyKey) once all passed.
  void WriteKey(SnapshotWriter& writer, uint32_t key) const;
  void ReadKey(SnapshotReader& reader, uint32_t key);
  void CopyKey(const RollingZScore& from, uint32_t fromKey, uint32_t toKey);

 private:
  void CheckSlot(size_t i, const double* values, uint32_t head, uint32_t fill, double& shift, double& s1, double& s2) const;
  RollingZScoreOptions options_;
  size_t channels_;
  std::vector<double> ring_;   // [key][channel][window]
  std::vector<uint32_t> head_;  // [key][channel]: next slot
  std::vector<uint32_t> fill_;  // [key][channel]: filled slots
  // [key][channel]: the ring's values less `shift` (a value near their mean), summed and squared and summed.
  std::vector<double> shift_, s1_, s2_;
  void Record(size_t slot, double value);
};

}  // namespace sluice

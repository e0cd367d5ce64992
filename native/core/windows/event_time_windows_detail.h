// What the event_time_windows*.cc files share (internal to them): the sentinels for "before" and "after"
// every window or pane index, the conversions that respect them, and what snapshots and deltas store alike.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "base/snapshot.h"
#include "windows/event_time_windows.h"

namespace sluice::event_time_windows_detail {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr int64_t kBeforeAll = -(int64_t{1} << 62);  // window / pane index sentinels beyond any real one
constexpr int64_t kAfterAll = int64_t{1} << 62;

// The counters a snapshot or a delta carries: whole numbers, updates among the fired windows.
inline void CheckStoredMetrics(const WindowMetrics& metrics) {
  CheckField(IsCount(metrics.onTime), "metrics.onTime");
  CheckField(IsCount(metrics.updating), "metrics.updating");
  CheckField(IsCount(metrics.late), "metrics.late");
  CheckField(IsCount(metrics.firedWindows), "metrics.firedWindows");
  CheckField(IsCount(metrics.updateFirings) && metrics.updateFirings <= metrics.firedWindows, "metrics.updateFirings");
  CheckField(IsCount(metrics.ignoredWatermarks), "metrics.ignoredWatermarks");
}

// The options a snapshot or a delta starts with (a restore checks them against its own).
inline void PutStoredOptions(SnapshotWriter& w, const EventTimeWindowsOptions& o) {
  w.Put<uint8_t>(static_cast<uint8_t>(o.kind));
  for (double x : {o.size, o.slide, o.gap, o.offset, o.allowedLateness, o.horizon}) w.Put<double>(x);
  w.Put<uint32_t>(o.keyCount);
  w.Put<uint32_t>(o.channels);
  w.Put<uint32_t>(static_cast<uint32_t>(o.aggregates.size()));
  for (Aggregate a : o.aggregates) w.Put<uint8_t>(static_cast<uint8_t>(a));
}

inline int64_t ClampIndex(double x) {
  if (!(x > -4.0e18)) return kBeforeAll;  // also −Infinity
  if (x > 4.0e18) return kAfterAll;
  return static_cast<int64_t>(x);
}

inline int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Sorts entries (key << 32 | payload) by key: least-significant-digit radix sort, 11 key bits a pass over the
// bits in use (two passes for up to 4 M keys), std::sort for short lists. `scratch` is reused memory.
inline void SortByHighWord(std::vector<uint64_t>& entries, std::vector<uint64_t>& scratch) {
  const size_t n = entries.size();
  if (n < 256) {
    std::sort(entries.begin(), entries.end());
    return;
  }
  uint64_t keyBits = 0;
  for (uint64_t o : entries) keyBits |= o;
  keyBits >>= 32;
  scratch.resize(n);
  for (uint32_t shift = 32; shift < 64 && (keyBits >> (shift - 32)) != 0; shift += 11) {
    size_t counts[2048] = {};
    for (uint64_t o : entries) ++counts[(o >> shift) & 2047];
    size_t at = 0;
    for (size_t& c : counts) {
      const size_t here = c;
      c = at;
      at += here;
    }
    for (uint64_t o : entries) scratch[counts[(o >> shift) & 2047]++] = o;
    entries.swap(scratch);
  }
}

}  // namespace sluice::event_time_windows_detail

// The index arithmetic the event_time_windows*.cc files share (internal to them): the sentinels for "before"
// and "after" every window or pane index, and the conversions that respect them.
#pragma once
#include <cstdint>
#include <limits>

namespace sluice::event_time_windows_detail {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr int64_t kBeforeAll = -(int64_t{1} << 62);  // window / pane index sentinels beyond any real one
constexpr int64_t kAfterAll = int64_t{1} << 62;

inline int64_t ClampIndex(double x) {
  if (!(x > -4.0e18)) return kBeforeAll;  // also −Infinity
  if (x > 4.0e18) return kAfterAll;
  return static_cast<int64_t>(x);
}

inline int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace sluice::event_time_windows_detail

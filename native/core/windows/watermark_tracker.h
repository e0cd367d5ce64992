// Flink's event-time watermarks for several inputs (Kafka partitions, gateways, files):
//  - each input has a bounded-out-of-orderness watermark `maxTimestamp − bound − 1` (−Infinity before its
//    first event), like BoundedOutOfOrdernessWatermarks;
//  - an input is idle after `idleTimeout` of processing time without events (strictly more than the
//    timeout, as Flink's IdlenessTimer) or after MarkIdle, until its next event;
//  - the combined watermark follows Flink's StatusWatermarkValve: the minimum over active inputs whose
//    watermark is aligned, never going back; an input that returns from idleness below the combined
//    watermark is not aligned (ignored) until it catches up; when every input is idle the combined
//    watermark becomes the maximum over all inputs and the tracker is idle.
// Processing time is always passed in (`now`), so the caller decides the clock and tests are exact.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "base/span.h"

namespace sluice {

struct WatermarkTrackerOptions {
  uint32_t inputs = 1;
  double bound = 0;                                              // out-of-orderness bound, ≥ 0
  double idleTimeout = std::numeric_limits<double>::infinity();  // > 0; Infinity: never idle by time
};

class WatermarkTracker {
 public:
  WatermarkTracker(const WatermarkTrackerOptions& options, double now);

  // A batch of event timestamps of one input: all finite, else ERR_INVALID_ARGUMENT before any change.
  void Observe(uint32_t input, Span<const double> timestamps, double now);
  void MarkIdle(uint32_t input);
  void MarkActive(uint32_t input, double now);
  // Applies idleness timeouts as of `now` and returns the combined watermark.
  double Update(double now);

  double watermark() const { return combined_; }
  bool idle() const { return idle_; }
  double InputWatermark(uint32_t input) const;
  bool InputIdle(uint32_t input) const;
  bool InputAligned(uint32_t input) const;
  const WatermarkTrackerOptions& options() const { return options_; }

  std::vector<uint8_t> Snapshot() const;
  void Restore(Span<const uint8_t> bytes);  // all or nothing: state is unchanged if the bytes are bad

 private:
  struct Input {
    double maxTimestamp = -std::numeric_limits<double>::infinity();
    double lastActivity = 0;
    uint8_t idle = 0;
    uint8_t aligned = 1;
  };
  double WatermarkOf(const Input& in) const;
  void CheckInput(uint32_t input) const;
  void Activate(Input& in, double now);
  void SetIdle(uint32_t input);
  void ApplyTimeouts(double now);
  void AdvanceToMinOfAligned();

  WatermarkTrackerOptions options_;
  std::vector<Input> inputs_;
  double combined_ = -std::numeric_limits<double>::infinity();
  bool idle_ = false;
};

}  // namespace sluice

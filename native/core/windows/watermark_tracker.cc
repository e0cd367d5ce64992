#include "windows/watermark_tracker.h"

#include <cmath>

#include "base/snapshot.h"

namespace sluice {

namespace {
constexpr double kMinusInfinity = -std::numeric_limits<double>::infinity();

void CheckOptions(const WatermarkTrackerOptions& o) {
  Require(o.inputs >= 1 && o.inputs <= (1u << 24), codes::kOutOfRange, "inputs must be in [1, 16777216]");
  Require(std::isfinite(o.bound) && o.bound >= 0, codes::kInvalidArgument, "bound must be finite and >= 0");
  Require(!std::isnan(o.idleTimeout) && o.idleTimeout > 0, codes::kInvalidArgument, "idleTimeout must be > 0");
}
// The maximum of a batch, checking that every value is finite, in one branch-free pass: x − x is NaN
// exactly for NaN and ±Infinity, and NaN survives the sums. Eight independent lanes break the dependency
// chains of the max and the sum so the loop runs at load speed (SSE2 pairs on the baseline ISA).
double MaxOfFinite(Span<const double> values) {
  constexpr size_t kLanes = 8;
  double max[kLanes], poison[kLanes];
  for (size_t l = 0; l < kLanes; ++l) {
    max[l] = kMinusInfinity;
    poison[l] = 0;
  }
  const double* x = values.data;
  const size_t n = values.size, whole = n - n % kLanes;
  for (size_t i = 0; i < whole; i += kLanes) {
    for (size_t l = 0; l < kLanes; ++l) {
      const double v = x[i + l];
      max[l] = v > max[l] ? v : max[l];
      poison[l] += v - v;
    }
  }
  for (size_t i = whole; i < n; ++i) {
    max[0] = x[i] > max[0] ? x[i] : max[0];
    poison[0] += x[i] - x[i];
  }
  double result = kMinusInfinity, poisoned = 0;
  for (size_t l = 0; l < kLanes; ++l) {
    result = max[l] > result ? max[l] : result;
    poisoned += poison[l];
  }
  Require(poisoned == 0, codes::kInvalidArgument, "timestamps must be finite");
  return result;
}

}  // namespace

WatermarkTracker::WatermarkTracker(const WatermarkTrackerOptions& options, double now) : options_(options) {
  CheckOptions(options);
  Require(std::isfinite(now), codes::kInvalidArgument, "now must be finite");
  inputs_.resize(options.inputs);
  for (Input& in : inputs_) in.lastActivity = now;
}

double WatermarkTracker::WatermarkOf(const Input& in) const {
  return in.maxTimestamp == kMinusInfinity ? kMinusInfinity : in.maxTimestamp - options_.bound - 1;
}

void WatermarkTracker::CheckInput(uint32_t input) const {
  Require(input < inputs_.size(), codes::kOutOfRange, "unknown input index");
}

void WatermarkTracker::Observe(uint32_t input, Span<const double> timestamps, double now) {
  CheckInput(input);
  Require(std::isfinite(now), codes::kInvalidArgument, "now must be finite");
  const double max = MaxOfFinite(timestamps);  // throws before any state changes
  if (timestamps.size == 0) return;
  Input& in = inputs_[input];
  Activate(in, now);
  if (max > in.maxTimestamp) {
    in.maxTimestamp = max;
    if (!in.aligned && WatermarkOf(in) >= combined_) in.aligned = 1;
  }
  ApplyTimeouts(now);
  AdvanceToMinOfAligned();
}

void WatermarkTracker::Activate(Input& in, double now) {
  in.lastActivity = now;
  if (!in.idle) return;
  in.idle = 0;
  in.aligned = WatermarkOf(in) >= combined_;
  idle_ = false;
}

void WatermarkTracker::MarkActive(uint32_t input, double now) {
  CheckInput(input);
  Require(std::isfinite(now), codes::kInvalidArgument, "now must be finite");
  Activate(inputs_[input], now);
  AdvanceToMinOfAligned();
}

void WatermarkTracker::MarkIdle(uint32_t input) {
  CheckInput(input);
  SetIdle(input);
}

void WatermarkTracker::SetIdle(uint32_t input) {
  Input& in = inputs_[input];
  if (in.idle) return;
  in.idle = 1;
  in.aligned = 0;
  bool allIdle = true;
  for (const Input& other : inputs_) allIdle = allIdle && other.idle;
  if (allIdle) {
    double max = kMinusInfinity;
    for (const Input& other : inputs_) max = std::fmax(max, WatermarkOf(other));
    if (max > combined_) combined_ = max;
    idle_ = true;
  } else {
    AdvanceToMinOfAligned();
  }
}

void WatermarkTracker::ApplyTimeouts(double now) {
  if (std::isinf(options_.idleTimeout)) return;
  for (uint32_t i = 0; i < inputs_.size(); ++i) {
    if (!inputs_[i].idle && now - inputs_[i].lastActivity > options_.idleTimeout) SetIdle(i);
  }
}

void WatermarkTracker::AdvanceToMinOfAligned() {
  bool any = false;
  double min = std::numeric_limits<double>::infinity();
  for (const Input& in : inputs_) {
    if (in.idle || !in.aligned) continue;
    any = true;
    min = std::fmin(min, WatermarkOf(in));
  }
  if (any && min > combined_) combined_ = min;
}

double WatermarkTracker::Update(double now) {
  Require(std::isfinite(now), codes::kInvalidArgument, "now must be finite");
  ApplyTimeouts(now);
  return combined_;
}

double WatermarkTracker::InputWatermark(uint32_t input) const {
  CheckInput(input);
  return WatermarkOf(inputs_[input]);
}
bool WatermarkTracker::InputIdle(uint32_t input) const {
  CheckInput(input);
  return inputs_[input].idle;
}
bool WatermarkTracker::InputAligned(uint32_t input) const {
  CheckInput(input);
  return inputs_[input].aligned;
}

std::vector<uint8_t> WatermarkTracker::Snapshot() const {
  SnapshotWriter w(SnapshotKind::kWatermarkTracker);
  w.Put<uint32_t>(options_.inputs);
  w.Put<double>(options_.bound);
  w.Put<double>(options_.idleTimeout);
  w.Put<double>(combined_);
  w.Put<uint8_t>(idle_);
  for (const Input& in : inputs_) {
    w.Put<double>(in.maxTimestamp);
    w.Put<double>(in.lastActivity);
    w.Put<uint8_t>(in.idle);
    w.Put<uint8_t>(in.aligned);
  }
  return w.Finish();
}

void WatermarkTracker::Restore(Span<const uint8_t> bytes) {
  SnapshotReader r(bytes, SnapshotKind::kWatermarkTracker);
  WatermarkTrackerOptions o;
  o.inputs = r.Get<uint32_t>();
  o.bound = r.Get<double>();
  o.idleTimeout = r.Get<double>();
  Require(o.inputs == options_.inputs && o.bound == options_.bound && o.idleTimeout == options_.idleTimeout,
          codes::kInvalidArgument, "snapshot was taken with other options");
  // Watermarks and timestamps are finite once set, −Infinity before (the tracker only sees finite ones).
  auto finiteOrUnset = [](double x) { return std::isfinite(x) || x == kMinusInfinity; };
  const double combined = r.GetField<double>("watermark", finiteOrUnset);
  const uint8_t idle = r.GetField<uint8_t>("idle", [](uint8_t b) { return b <= 1; });
  std::vector<Input> inputs(o.inputs);
  bool allIdle = true;
  double highest = kMinusInfinity;
  for (Input& in : inputs) {
    in.maxTimestamp = r.GetField<double>("inputs[].maxTimestamp", finiteOrUnset);
    in.lastActivity = r.GetField<double>("inputs[].lastActivity", [](double x) { return std::isfinite(x); });
    in.idle = r.GetField<uint8_t>("inputs[].idle", [](uint8_t b) { return b <= 1; });
    in.aligned = r.GetField<uint8_t>("inputs[].aligned", [](uint8_t b) { return b <= 1; });
    // An idle input is not aligned; an aligned one holds the combined watermark back no further than its own.
    CheckField(!(in.idle && in.aligned), "inputs[].aligned");
    CheckField(!in.aligned || WatermarkOf(in) >= combined, "inputs[].aligned");
    allIdle = allIdle && in.idle;
    highest = std::fmax(highest, WatermarkOf(in));
  }
  CheckField((idle != 0) == allIdle, "idle");
  // The combined watermark only ever rises to an input's watermark.
  CheckField(combined == kMinusInfinity || combined <= highest, "watermark");
  r.ExpectEnd();
  inputs_ = std::move(inputs);
  combined_ = combined;
  idle_ = idle;
}

}  // namespace sluice

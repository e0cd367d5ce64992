#include "windows/aggregates.h"

namespace sluice {

namespace {
constexpr const char* kNames[kAggregateKinds] = {"count", "sum", "mean", "min", "max", "var", "std", "first", "last"};
}

const char* AggregateName(Aggregate aggregate) {
  if (aggregate == Aggregate::kQuantile) return "quantile";
  if (aggregate == Aggregate::kDistinct) return "distinct";
  return kNames[static_cast<int>(aggregate)];
}

bool ParseQuantileName(const std::string& name, double* q) {
  static constexpr struct {
    const char* name;
    double q;
  } kQuantileNames[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};
  for (const auto& entry : kQuantileNames) {
    if (name == entry.name) {
      *q = entry.q;
      return true;
    }
  }
  return false;
}

bool ParseAggregate(const std::string& name, Aggregate* aggregate) {
  for (int i = 0; i < kAggregateKinds; ++i) {
    if (name == kNames[i]) {
      *aggregate = static_cast<Aggregate>(i);
      return true;
    }
  }
  return false;
}

double Finalize(Aggregate aggregate, const Summary& s) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  switch (aggregate) {
    case Aggregate::kCount: return s.count;
    case Aggregate::kSum: return s.sum;
    case Aggregate::kMean: return s.count > 0 ? s.mean : kNaN;
    case Aggregate::kMin: return s.count > 0 ? s.min : kNaN;
    case Aggregate::kMax: return s.count > 0 ? s.max : kNaN;
    // m2 can round slightly below 0; clamp it, but keep a NaN m2 (from infinite values) as NaN.
    case Aggregate::kVar: return s.count > 1 ? (s.m2 < 0 ? 0.0 : s.m2) / (s.count - 1) : kNaN;
    case Aggregate::kStd: return s.count > 1 ? std::sqrt((s.m2 < 0 ? 0.0 : s.m2) / (s.count - 1)) : kNaN;
    case Aggregate::kFirst: return s.count > 0 ? s.first : kNaN;
    case Aggregate::kLast: return s.count > 0 ? s.last : kNaN;
    case Aggregate::kQuantile:  // not functions of a Summary: the windows compute them from their sketches
    case Aggregate::kDistinct: return kNaN;
  }
  return kNaN;
}

}  // namespace sluice

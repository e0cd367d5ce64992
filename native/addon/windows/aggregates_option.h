// The `aggregates` option of every window binding (and the Pipeline's features): an array of names, parsed by
// the core's one list, with the quantile and sketch options that go with it.
#pragma once
#include <napi.h>

#include <vector>

#include "arguments.h"
#include "errors.h"
#include "windows/aggregates.h"
#include "windows/dd_sketch.h"
#include "windows/hyper_log_log.h"

// The columns of a count window or event-time windows: `aggregates` may also name quantiles (p50, p90, p99,
// p999) and, where `distinct` is true (event-time windows), `distinct`; the `quantiles` option (an array of
// numbers in [0, 1], optional) appends one quantile column per entry.
struct AggregateColumns {
  std::vector<sluice::Aggregate> aggregates;
  std::vector<double> quantiles;  // the q of each kQuantile column, in order
};

inline AggregateColumns AggregateColumnsOption(Napi::Env env, const Napi::Object& options, bool distinct = false) {
  const Napi::Value value = options.Get("aggregates");
  if (!value.IsArray()) ThrowSluiceError(env, sluice::codes::kInvalidType, "aggregates must be an array of names");
  const Napi::Array names = value.As<Napi::Array>();
  AggregateColumns columns;
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const Napi::Value name = names.Get(i);
    if (!name.IsString()) ThrowSluiceError(env, sluice::codes::kInvalidArgument, "unknown aggregate");
    const std::string text = name.As<Napi::String>().Utf8Value();
    sluice::Aggregate aggregate;
    double q;
    if (sluice::ParseAggregate(text, &aggregate)) {
      columns.aggregates.push_back(aggregate);
    } else if (distinct && text == "distinct") {
      columns.aggregates.push_back(sluice::Aggregate::kDistinct);
    } else if (sluice::ParseQuantileName(text, &q)) {
      columns.aggregates.push_back(sluice::Aggregate::kQuantile);
      columns.quantiles.push_back(q);
    } else {
      ThrowSluiceError(env, sluice::codes::kInvalidArgument, "unknown aggregate");
    }
  }
  const Napi::Value quantiles = options.Get("quantiles");
  if (quantiles.IsUndefined()) return columns;
  if (!quantiles.IsArray()) ThrowSluiceError(env, sluice::codes::kInvalidType, "quantiles must be an array of numbers");
  const Napi::Array qs = quantiles.As<Napi::Array>();
  for (uint32_t i = 0; i < qs.Length(); ++i) {
    const Napi::Value q = qs.Get(i);
    if (!q.IsNumber()) ThrowSluiceError(env, sluice::codes::kInvalidType, "quantiles must be an array of numbers");
    const double x = q.As<Napi::Number>().DoubleValue();
    if (!(x >= 0 && x <= 1)) ThrowSluiceError(env, sluice::codes::kOutOfRange, "a quantile must be a number in [0, 1]");
    columns.aggregates.push_back(sluice::Aggregate::kQuantile);
    columns.quantiles.push_back(x);
  }
  return columns;
}

// The sketch options of event-time windows and of the Pipeline's features (which its windows compute):
// `accuracy` (DDSketch) and `distinctPrecision` (HyperLogLog). The core checks both again.
struct SketchOptions {
  double accuracy = sluice::DDSketch::kDefaultAccuracy;
  uint32_t distinctPrecision = sluice::HyperLogLog::kDefaultPrecision;
};

inline SketchOptions SketchOptionsOf(Napi::Env env, const Napi::Object& options) {
  SketchOptions sketches;
  sketches.accuracy = NumberOption(env, options, "accuracy", sluice::DDSketch::kDefaultAccuracy);
  const double precision = NumberOption(env, options, "distinctPrecision", sluice::HyperLogLog::kDefaultPrecision);
  if (!(precision >= sluice::HyperLogLog::kMinPrecision && precision <= sluice::HyperLogLog::kMaxPrecision) ||
      precision != static_cast<uint32_t>(precision)) {
    ThrowSluiceError(env, sluice::codes::kOutOfRange, "distinctPrecision must be an integer in [4, 18]");
  }
  sketches.distinctPrecision = static_cast<uint32_t>(precision);
  return sketches;
}

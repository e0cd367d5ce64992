// The `aggregates` option of every window binding: an array of names, parsed by the core's one list.
#pragma once
#include <napi.h>

#include <vector>

#include "errors.h"
#include "windows/aggregates.h"

inline std::vector<sluice::Aggregate> AggregatesOption(Napi::Env env, const Napi::Object& options) {
  const Napi::Value value = options.Get("aggregates");
  if (!value.IsArray()) ThrowSluiceError(env, sluice::codes::kInvalidType, "aggregates must be an array of names");
  const Napi::Array names = value.As<Napi::Array>();
  std::vector<sluice::Aggregate> aggregates;
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const Napi::Value name = names.Get(i);
    sluice::Aggregate aggregate;
    if (!name.IsString() || !sluice::ParseAggregate(name.As<Napi::String>().Utf8Value(), &aggregate)) {
      ThrowSluiceError(env, sluice::codes::kInvalidArgument, "unknown aggregate");
    }
    aggregates.push_back(aggregate);
  }
  return aggregates;
}

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

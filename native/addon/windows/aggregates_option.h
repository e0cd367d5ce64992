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

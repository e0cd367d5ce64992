// The SIMD levels this CPU can run, for tests that compare every kernel level.
#pragma once
#include <vector>

#include "base/cpu_features.h"

namespace sluice::test {

inline std::vector<SimdLevel> SupportedLevels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel level : {SimdLevel::kPortable, SimdLevel::kNeon, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (ClampSimdLevel(level, DetectSimdLevel()) == level) levels.push_back(level);
  }
  return levels;
}

}  // namespace sluice::test

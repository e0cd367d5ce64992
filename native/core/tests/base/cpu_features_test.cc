#include "tests/check.h"
#include "base/cpu_features.h"
#include "base/span.h"

using namespace sluice;

SLUICE_TEST(simd_level_names_round_trip) {
  for (SimdLevel level : {SimdLevel::kPortable, SimdLevel::kNeon, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    SimdLevel parsed;
    CHECK(ParseSimdLevel(SimdLevelName(level), &parsed));
    CHECK(parsed == level);
  }
  SimdLevel unused;
  CHECK(!ParseSimdLevel("sse9", &unused));
}

SLUICE_TEST(simd_override_never_exceeds_the_cpu) {
  CHECK(ClampSimdLevel(SimdLevel::kAvx512, SimdLevel::kAvx2) == SimdLevel::kAvx2);
  CHECK(ClampSimdLevel(SimdLevel::kAvx2, SimdLevel::kAvx512) == SimdLevel::kAvx2);
  CHECK(ClampSimdLevel(SimdLevel::kPortable, SimdLevel::kAvx512) == SimdLevel::kPortable);
  CHECK(ClampSimdLevel(SimdLevel::kNeon, SimdLevel::kAvx512) == SimdLevel::kPortable);
  CHECK(ClampSimdLevel(SimdLevel::kAvx2, SimdLevel::kNeon) == SimdLevel::kPortable);
  CHECK(ClampSimdLevel(SimdLevel::kAvx2, SimdLevel::kPortable) == SimdLevel::kPortable);
  // Whatever the environment says, the active level is one the CPU supports.
  CHECK(ClampSimdLevel(ActiveSimdLevel(), DetectSimdLevel()) == ActiveSimdLevel());
}

SLUICE_TEST(span_subspan_is_bounds_checked) {
  double values[4] = {1, 2, 3, 4};
  Span<double> all(values, 4);
  CHECK_EQ(all.subspan(1, 3)[2], 4.0);
  CHECK_EQ(all.subspan(4, 0).size, size_t{0});
  CHECK_THROWS_CODE(all.subspan(2, 3), codes::kOutOfRange);
  CHECK_THROWS_CODE(all.subspan(5, 0), codes::kOutOfRange);
  Span<const double> readOnly = all;
  CHECK_EQ(readOnly.size, size_t{4});
}

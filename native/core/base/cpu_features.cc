#include "base/cpu_features.h"

#include <cstdlib>

namespace sluice {

const char* SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return "avx512";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kNeon: return "neon";
    case SimdLevel::kPortable: return "portable";
  }
  return "portable";
}

SimdLevel DetectSimdLevel() {
#if defined(__x86_64__) || defined(_M_X64)
  // GCC/Clang's __builtin_cpu_supports also checks that the OS saves the wider registers (XGETBV).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma")) {
    return SimdLevel::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
  return SimdLevel::kPortable;
#elif defined(__aarch64__)
  return SimdLevel::kNeon;  // Advanced SIMD is mandatory on AArch64.
#else
  return SimdLevel::kPortable;
#endif
}

bool ParseSimdLevel(const std::string& name, SimdLevel* level) {
  if (name == "portable") *level = SimdLevel::kPortable;
  else if (name == "neon") *level = SimdLevel::kNeon;
  else if (name == "avx2") *level = SimdLevel::kAvx2;
  else if (name == "avx512") *level = SimdLevel::kAvx512;
  else return false;
  return true;
}

SimdLevel ClampSimdLevel(SimdLevel requested, SimdLevel supported) {
  if (requested == SimdLevel::kPortable) return requested;
  // NEON and the x86 levels are different families: a request from the other family means portable.
  const bool requestedArm = requested == SimdLevel::kNeon;
  const bool supportedArm = supported == SimdLevel::kNeon;
  if (supported == SimdLevel::kPortable || requestedArm != supportedArm) return SimdLevel::kPortable;
  return static_cast<int>(requested) <= static_cast<int>(supported) ? requested : supported;
}

SimdLevel ActiveSimdLevel() {
  const SimdLevel supported = DetectSimdLevel();
  const char* env = std::getenv("SLUICE_SIMD");
  SimdLevel requested;
  if (env == nullptr || !ParseSimdLevel(env, &requested)) return supported;
  return ClampSimdLevel(requested, supported);
}

}  // namespace sluice

// Run-time detection of the CPU's SIMD level, so one prebuilt binary runs on any x86-64 (or arm64)
// CPU and picks the widest kernels the CPU and OS support (simdjson's model).
#pragma once
#include <string>

namespace sluice {

enum class SimdLevel { kPortable = 0, kNeon = 1, kAvx2 = 2, kAvx512 = 3 };

const char* SimdLevelName(SimdLevel level);

// What this CPU supports, ignoring any override.
SimdLevel DetectSimdLevel();

// The level kernels use: DetectSimdLevel(), lowered by the SLUICE_SIMD environment variable
// ("portable", "avx2", "avx512", "neon") when it names a level the CPU supports. A level the CPU lacks
// is never chosen, so an override cannot make the process execute an unsupported instruction.
SimdLevel ActiveSimdLevel();

// Parses a level name; returns false for an unknown name.
bool ParseSimdLevel(const std::string& name, SimdLevel* level);

// min(requested, supported) for the same architecture family.
SimdLevel ClampSimdLevel(SimdLevel requested, SimdLevel supported);

// The kernel table of the widest instruction set at or below `level` that this build has, for any family of
// kernels with one table getter per ISA (a getter returns null where its ISA's kernels are not built: the AVX
// ones outside x86-64, the NEON one outside aarch64).
template <typename Kernels>
const Kernels& WidestBuiltKernels(SimdLevel level, const Kernels* (*portable)(), const Kernels* (*neon)(),
                                  const Kernels* (*avx2)(), const Kernels* (*avx512)()) {
  const Kernels* chosen = nullptr;
  if (level == SimdLevel::kNeon) chosen = neon();
  if (level == SimdLevel::kAvx512) chosen = avx512();
  if (!chosen && (level == SimdLevel::kAvx512 || level == SimdLevel::kAvx2)) chosen = avx2();
  return chosen ? *chosen : *portable();
}

}  // namespace sluice

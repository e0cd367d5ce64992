// murmur3's 64-bit finaliser: every input bit flips each output bit with probability ≈ 1/2 (used to spread
// hashes: HyperLogLog's register index and rank, the content hash's final lanes).
#pragma once
#include <cstdint>

namespace sluice {

constexpr uint64_t Murmur3Finalize(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace sluice

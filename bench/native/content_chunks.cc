// Content-defined chunking and hashing speed (native/core/base/content_chunks.h) next to memcpy of the same
// bytes: GB/s over 64 MiB of random bytes, best of 5, for the default chunk sizes and 2/8/64 KiB.
//   g++ -O3 -std=c++17 -Inative/core bench/native/content_chunks.cc native/core/base/content_chunks.cc \
//     native/core/base/snapshot.cc -o /tmp/content_chunks && /tmp/content_chunks
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/content_chunks.h"
#include "base/snapshot.h"

namespace {

template <typename F>
double BestGbPerSecond(size_t bytes, F&& run) {
  double best = 0;
  for (int trial = 0; trial < 5; ++trial) {
    const auto start = std::chrono::steady_clock::now();
    run();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(bytes) / seconds / 1e9);
  }
  return best;
}

}  // namespace

int main() {
  const size_t size = size_t{64} << 20;
  std::vector<uint8_t> data(size);
  uint64_t state = 1;
  for (auto& b : data) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    b = static_cast<uint8_t>(state >> 56);
  }
  std::vector<uint8_t> copy(size);
  volatile uint64_t sink = 0;
  const double memcpyRate = BestGbPerSecond(size, [&] { std::memcpy(copy.data(), data.data(), size); sink = sink + copy[size / 2]; });
  const double hashRate = BestGbPerSecond(size, [&] { sink = sink + sluice::HashContent(data.data(), size).low; });
  const double crcRate = BestGbPerSecond(size, [&] { sink = sink + sluice::Crc32(data.data(), size); });
  std::printf("memcpy                      %6.2f GB/s\n", memcpyRate);
  std::printf("HashContent (128-bit)       %6.2f GB/s  (%.2fx memcpy)\n", hashRate, hashRate / memcpyRate);
  std::printf("Crc32 (snapshot envelope)   %6.2f GB/s  (%.2fx memcpy)\n", crcRate, crcRate / memcpyRate);
  for (const sluice::ChunkingOptions options : {sluice::ChunkingOptions{}, sluice::ChunkingOptions{2048, 8192, 65536}}) {
    size_t chunks = 0;
    const double rate = BestGbPerSecond(size, [&] { chunks = sluice::CutChunks(data.data(), size, options).lengths.size(); });
    std::printf("CutChunks %zu/%zu/%zu (cut + hash) %6.2f GB/s  (%.2fx memcpy), %zu chunks, mean %.0f B\n", options.minSize, options.averageSize,
                options.maxSize, rate, rate / memcpyRate, chunks, static_cast<double>(size) / static_cast<double>(chunks));
  }
  return static_cast<int>(sink & 0);
}

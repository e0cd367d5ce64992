#include "base/content_chunks.h"

#include <cstring>
#include <string>

#include "base/error.h"
#include "base/mix.h"

namespace sluice {
namespace {

constexpr uint64_t RotateLeft(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t ReadLittleEndian64(const uint8_t* p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t value;
  std::memcpy(&value, p, sizeof value);  // one unaligned load
  return value;
#else
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
#endif
}

// 256 pseudo-random words from splitmix64: fixed forever (see the header), computed at compile time.
constexpr std::array<uint64_t, 256> MakeGearTable() {
  std::array<uint64_t, 256> table{};
  uint64_t state = 0x5157c3d1ce5eedULL;
  for (auto& word : table) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    word = z ^ (z >> 31);
  }
  return table;
}
constexpr std::array<uint64_t, 256> kGear = MakeGearTable();

int Log2(size_t power_of_two) {
  int bits = 0;
  while ((size_t{1} << bits) < power_of_two) ++bits;
  return bits;
}

// A cut pattern of `bits` one-bits at the top of the word: the top bits of the gear hash depend on the
// last 64 bytes, the low ones on only the last few.
uint64_t TopBitsMask(int bits) { return bits <= 0 ? 0 : ~uint64_t{0} << (64 - bits); }

}  // namespace

ContentHash HashContent(const uint8_t* data, size_t size) {
  constexpr uint64_t c1 = 0x87c37b91114253d5ULL;
  constexpr uint64_t c2 = 0x4cf5ad432745937fULL;
  uint64_t h1 = 0x736c756963650001ULL;  // a fixed seed ("sluice", 1)
  uint64_t h2 = h1;
  const size_t blocks = size / 16;
  for (size_t b = 0; b < blocks; ++b) {
    uint64_t k1 = ReadLittleEndian64(data + b * 16);
    uint64_t k2 = ReadLittleEndian64(data + b * 16 + 8);
    k1 *= c1; k1 = RotateLeft(k1, 31); k1 *= c2; h1 ^= k1;
    h1 = RotateLeft(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
    k2 *= c2; k2 = RotateLeft(k2, 33); k2 *= c1; h2 ^= k2;
    h2 = RotateLeft(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
  }
  const uint8_t* tail = data + blocks * 16;
  const size_t rest = size & 15;
  uint64_t k1 = 0;
  uint64_t k2 = 0;
  for (size_t i = rest; i > 8; --i) k2 = (k2 << 8) | tail[i - 1];
  for (size_t i = rest < 8 ? rest : 8; i > 0; --i) k1 = (k1 << 8) | tail[i - 1];
  if (rest > 8) { k2 *= c2; k2 = RotateLeft(k2, 33); k2 *= c1; h2 ^= k2; }
  if (rest > 0) { k1 *= c1; k1 = RotateLeft(k1, 31); k1 *= c2; h1 ^= k1; }
  h1 ^= static_cast<uint64_t>(size);
  h2 ^= static_cast<uint64_t>(size);
  h1 += h2;
  h2 += h1;
  h1 = Murmur3Finalize(h1);
  h2 = Murmur3Finalize(h2);
  h1 += h2;
  h2 += h1;
  return {h1, h2};
}

void CheckChunkingOptions(const ChunkingOptions& o) {
  const bool power_of_two = o.averageSize != 0 && (o.averageSize & (o.averageSize - 1)) == 0;
  if (!power_of_two || o.minSize < kMinChunkBound || o.minSize >= o.averageSize || o.averageSize >= o.maxSize || o.maxSize > kMaxChunkBound) {
    Fail(codes::kOutOfRange, "chunk sizes need " + std::to_string(kMinChunkBound) + " <= minSize < averageSize < maxSize <= " +
                                 std::to_string(kMaxChunkBound) + " with averageSize a power of two");
  }
}

size_t NextChunkBoundary(const uint8_t* data, size_t size, const ChunkingOptions& o) {
  const size_t end = size < o.maxSize ? size : o.maxSize;
  if (end <= o.minSize) return end;
  // Normalised chunking (FastCDC's level 2): two bits harder than the average's pattern before it, two easier after.
  const int bits = Log2(o.averageSize);
  const uint64_t hard = TopBitsMask(bits + 2);
  const uint64_t easy = TopBitsMask(bits - 2);
  const size_t middle = o.averageSize < end ? o.averageSize : end;
  uint64_t hash = 0;
  size_t i = o.minSize;
  for (; i < middle; ++i) {
    hash = (hash << 1) + kGear[data[i]];
    if ((hash & hard) == 0) return i + 1;
  }
  for (; i < end; ++i) {
    hash = (hash << 1) + kGear[data[i]];
    if ((hash & easy) == 0) return i + 1;
  }
  return end;
}

Chunks CutChunks(const uint8_t* data, size_t size, const ChunkingOptions& options) {
  CheckChunkingOptions(options);
  Chunks chunks;
  chunks.lengths.reserve(size / options.averageSize + 1);
  chunks.hashes.reserve(size / options.averageSize + 1);
  size_t start = 0;
  while (start < size) {
    const size_t length = NextChunkBoundary(data + start, size - start, options);
    chunks.lengths.push_back(static_cast<uint32_t>(length));
    chunks.hashes.push_back(HashContent(data + start, length));
    start += length;
  }
  return chunks;
}

std::vector<ContentHash> HashChunks(const uint8_t* data, size_t size, const uint32_t* lengths, size_t count) {
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += lengths[i];
  Require(total == size, codes::kInvalidLength, "chunk lengths must add up to the length of the bytes");
  std::vector<ContentHash> hashes(count);
  for (size_t i = 0, start = 0; i < count; start += lengths[i], ++i) hashes[i] = HashContent(data + start, lengths[i]);
  return hashes;
}

}  // namespace sluice

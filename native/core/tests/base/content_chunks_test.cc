#include "tests/check.h"
#include "base/content_chunks.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

using namespace sluice;

namespace {

std::vector<uint8_t> RandomBytes(size_t size, uint64_t seed) {
  std::vector<uint8_t> bytes(size);
  for (auto& b : bytes) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    b = static_cast<uint8_t>(seed >> 56);
  }
  return bytes;
}

std::set<std::pair<uint64_t, uint64_t>> HashSet(const Chunks& chunks) {
  std::set<std::pair<uint64_t, uint64_t>> set;
  for (const ContentHash& h : chunks.hashes) set.insert({h.low, h.high});
  return set;
}

}  // namespace

SLUICE_TEST(content_chunks_cover_the_input_within_their_bounds) {
  const ChunkingOptions options;
  for (size_t size : {size_t{0}, size_t{1}, size_t{2047}, size_t{2048}, size_t{70000}, size_t{1} << 20}) {
    const std::vector<uint8_t> bytes = RandomBytes(size, size + 1);
    const Chunks chunks = CutChunks(bytes.data(), bytes.size(), options);
    CHECK_EQ(chunks.lengths.size(), chunks.hashes.size());
    size_t total = 0;
    size_t start = 0;
    for (size_t i = 0; i < chunks.lengths.size(); ++i) {
      const size_t length = chunks.lengths[i];
      CHECK(length <= options.maxSize);
      if (i + 1 < chunks.lengths.size()) CHECK(length >= options.minSize);
      CHECK(chunks.hashes[i] == HashContent(bytes.data() + start, length));
      start += length;
      total += length;
    }
    CHECK_EQ(total, size);
    const std::vector<ContentHash> again = HashChunks(bytes.data(), bytes.size(), chunks.lengths.data(), chunks.lengths.size());
    CHECK(again == chunks.hashes);
    if (size == (size_t{1} << 20)) {
      // Random input: the average chunk is near averageSize (normalised chunking keeps it close).
      const double average = static_cast<double>(size) / static_cast<double>(chunks.lengths.size());
      CHECK(average > 0.6 * options.averageSize && average < 2.0 * options.averageSize);
    }
  }
}

SLUICE_TEST(content_chunks_are_cut_at_forced_points_in_constant_input) {
  const std::vector<uint8_t> zeros(300000, 0);
  const ChunkingOptions options;
  const Chunks chunks = CutChunks(zeros.data(), zeros.size(), options);
  // The gear hash of a run of zeros settles on one value that matches no pattern: every cut is at maxSize.
  CHECK(chunks.lengths.size() > 2);
  for (size_t i = 0; i + 1 < chunks.lengths.size(); ++i) CHECK_EQ(chunks.lengths[i], static_cast<uint32_t>(options.maxSize));
  CHECK_EQ(HashSet(chunks).size(), size_t{2});  // the full chunks share one hash, the last differs
}

SLUICE_TEST(content_chunk_boundaries_survive_an_insertion_and_an_edit) {
  const ChunkingOptions options;
  const std::vector<uint8_t> original = RandomBytes(size_t{1} << 20, 7);
  std::vector<uint8_t> edited = original;
  const std::vector<uint8_t> inserted = RandomBytes(100, 8);
  edited.insert(edited.begin() + 300000, inserted.begin(), inserted.end());
  edited[800000] ^= 0xff;
  const Chunks a = CutChunks(original.data(), original.size(), options);
  const Chunks b = CutChunks(edited.data(), edited.size(), options);
  const auto ha = HashSet(a);
  size_t shared = 0;
  for (const ContentHash& h : b.hashes) shared += ha.count({h.low, h.high});
  // Two local edits change a few chunks around each; all the others keep their bytes (fixed-size blocks
  // would all shift after the insertion).
  CHECK(shared + 8 >= b.hashes.size());
  CHECK(shared < b.hashes.size());
}

SLUICE_TEST(content_hash_sees_every_bit_and_the_length) {
  std::set<std::pair<uint64_t, uint64_t>> seen;
  for (size_t size = 0; size <= 40; ++size) {
    std::vector<uint8_t> bytes(size, 0);
    const ContentHash zero = HashContent(bytes.data(), size);
    CHECK(seen.insert({zero.low, zero.high}).second);  // zero-filled inputs of different lengths differ
    for (size_t i = 0; i < size * 8; ++i) {
      bytes[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
      const ContentHash flipped = HashContent(bytes.data(), size);
      CHECK(!(flipped == zero));
      CHECK(flipped.low != zero.low && flipped.high != zero.high);
      bytes[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
    }
  }
  // The hash reads unaligned memory the same as aligned.
  const std::vector<uint8_t> bytes = RandomBytes(1001, 3);
  std::vector<uint8_t> shifted(bytes.size() + 3);
  std::copy(bytes.begin(), bytes.end(), shifted.begin() + 3);
  CHECK(HashContent(bytes.data(), bytes.size()) == HashContent(shifted.data() + 3, bytes.size()));
}

SLUICE_TEST(hash_chunks_needs_lengths_that_cover_the_bytes) {
  const std::vector<uint8_t> bytes(100, 1);
  const uint32_t lengths[] = {40, 50};
  CHECK_THROWS_CODE(HashChunks(bytes.data(), bytes.size(), lengths, 2), codes::kInvalidLength);
  const uint32_t huge[] = {0xffffffffu, 0xffffffffu, 102};
  CHECK_THROWS_CODE(HashChunks(bytes.data(), bytes.size(), huge, 3), codes::kInvalidLength);
}

SLUICE_TEST(content_chunk_options_are_checked) {
  const std::vector<uint8_t> bytes(10, 1);
  auto cut = [&](size_t min, size_t average, size_t max) { CutChunks(bytes.data(), bytes.size(), ChunkingOptions{min, average, max}); };
  cut(64, 128, 129);
  CHECK_THROWS_CODE(cut(63, 128, 256), codes::kOutOfRange);
  CHECK_THROWS_CODE(cut(128, 128, 256), codes::kOutOfRange);
  CHECK_THROWS_CODE(cut(64, 96, 256), codes::kOutOfRange);
  CHECK_THROWS_CODE(cut(64, 128, 128), codes::kOutOfRange);
  CHECK_THROWS_CODE(cut(64, 128, (size_t{1} << 24) + 1), codes::kOutOfRange);
}

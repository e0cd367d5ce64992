// Content-defined chunking and a 128-bit content hash, for incremental checkpoints (lib/kafka/
// incremental_store.ts): a snapshot is cut where a rolling hash of its last bytes hits a pattern, so an
// edit moves only the boundaries near it and the chunks elsewhere keep their bytes and their hashes; a store
// then writes only the chunks it has not stored yet (as Flink's RocksDB incremental checkpoints upload only
// new SST files).
//
// Chunking follows FastCDC (Xia et al., USENIX ATC 2016): a gear rolling hash (hash = (hash << 1) + gear[byte],
// so bit k depends on the last k + 1 bytes), no cut before `minSize`, a harder pattern before `averageSize`
// and an easier one after it (chunk sizes cluster around the average), and a forced cut at `maxSize`.
// The gear table and the patterns are part of the stored format only in that changing them costs one full
// upload of every chunk: restores never depend on where the cuts fall.
//
// The hash is MurmurHash3's x64 128-bit construction (public domain; written here from its description), with
// the length folded in: not cryptographic, but with 2^128 values an accidental collision among the chunks of
// one checkpoint chain is out of reach, and the whole snapshot's hash is checked again after reassembly.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

struct ContentHash {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const ContentHash& other) const { return low == other.low && high == other.high; }
};

ContentHash HashContent(const uint8_t* data, size_t size);

struct ChunkingOptions {
  // Small chunks by default: a checkpoint's changes are scattered over the snapshot (one slot per touched key),
  // and a chunk is stored again when any byte of it changed; the manifest costs 20 bytes a chunk (2 % here).
  size_t minSize = 256;
  size_t averageSize = 1024;  // a power of two
  size_t maxSize = 8 * 1024;
};

// Bounds the options may take: averageSize a power of two, kMinChunkBound ≤ minSize < averageSize < maxSize ≤
// kMaxChunkBound. ERR_OUT_OF_RANGE otherwise.
inline constexpr size_t kMinChunkBound = 64;
inline constexpr size_t kMaxChunkBound = size_t{1} << 24;
void CheckChunkingOptions(const ChunkingOptions& options);

// The chunks' lengths, in order (they sum to `size`; the last may be shorter than minSize), and their hashes.
struct Chunks {
  std::vector<uint32_t> lengths;
  std::vector<ContentHash> hashes;
};

Chunks CutChunks(const uint8_t* data, size_t size, const ChunkingOptions& options);

// The hashes of data cut at the given lengths (a restore checks reassembled chunks against their manifest).
// ERR_INVALID_LENGTH unless the lengths sum to `size`.
std::vector<ContentHash> HashChunks(const uint8_t* data, size_t size, const uint32_t* lengths, size_t count);

// Where the first chunk of data[0, size) ends (size itself when no cut point comes before maxSize).
size_t NextChunkBoundary(const uint8_t* data, size_t size, const ChunkingOptions& options);

}  // namespace sluice

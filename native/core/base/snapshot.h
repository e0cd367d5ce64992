// The one envelope of every snapshot()/restore() in sluice, the native classes' and those whose payload
// TypeScript writes (the pipeline's, the Kafka partition's, through native/addon/snapshot_envelope_binding.cc):
// versioned and checksummed, read with every length checked, so a truncated or corrupted snapshot is
// ERR_MALFORMED_DATA and an intact one of another format version ERR_NOT_SUPPORTED, never a crash.
//
// Layout (little-endian): "SLCE" | u16 format version | u16 kind | u64 payload length | payload | u32 CRC-32
// of everything before it. That frame never changes; kSnapshotFormatVersion numbers the payload layouts
// of all kinds together: bump it when any kind's payload changes. Readers accept the versions from
// kOldestSnapshotFormatVersion on (a kind whose payload changed reads each layout by version()) and refuse
// the others.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "base/span.h"

namespace sluice {

// What a snapshot holds; restore() refuses another kind's bytes. The numbers are stored in snapshots:
// never renumber a kind or reuse a retired number (2, kTimeWindows, is retired).
enum class SnapshotKind : uint16_t {
  kSlidingWindow = 1,
  kEventTimeWindows = 3,
  kWatermarkTracker = 4,
  kLstmState = 5,
  kPipeline = 6,
  kKafkaPartition = 7,
  kKeyDictionary = 8,
  kKeyedPipeline = 9,  // a pipeline's snapshot and its key dictionary's (lib/pipeline)
  kEventTimeWindowsDelta = 10,  // an incremental checkpoint of EventTimeWindows (the keys changed since the last)
  kPipelineDelta = 11,          // an incremental checkpoint of a Pipeline (its windows' delta and the changed keys' rows state)
};

// The kind's name in JavaScript and in error messages ("sliding-window", "pipeline", …), one table for both.
const char* SnapshotKindName(SnapshotKind kind);
std::optional<SnapshotKind> SnapshotKindFromName(std::string_view name);

// 2: sliding-window payloads carry the quantiles' q (after the aggregates); every other payload is as in 1.
inline constexpr uint16_t kSnapshotFormatVersion = 2;
inline constexpr uint16_t kOldestSnapshotFormatVersion = 1;

uint32_t Crc32(const uint8_t* data, size_t size);
// The CRC a sealed envelope ends with (its last 4 bytes; 0 for fewer): what identifies a checkpoint in a chain.
uint32_t EnvelopeCrc(Span<const uint8_t> bytes);

class SnapshotWriter {
 public:
  explicit SnapshotWriter(SnapshotKind kind);

  template <typename T>
  void Put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    PutBytes(&value, sizeof(T));
  }
  template <typename T>
  void PutArray(const T* values, size_t count) {
    static_assert(std::is_trivially_copyable_v<T>);
    Put<uint64_t>(count);
    PutBytes(values, sizeof(T) * count);
  }
  template <typename T>
  void PutVector(const std::vector<T>& values) { PutArray(values.data(), values.size()); }

  void PutBytes(const void* data, size_t size);

  // Completes the header and appends the checksum.
  std::vector<uint8_t> Finish();

 private:
  std::vector<uint8_t> bytes_;
};

// ERR_MALFORMED_DATA "snapshot field <field> is out of range" unless `ok`: the one message of a field that
// fails its invariant (SnapshotReader::GetField, and checks that relate several fields).
void CheckField(bool ok, const char* field);
void CheckField(bool ok, const std::string& field);

// Invariants many fields share.
// A count of events or rows kept as a double: a finite non-negative integer. (Past 2^53 a double no longer
// counts exactly, but a live object that got there keeps counting, and its snapshot must restore.)
inline bool IsCount(double x) { return x >= 0 && std::isfinite(x) && x == std::floor(x); }

class SnapshotReader {
 public:
  // Checks magic, length and checksum (ERR_MALFORMED_DATA), then the format version (ERR_NOT_SUPPORTED)
  // and the kind (ERR_MALFORMED_DATA), up front.
  SnapshotReader(Span<const uint8_t> bytes, SnapshotKind expectedKind);

  template <typename T>
  T Get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    GetBytes(&value, sizeof(T));
    return value;
  }
  // Reads an array written by PutArray; its element count must be `expectedCount`.
  template <typename T>
  void GetArray(T* out, size_t expectedCount) {
    const uint64_t count = Get<uint64_t>();
    Require(count == expectedCount, codes::kMalformedData, "snapshot array has the wrong length");
    GetBytes(out, sizeof(T) * count);
  }
  // Reads an array written by PutArray/PutVector, of at most `maxCount` elements.
  template <typename T>
  std::vector<T> GetVector(size_t maxCount) {
    const uint64_t count = Get<uint64_t>();
    Require(count <= maxCount && count <= Remaining() / sizeof(T), codes::kMalformedData,
            "snapshot array length out of range");
    std::vector<T> values(count);
    GetBytes(values.data(), sizeof(T) * count);
    return values;
  }
  // A field and its invariant: reads it, then `valid(value)` must hold, else ERR_MALFORMED_DATA naming
  // `field`. A CRC-valid snapshot may still carry impossible values (a hand-edited or forged one): every
  // restore checks each field against the options and its invariants before anything changes.
  template <typename T, typename Valid>
  T GetField(const char* field, Valid valid) {
    const T value = Get<T>();
    CheckField(valid(value), field);
    return value;
  }
  size_t Remaining() const { return end_ - position_; }
  // The format version the snapshot was written in (kOldestSnapshotFormatVersion … kSnapshotFormatVersion).
  uint16_t version() const { return version_; }
  // The payload bytes not read yet, in place (a payload whose format is not the reader's, e.g. JSON).
  Span<const uint8_t> Rest() const { return Span<const uint8_t>(position_, Remaining()); }
  // Throws unless every payload byte was read.
  void ExpectEnd() const;
  void GetBytes(void* out, size_t size);  // size bytes, or ERR_MALFORMED_DATA when fewer remain

 private:
  const uint8_t* position_;
  const uint8_t* end_;
  uint16_t version_;
};

}  // namespace sluice

// The byte format of every snapshot()/restore(): versioned and checksummed, read with every length
// checked, so a truncated or corrupted snapshot is ERR_MALFORMED_DATA, never a crash.
//
// Layout (little-endian): "SLCE" | u16 format version | u16 kind | u64 payload length | payload | u32 CRC-32
// of everything before it.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "base/span.h"

namespace sluice {

// What a snapshot holds; restore() refuses another kind's bytes.
enum class SnapshotKind : uint16_t {
  kSlidingWindow = 1,
  kTimeWindows = 2,
  kEventTimeWindows = 3,
  kWatermarkTracker = 4,
  kLstmState = 5,
};

inline constexpr uint16_t kSnapshotFormatVersion = 1;

uint32_t Crc32(const uint8_t* data, size_t size);

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

  // Completes the header and appends the checksum.
  std::vector<uint8_t> Finish();

 private:
  void PutBytes(const void* data, size_t size);
  std::vector<uint8_t> bytes_;
};

class SnapshotReader {
 public:
  // Checks magic, version, kind, length and checksum up front (ERR_MALFORMED_DATA).
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
  size_t Remaining() const { return end_ - position_; }
  // Throws unless every payload byte was read.
  void ExpectEnd() const;

 private:
  void GetBytes(void* out, size_t size);
  const uint8_t* position_;
  const uint8_t* end_;
};

}  // namespace sluice

#include "base/snapshot.h"

#include <array>

namespace sluice {

namespace {

constexpr char kMagic[4] = {'S', 'L', 'C', 'E'};
constexpr size_t kHeaderSize = 4 + 2 + 2 + 8;
constexpr size_t kTrailerSize = 4;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

struct NamedKind {
  SnapshotKind kind;
  const char* name;
};
constexpr NamedKind kKindNames[] = {
    {SnapshotKind::kSlidingWindow, "sliding-window"},
    {SnapshotKind::kEventTimeWindows, "event-time-windows"},
    {SnapshotKind::kWatermarkTracker, "watermark-tracker"},
    {SnapshotKind::kLstmState, "lstm-state"},
    {SnapshotKind::kPipeline, "pipeline"},
    {SnapshotKind::kKafkaPartition, "kafka-partition"},
    {SnapshotKind::kKeyDictionary, "key-dictionary"},
    {SnapshotKind::kKeyedPipeline, "keyed-pipeline"},
    {SnapshotKind::kEventTimeWindowsDelta, "event-time-windows-delta"},
    {SnapshotKind::kPipelineDelta, "pipeline-delta"},
};

const NamedKind* FindKind(uint16_t kind) {
  for (const NamedKind& k : kKindNames) {
    if (static_cast<uint16_t>(k.kind) == kind) return &k;
  }
  return nullptr;
}

// The stored kind as words for an error message, also when it is no kind this build knows.
std::string DescribeKind(uint16_t kind) {
  const NamedKind* named = FindKind(kind);
  return named ? named->name : "unknown kind " + std::to_string(kind);
}

}  // namespace

uint32_t EnvelopeCrc(Span<const uint8_t> bytes) {
  if (bytes.size < 4) return 0;
  const uint8_t* p = bytes.data + bytes.size - 4;
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

const char* SnapshotKindName(SnapshotKind kind) {
  const NamedKind* named = FindKind(static_cast<uint16_t>(kind));
  return named ? named->name : "unknown";
}

std::optional<SnapshotKind> SnapshotKindFromName(std::string_view name) {
  for (const NamedKind& k : kKindNames) {
    if (name == k.name) return k.kind;
  }
  return std::nullopt;
}

uint32_t Crc32(const uint8_t* data, size_t size) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

SnapshotWriter::SnapshotWriter(SnapshotKind kind) {
  PutBytes(kMagic, 4);
  Put<uint16_t>(kSnapshotFormatVersion);
  Put<uint16_t>(static_cast<uint16_t>(kind));
  Put<uint64_t>(0);  // payload length, filled by Finish()
}

void SnapshotWriter::PutBytes(const void* data, size_t size) {
  if (size == 0) return;
  const auto* p = static_cast<const uint8_t*>(data);
  bytes_.insert(bytes_.end(), p, p + size);
}

std::vector<uint8_t> SnapshotWriter::Finish() {
  const uint64_t payload = bytes_.size() - kHeaderSize;
  std::memcpy(bytes_.data() + 8, &payload, sizeof(payload));
  const uint32_t crc = Crc32(bytes_.data(), bytes_.size());
  PutBytes(&crc, sizeof(crc));
  return std::move(bytes_);
}

SnapshotReader::SnapshotReader(Span<const uint8_t> bytes, SnapshotKind expectedKind) {
  Require(bytes.size >= kHeaderSize + kTrailerSize, codes::kMalformedData,
          "snapshot is truncated (shorter than the envelope's header and checksum)");
  Require(std::memcmp(bytes.data, kMagic, 4) == 0, codes::kMalformedData, "not a sluice snapshot");
  uint16_t version, kind;
  uint64_t payload;
  uint32_t stored;
  std::memcpy(&version, bytes.data + 4, 2);
  std::memcpy(&kind, bytes.data + 6, 2);
  std::memcpy(&payload, bytes.data + 8, 8);
  std::memcpy(&stored, bytes.data + bytes.size - kTrailerSize, 4);
  // The frame (where magic, version, kind, length and checksum stand) is the same in every format version,
  // so damaged bytes are ERR_MALFORMED_DATA whatever their version field says; only intact bytes of another
  // version are ERR_NOT_SUPPORTED.
  Require(payload == bytes.size - kHeaderSize - kTrailerSize, codes::kMalformedData, "snapshot length does not match");
  Require(stored == Crc32(bytes.data, bytes.size - kTrailerSize), codes::kMalformedData, "snapshot checksum mismatch");
  if (version < kOldestSnapshotFormatVersion || version > kSnapshotFormatVersion) {
    Fail(codes::kNotSupported, "snapshot format version " + std::to_string(version) +
                                   " is not supported (this build reads versions " +
                                   std::to_string(kOldestSnapshotFormatVersion) + " to " +
                                   std::to_string(kSnapshotFormatVersion) + ")");
  }
  version_ = version;
  if (kind != static_cast<uint16_t>(expectedKind)) {
    Fail(codes::kMalformedData, "snapshot is of another kind of object: " + DescribeKind(kind) + ", expected " +
                                    SnapshotKindName(expectedKind));
  }
  position_ = bytes.data + kHeaderSize;
  end_ = bytes.data + bytes.size - kTrailerSize;
}

void SnapshotReader::GetBytes(void* out, size_t size) {
  Require(size <= Remaining(), codes::kMalformedData, "snapshot is truncated");
  if (size == 0) return;
  std::memcpy(out, position_, size);
  position_ += size;
}

void CheckField(bool ok, const char* field) {
  if (!ok) Fail(codes::kMalformedData, std::string("snapshot field ") + field + " is out of range");
}
void CheckField(bool ok, const std::string& field) { CheckField(ok, field.c_str()); }

void SnapshotReader::ExpectEnd() const {
  Require(Remaining() == 0, codes::kMalformedData, "snapshot has trailing bytes");
}

}  // namespace sluice

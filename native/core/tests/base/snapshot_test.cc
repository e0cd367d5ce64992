#include "tests/check.h"
#include "base/snapshot.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

using namespace sluice;

SLUICE_TEST(snapshot_round_trip) {
  SnapshotWriter writer(SnapshotKind::kSlidingWindow);
  writer.Put<uint32_t>(42);
  writer.Put<double>(-1.5);
  writer.PutVector(std::vector<float>{1, 2, 3});
  const std::vector<uint8_t> bytes = writer.Finish();
  SnapshotReader reader(Span<const uint8_t>(bytes.data(), bytes.size()), SnapshotKind::kSlidingWindow);
  CHECK_EQ(reader.Get<uint32_t>(), 42u);
  CHECK_EQ(reader.Get<double>(), -1.5);
  const std::vector<float> v = reader.GetVector<float>(10);
  CHECK_EQ(v.size(), size_t{3});
  CHECK_EQ(v[2], 3.0f);
  reader.ExpectEnd();
}

SLUICE_TEST(snapshot_rejects_corruption_truncation_and_wrong_kind) {
  SnapshotWriter writer(SnapshotKind::kEventTimeWindows);
  writer.PutVector(std::vector<double>(100, 1.0));
  const std::vector<uint8_t> bytes = writer.Finish();
  auto read = [&](std::vector<uint8_t> b, SnapshotKind kind) {
    SnapshotReader reader(Span<const uint8_t>(b.data(), b.size()), kind);
    reader.GetVector<double>(1000);
    reader.ExpectEnd();
  };
  read(bytes, SnapshotKind::kEventTimeWindows);
  CHECK_THROWS_CODE(read(bytes, SnapshotKind::kLstmState), codes::kMalformedData);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{19}, bytes.size() - 1}) {
    CHECK_THROWS_CODE(read(std::vector<uint8_t>(bytes.begin(), bytes.begin() + cut), SnapshotKind::kEventTimeWindows), codes::kMalformedData);
  }
  for (size_t i = 0; i < bytes.size(); i += 7) {
    std::vector<uint8_t> flipped = bytes;
    flipped[i] ^= 0x20;
    CHECK_THROWS_CODE(read(flipped, SnapshotKind::kEventTimeWindows), codes::kMalformedData);
  }
}

SLUICE_TEST(snapshot_reader_refuses_oversized_arrays) {
  SnapshotWriter writer(SnapshotKind::kEventTimeWindows);
  writer.Put<uint64_t>(1ull << 60);  // a forged element count with no data behind it
  const std::vector<uint8_t> bytes = writer.Finish();
  SnapshotReader reader(Span<const uint8_t>(bytes.data(), bytes.size()), SnapshotKind::kEventTimeWindows);
  CHECK_THROWS_CODE(reader.GetVector<double>(size_t{1} << 62), codes::kMalformedData);
}

SLUICE_TEST(snapshot_kinds_keep_their_stored_numbers_and_names) {
  // The numbers are in every stored snapshot: a renumbered kind would refuse (or misread) old bytes.
  const std::pair<SnapshotKind, uint16_t> stored[] = {
      {SnapshotKind::kSlidingWindow, 1}, {SnapshotKind::kEventTimeWindows, 3}, {SnapshotKind::kWatermarkTracker, 4},
      {SnapshotKind::kLstmState, 5},     {SnapshotKind::kPipeline, 6},         {SnapshotKind::kKafkaPartition, 7},
  };
  for (const auto& [kind, number] : stored) {
    CHECK_EQ(static_cast<uint16_t>(kind), number);
    const std::vector<uint8_t> bytes = SnapshotWriter(kind).Finish();
    CHECK_EQ(bytes[6] | bytes[7] << 8, int{number});
    CHECK(SnapshotKindFromName(SnapshotKindName(kind)) == kind);
  }
  CHECK_EQ(std::string(SnapshotKindName(SnapshotKind::kPipeline)), std::string("pipeline"));
  CHECK_EQ(std::string(SnapshotKindName(SnapshotKind::kKafkaPartition)), std::string("kafka-partition"));
  CHECK(!SnapshotKindFromName("time-windows").has_value());
  CHECK(!SnapshotKindFromName("").has_value());
}

SLUICE_TEST(snapshot_of_another_kind_is_refused_naming_both_kinds) {
  SnapshotWriter writer(SnapshotKind::kPipeline);
  writer.Put<uint32_t>(7);
  const std::vector<uint8_t> bytes = writer.Finish();
  try {
    SnapshotReader reader(Span<const uint8_t>(bytes.data(), bytes.size()), SnapshotKind::kKafkaPartition);
    CHECK(false);
  } catch (const CoreError& e) {
    CHECK_EQ(std::string(e.code()), std::string(codes::kMalformedData));
    CHECK_EQ(std::string(e.what()), std::string("snapshot is of another kind of object: pipeline, expected kafka-partition"));
  }
}

SLUICE_TEST(snapshot_of_another_format_version_is_not_supported) {
  std::vector<uint8_t> bytes = SnapshotWriter(SnapshotKind::kPipeline).Finish();
  bytes[4] = kSnapshotFormatVersion + 1;
  const uint32_t crc = Crc32(bytes.data(), bytes.size() - 4);  // a well-formed snapshot of a later format
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  CHECK_THROWS_CODE(SnapshotReader(Span<const uint8_t>(bytes.data(), bytes.size()), SnapshotKind::kPipeline),
                    codes::kNotSupported);
}

SLUICE_TEST(snapshot_reader_rest_is_the_unread_payload_in_place) {
  SnapshotWriter writer(SnapshotKind::kKafkaPartition);
  const uint8_t payload[] = {9, 8, 7, 6};
  writer.PutBytes(payload, sizeof(payload));
  const std::vector<uint8_t> bytes = writer.Finish();
  CHECK_EQ(bytes.size(), size_t{16 + 4 + 4});
  SnapshotReader reader(Span<const uint8_t>(bytes.data(), bytes.size()), SnapshotKind::kKafkaPartition);
  CHECK_EQ(int{reader.Get<uint8_t>()}, 9);
  const Span<const uint8_t> rest = reader.Rest();
  CHECK(rest.data == bytes.data() + 17);
  CHECK_EQ(rest.size, size_t{3});
  CHECK_EQ(int{rest[2]}, 6);
}

SLUICE_TEST(snapshot_get_field_checks_the_invariant_and_names_the_field) {
  SnapshotWriter writer(SnapshotKind::kSlidingWindow);
  writer.Put<int64_t>(7);
  writer.Put<double>(-2.0);
  const std::vector<uint8_t> bytes = writer.Finish();
  SnapshotReader good(Span<const uint8_t>(bytes.data(), bytes.size()), SnapshotKind::kSlidingWindow);
  CHECK_EQ(good.GetField<int64_t>("rows", [](int64_t n) { return n >= 0; }), int64_t{7});
  SnapshotReader bad(Span<const uint8_t>(bytes.data(), bytes.size()), SnapshotKind::kSlidingWindow);
  bad.Get<int64_t>();
  std::string message;
  try {
    bad.GetField<double>("metrics.late", IsCount);
  } catch (const CoreError& error) {
    CHECK_EQ(std::string(error.code()), std::string(codes::kMalformedData));
    message = error.what();
  }
  CHECK_EQ(message, std::string("snapshot field metrics.late is out of range"));
  CHECK(IsCount(0) && IsCount(9007199254740993.0) && !IsCount(-1) && !IsCount(0.5) && !IsCount(std::nan("")) &&
        !IsCount(std::numeric_limits<double>::infinity()));
}

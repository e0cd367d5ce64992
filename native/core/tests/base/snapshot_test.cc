#include "tests/check.h"
#include "base/snapshot.h"

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
  SnapshotWriter writer(SnapshotKind::kTimeWindows);
  writer.PutVector(std::vector<double>(100, 1.0));
  const std::vector<uint8_t> bytes = writer.Finish();
  auto read = [&](std::vector<uint8_t> b, SnapshotKind kind) {
    SnapshotReader reader(Span<const uint8_t>(b.data(), b.size()), kind);
    reader.GetVector<double>(1000);
    reader.ExpectEnd();
  };
  read(bytes, SnapshotKind::kTimeWindows);
  CHECK_THROWS_CODE(read(bytes, SnapshotKind::kLstmState), codes::kMalformedData);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{19}, bytes.size() - 1}) {
    CHECK_THROWS_CODE(read(std::vector<uint8_t>(bytes.begin(), bytes.begin() + cut), SnapshotKind::kTimeWindows), codes::kMalformedData);
  }
  for (size_t i = 0; i < bytes.size(); i += 7) {
    std::vector<uint8_t> flipped = bytes;
    flipped[i] ^= 0x20;
    CHECK_THROWS_CODE(read(flipped, SnapshotKind::kTimeWindows), codes::kMalformedData);
  }
}

SLUICE_TEST(snapshot_reader_refuses_oversized_arrays) {
  SnapshotWriter writer(SnapshotKind::kTimeWindows);
  writer.Put<uint64_t>(1ull << 60);  // a forged element count with no data behind it
  const std::vector<uint8_t> bytes = writer.Finish();
  SnapshotReader reader(Span<const uint8_t>(bytes.data(), bytes.size()), SnapshotKind::kTimeWindows);
  CHECK_THROWS_CODE(reader.GetVector<double>(size_t{1} << 62), codes::kMalformedData);
}

// EventTimeWindows' incremental checkpoints under the sanitizers: windows A take a full snapshot now and then
// and a delta after every round; windows B are rebuilt from A's last full snapshot plus every delta since, at
// each round, and must write the same snapshot bytes as A (both canonical). Every window kind, 64-bit keys
// with keyTtl (keys expire and ids are reused), Two-Stacks, late events within and beyond allowedLateness.
// Then damaged deltas (every byte flipped in turn, truncations) are refused and leave B as it was.
#include <random>
#include <vector>

#include "base/snapshot.h"
#include "tests/check.h"
#include "windows/event_time_windows.h"

namespace {

using namespace sluice;

EventTimeWindowsOptions DeltaOptions(WindowKind kind, double size, double slide) {
  EventTimeWindowsOptions o;
  o.kind = kind;
  o.size = size;
  o.slide = slide;
  o.gap = size / 2;
  o.allowedLateness = 4;
  o.keyCount = 2;  // grows
  o.channels = 2;
  o.aggregates = {Aggregate::kCount, Aggregate::kSum, Aggregate::kMax, Aggregate::kLast};
  KeySpaceOptions keys;
  keys.kind = KeyKind::kUint64;
  keys.keyTtl = 3 * size;
  o.keySpace = keys;
  return o;
}

Span<const uint8_t> View(const std::vector<uint8_t>& bytes) { return Span<const uint8_t>(bytes.data(), bytes.size()); }

void Push(EventTimeWindows& w, std::mt19937& random, double t) {
  std::vector<double> ts, values;
  std::vector<uint64_t> words;
  for (int i = 0; i < 30; ++i) {
    ts.push_back(t + static_cast<double>(random() % 20) - 12);  // some late
    words.push_back(static_cast<uint64_t>(t / 10) + random() % 25);  // a drifting band: keys go idle, expire
    values.push_back(static_cast<double>(random() % 100));
    values.push_back(static_cast<double>(random() % 100));
  }
  KeyBatch batch;
  batch.words = Span<const uint64_t>(words.data(), words.size());
  std::vector<uint32_t> late(ts.size());
  w.PushKeys<double>(Span<const double>(ts.data(), ts.size()), batch, Span<const double>(values.data(), values.size()),
                     Span<uint32_t>(late.data(), late.size()));
}

void RunDeltaCase(WindowKind kind, double size, double slide, uint32_t seed) {
  // A checkpoints (full now and then, else deltas); its twin gets the same events and is the reference:
  // its Snapshot() may be taken at will (A's would start a new chain).
  std::mt19937 randomA(seed), randomTwin(seed);
  const EventTimeWindowsOptions options = DeltaOptions(kind, size, slide);
  EventTimeWindows a(options), twin(options);
  std::vector<uint8_t> full = a.Snapshot();
  std::vector<std::vector<uint8_t>> deltas;
  double t = 0;
  // A checkpoint after the pushes and the advance, or (every third round) between them: then late events'
  // pending updates are part of the state checkpointed.
  auto checkpoint = [&](int round) {
    if (round % 9 == 8) {
      full = a.Snapshot();
      deltas.clear();
    } else {
      deltas.push_back(a.SnapshotDelta());
      CHECK_EQ(a.changedKeys(), size_t{0});
    }
    EventTimeWindows b(options);
    b.Restore(View(full));
    for (const auto& delta : deltas) b.ApplyDelta(View(delta));
    CHECK(b.Snapshot() == twin.Snapshot());
  };
  for (int round = 0; round < 90; ++round) {
    Push(a, randomA, t);
    Push(twin, randomTwin, t);
    t += 7;
    if (round % 3 == 0) checkpoint(round);
    a.AdvanceWatermark(t - 8);
    twin.AdvanceWatermark(t - 8);
    if (round % 3 != 0) checkpoint(round);
  }
  CHECK(twin.keySpace()->expiredTotal() > 0);
}

SLUICE_TEST(EventTimeWindowsDeltaEqualsFullTumbling) { RunDeltaCase(WindowKind::kTumbling, 20, 20, 1); }
SLUICE_TEST(EventTimeWindowsDeltaEqualsFullSliding) { RunDeltaCase(WindowKind::kSliding, 30, 10, 2); }
SLUICE_TEST(EventTimeWindowsDeltaEqualsFullTwoStacks) { RunDeltaCase(WindowKind::kSliding, 60, 2, 3); }
SLUICE_TEST(EventTimeWindowsDeltaEqualsFullSessions) { RunDeltaCase(WindowKind::kSession, 20, 20, 4); }

// Keys interned without a push (ids beyond the windows' key capacity, no state) travel as dictionary entries.
SLUICE_TEST(EventTimeWindowsDeltaCarriesInternedKeysWithoutState) {
  const EventTimeWindowsOptions options = DeltaOptions(WindowKind::kTumbling, 20, 20);
  EventTimeWindows a(options);
  const std::vector<uint8_t> full = a.Snapshot();
  std::vector<uint64_t> words;
  for (uint64_t k = 0; k < 40; ++k) words.push_back(1000 + k);
  KeyBatch batch;
  batch.words = Span<const uint64_t>(words.data(), words.size());
  std::vector<uint32_t> ids(words.size());
  a.Intern(batch, Span<uint32_t>(ids.data(), ids.size()));
  CHECK(ids.back() >= a.options().keyCount);
  const std::vector<uint8_t> delta = a.SnapshotDelta();
  EventTimeWindows b(options);
  b.Restore(View(full));
  b.ApplyDelta(View(delta));
  CHECK(b.Snapshot() == a.Snapshot());
  CHECK_EQ(b.keySpace()->live(), words.size());
  // A full snapshot holds them too (latest event time NaN: no timer until their first event).
  EventTimeWindows c(options);
  c.Restore(View(a.Snapshot()));
  CHECK(c.Snapshot() == a.Snapshot());
}

SLUICE_TEST(EventTimeWindowsDamagedDeltasChangeNothing) {
  const EventTimeWindowsOptions options = DeltaOptions(WindowKind::kSliding, 30, 10);
  std::mt19937 random(9);
  EventTimeWindows a(options);
  Push(a, random, 0);
  a.AdvanceWatermark(-5);
  const std::vector<uint8_t> full = a.Snapshot();
  Push(a, random, 7);
  a.AdvanceWatermark(3);
  const std::vector<uint8_t> delta = a.SnapshotDelta();
  EventTimeWindows b(options);
  b.Restore(View(full));
  const std::vector<uint8_t> before = b.Snapshot();
  b.Restore(View(full));
  size_t refused = 0;
  for (size_t i = 0; i < delta.size(); ++i) {
    for (int resealed = 0; resealed < 2; ++resealed) {
      std::vector<uint8_t> damaged = delta;
      damaged[i] ^= static_cast<uint8_t>(1u << (i % 8));
      if (resealed) {  // the checksum made valid again: the fields' checks must hold the line
        const uint32_t crc = Crc32(damaged.data(), damaged.size() - 4);
        for (int k = 0; k < 4; ++k) damaged[damaged.size() - 4 + k] = static_cast<uint8_t>(crc >> (8 * k));
      }
      try {
        b.ApplyDelta(View(damaged));
      } catch (const CoreError&) {
        ++refused;
        CHECK(b.Snapshot() == before);  // nothing changed (and the chain restarts at the same bytes)
        continue;
      }
      b.Restore(View(full));  // an accepted damaged delta: back to the start
    }
  }
  CHECK(refused > delta.size());
  for (size_t n = 0; n < delta.size(); n += 7) {
    try {
      b.ApplyDelta(Span<const uint8_t>(delta.data(), n));
      CHECK(false);
    } catch (const CoreError&) {
    }
  }
  b.ApplyDelta(View(delta));
  CHECK(b.Snapshot() == a.Snapshot());
}

}  // namespace

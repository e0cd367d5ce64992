// EventTimeWindows with a key space, under the sanitizers: expire() of keys with open windows in every
// window kind (Two-Stacks included), growth, keyTtl and restores midway. Windows A and B get the same stream
// and the same expiries; A goes on from a snapshot of itself now and then. Both must fire the same windows
// for the same keys throughout (ids may differ; keys are compared), and an expired key's windows never fire.
#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

#include "tests/check.h"
#include "windows/event_time_windows.h"

namespace {

using namespace sluice;

using Row = std::tuple<double, uint64_t, double, double, double>;  // end, key word, start, count, sum

EventTimeWindowsOptions KeyedOptions(WindowKind kind, double size, double slide, double keyTtl) {
  EventTimeWindowsOptions o;
  o.kind = kind;
  o.size = size;
  o.slide = slide;
  o.gap = size;
  o.allowedLateness = 3;
  o.keyCount = 2;  // grows
  o.aggregates = {Aggregate::kCount, Aggregate::kSum};
  KeySpaceOptions keys;
  keys.kind = KeyKind::kUint64;
  keys.keyTtl = keyTtl;
  o.keySpace = keys;
  return o;
}

std::vector<Row> Rows(const EventTimeWindows& w) {
  std::vector<Row> rows;
  const FiredWindows& f = w.fired();
  for (size_t i = 0; i < f.size(); ++i) {
    rows.emplace_back(f.ends[i], w.keySpace()->dictionary().WordOf(f.keys[i]), f.starts[i], f.counts[i], f.values[i * 2 + 1]);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

void Push(EventTimeWindows& w, const std::vector<double>& ts, const std::vector<uint64_t>& words, const std::vector<double>& values) {
  KeyBatch batch;
  batch.words = Span<const uint64_t>(words.data(), words.size());
  std::vector<uint32_t> late(ts.size());
  w.PushKeys<double>(Span<const double>(ts.data(), ts.size()), batch, Span<const double>(values.data(), values.size()),
                     Span<uint32_t>(late.data(), late.size()));
}

void RunExpiryCase(WindowKind kind, double size, double slide, double keyTtl, uint32_t seed) {
  std::mt19937 random(seed);
  EventTimeWindows a(KeyedOptions(kind, size, slide, keyTtl)), b(KeyedOptions(kind, size, slide, keyTtl));
  double t = 0;
  for (int round = 0; round < 60; ++round) {
    std::vector<double> ts, values;
    std::vector<uint64_t> words;
    for (int i = 0; i < 40; ++i) {
      const uint64_t word = 1000 + random() % 50;
      const double at = t + static_cast<double>(random() % 30) - 5;
      ts.push_back(at);
      words.push_back(word);
      values.push_back(static_cast<double>(random() % 100));
    }
    Push(a, ts, words, values);
    Push(b, ts, words, values);
    t += static_cast<double>(random() % 20);
    a.AdvanceWatermark(t - 10);
    b.AdvanceWatermark(t - 10);
    CHECK(Rows(a) == Rows(b));
    if (random() % 4 == 0) {
      // Expire a few keys in both: their open windows go in both, so the outputs stay equal.
      std::vector<uint64_t> victims = {1000 + random() % 50, 1000 + random() % 50};
      for (EventTimeWindows* w : {&a, &b}) {
        std::vector<uint32_t> ids;
        for (uint64_t v : victims) {
          const int64_t id = w->keySpace()->dictionary().Find(reinterpret_cast<const uint8_t*>(&v), 8);
          if (id >= 0) ids.push_back(static_cast<uint32_t>(id));
        }
        w->Expire(Span<const uint32_t>(ids.data(), ids.size()));
      }
    }
    if (random() % 5 == 0) {
      // A goes on from a snapshot of itself.
      const std::vector<uint8_t> bytes = a.Snapshot();
      EventTimeWindows restored(KeyedOptions(kind, size, slide, keyTtl));
      restored.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
      CHECK(restored.Snapshot() == bytes);
      a.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
    }
  }
  a.Flush();
  b.Flush();
  CHECK(Rows(a) == Rows(b));
  CHECK_EQ(a.metrics().liveKeys, b.metrics().liveKeys);
  CHECK(a.options().keyCount >= 50);  // grew from 2
}

SLUICE_TEST(KeyedWindowsExpireAndRestoreAlike) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    RunExpiryCase(WindowKind::kTumbling, 10, 10, 0, seed);
    RunExpiryCase(WindowKind::kSliding, 12, 4, 25, seed);
    RunExpiryCase(WindowKind::kSliding, 40, 1, 30, seed);  // 40 panes per window: Two-Stacks
    RunExpiryCase(WindowKind::kSession, 8, 8, 20, seed);
  }
}

SLUICE_TEST(KeyedWindowsDropExpiredKeysWindowsUnfired) {
  EventTimeWindows w(KeyedOptions(WindowKind::kSliding, 40, 1, 0));
  Push(w, {0, 1, 2}, {7, 8, 7}, {1, 2, 3});
  const uint64_t seven = 7;
  const uint32_t id = static_cast<uint32_t>(w.keySpace()->dictionary().Find(reinterpret_cast<const uint8_t*>(&seven), 8));
  w.AdvanceWatermark(10);  // fires windows ending ≤ 11 for both keys
  CHECK(w.fired().size() > 0);
  CHECK_EQ(w.Expire(Span<const uint32_t>(&id, 1)).size(), size_t{1});
  w.Flush();
  for (size_t i = 0; i < w.fired().size(); ++i) CHECK(w.keySpace()->dictionary().WordOf(w.fired().keys[i]) == 8);
  CHECK_EQ(w.metrics().expiredKeys, 1.0);
}

}  // namespace

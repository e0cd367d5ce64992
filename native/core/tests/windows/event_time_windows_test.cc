#include <cmath>
#include <random>
#include <vector>

#include "tests/check.h"
#include "windows/event_time_windows.h"
#include "windows/watermark_tracker.h"

namespace {

using sluice::Aggregate;
using sluice::EventTimeWindows;
using sluice::EventTimeWindowsOptions;
using sluice::Span;
using sluice::WindowKind;

EventTimeWindowsOptions Options(WindowKind kind, double size, double slide, double gap, double lateness, uint32_t keys) {
  EventTimeWindowsOptions o;
  o.kind = kind;
  o.size = size;
  o.slide = slide;
  o.gap = gap;
  o.allowedLateness = lateness;
  o.keyCount = keys;
  o.aggregates = {Aggregate::kCount, Aggregate::kSum, Aggregate::kMin, Aggregate::kMax};
  return o;
}

struct Batch {
  std::vector<double> ts, values;
  std::vector<uint32_t> keys, late;
  Batch(std::vector<double> t, std::vector<uint32_t> k, std::vector<double> v) : ts(t), values(v), keys(k), late(t.size()) {}
  size_t PushInto(EventTimeWindows& w) {
    return w.Push<double>(Span<const double>(ts.data(), ts.size()), Span<const uint32_t>(keys.data(), keys.size()),
                          Span<const double>(values.data(), values.size()), Span<uint32_t>(late.data(), late.size()));
  }
};

}  // namespace

SLUICE_TEST(SlidingWindowsMergePanesPerKey) {
  EventTimeWindows w(Options(WindowKind::kSliding, 30, 10, 0, 0, 3));
  Batch b({1, 12, 25, 5, 31}, {2, 2, 2, 0, 2}, {1, 2, 3, 4, 5});
  CHECK_EQ(b.PushInto(w), size_t{0});
  CHECK_EQ(w.AdvanceWatermark(29), size_t{6});  // ends 10, 20, 30, each for keys 0 and 2, in (end, key) order
  const auto& f = w.fired();
  CHECK_EQ(f.ends[0], 10.0);
  CHECK_EQ(f.keys[0], 0u);
  CHECK_EQ(f.keys[1], 2u);
  CHECK_EQ(f.ends[4], 30.0);
  CHECK_EQ(f.keys[4], 0u);
  CHECK_EQ(f.keys[5], 2u);
  CHECK_EQ(f.values[5 * 4 + 1], 6.0);  // window [0, 30) of key 2: 1 + 2 + 3 (31 is in the next)
  CHECK_EQ(f.values[5 * 4 + 3], 3.0);
  CHECK_EQ(f.values[1 * 4 + 0], 1.0);  // window [-20, 10) of key 2: only t = 1
}

SLUICE_TEST(LateEventsAreReportedAndUpdatesFlagged) {
  EventTimeWindows w(Options(WindowKind::kTumbling, 10, 10, 0, 5, 1));
  Batch first({1, 2}, {}, {1, 1});
  first.PushInto(w);
  CHECK_EQ(w.AdvanceWatermark(9), size_t{1});
  Batch update({3}, {}, {1});
  CHECK_EQ(update.PushInto(w), size_t{0});
  CHECK_EQ(w.AdvanceWatermark(9), size_t{1});
  CHECK_EQ(w.fired().updates[0], 1);
  CHECK_EQ(w.fired().counts[0], 3.0);
  w.AdvanceWatermark(14);
  Batch late({4, 20}, {}, {1, 1});
  CHECK_EQ(late.PushInto(w), size_t{1});
  CHECK_EQ(late.late[0], 0u);
  CHECK_EQ(w.metrics().late, 1.0);
  CHECK_EQ(w.metrics().updating, 1.0);
}

SLUICE_TEST(SessionsMergeWhenBridged) {
  EventTimeWindows w(Options(WindowKind::kSession, 0, 0, 10, 0, 2));
  Batch b({0, 30, 15, 1, 50}, {1, 1, 1, 0, 0}, {1, 2, 3, 4, 5});
  b.PushInto(w);
  CHECK_EQ(w.Flush(), size_t{5});  // key 1: [0,10) [15,25) [30,40) stay apart (15 > 10, 30 > 25); key 0: two
  Batch c({0, 20, 10}, {1, 1, 1}, {1, 1, 1});
  EventTimeWindows v(Options(WindowKind::kSession, 0, 0, 10, 0, 2));
  c.PushInto(v);
  CHECK_EQ(v.Flush(), size_t{1});  // 10 touches [0, 10) and [20, 30): one session [0, 30)
  CHECK_EQ(v.fired().starts[0], 0.0);
  CHECK_EQ(v.fired().ends[0], 30.0);
  CHECK_EQ(v.fired().counts[0], 3.0);
}

SLUICE_TEST(BadInputChangesNothing) {
  EventTimeWindows w(Options(WindowKind::kTumbling, 10, 10, 0, 0, 2));
  Batch nan({1, NAN}, {0, 0}, {1, 1});
  CHECK_THROWS_CODE(nan.PushInto(w), sluice::codes::kInvalidArgument);
  Batch key({1, 2}, {0, 2}, {1, 1});
  CHECK_THROWS_CODE(key.PushInto(w), sluice::codes::kOutOfRange);
  // Far apart is fine (one ring slot per pane with data); more panes with data than ring slots is not.
  std::vector<double> spread;
  for (uint32_t i = 0; i <= w.ringPanes(); ++i) spread.push_back(1e6 * i + 1);
  Batch far(spread, std::vector<uint32_t>(spread.size(), 0), std::vector<double>(spread.size(), 1));
  CHECK_THROWS_CODE(far.PushInto(w), sluice::codes::kOutOfRange);
  Batch lengths({1, 2}, {0}, {1, 1});
  CHECK_THROWS_CODE(lengths.PushInto(w), sluice::codes::kInvalidLength);
  CHECK_THROWS_CODE(w.AdvanceWatermark(NAN), sluice::codes::kInvalidArgument);
  CHECK_EQ(w.Flush(), size_t{0});
  CHECK_EQ(w.metrics().onTime, 0.0);
  EventTimeWindowsOptions bad = Options(WindowKind::kSliding, 10, 20, 0, 0, 1);
  CHECK_THROWS_CODE(EventTimeWindows{bad}, sluice::codes::kInvalidArgument);
}

SLUICE_TEST(RingReuseWithSparseKeysStaysExact) {
  // Many panes through a small ring, keys appearing rarely: stale slot indices must never alias.
  EventTimeWindows w(Options(WindowKind::kTumbling, 1, 1, 0, 0, 50));
  std::mt19937 random(7);
  std::vector<double> expected(50);
  for (int step = 0; step < 2000; ++step) {
    const uint32_t key = random() % 50;
    Batch b({static_cast<double>(step)}, {key}, {static_cast<double>(step % 13)});
    b.PushInto(w);
    w.AdvanceWatermark(step);
    CHECK_EQ(w.fired().size(), size_t{1});
    CHECK_EQ(w.fired().keys[0], key);
    CHECK_EQ(w.fired().values[1], static_cast<double>(step % 13));
    CHECK_EQ(w.fired().counts[0], 1.0);
  }
}

SLUICE_TEST(SnapshotRestoreContinuesAndCorruptionIsRejected) {
  for (WindowKind kind : {WindowKind::kSliding, WindowKind::kSession}) {
    EventTimeWindows a(Options(kind, 20, 5, 7, 10, 4));
    std::mt19937 random(3);
    std::vector<double> ts, values;
    std::vector<uint32_t> keys;
    for (int i = 0; i < 200; ++i) {
      ts.push_back(i * 2 - static_cast<double>(random() % 9));
      keys.push_back(random() % 4);
      values.push_back(static_cast<double>(random() % 100));
    }
    EventTimeWindows restored(Options(kind, 20, 5, 7, 10, 4));
    std::vector<uint8_t> bytes;
    for (size_t start = 0; start < ts.size(); start += 10) {
      Batch b(std::vector<double>(ts.begin() + start, ts.begin() + start + 10),
              std::vector<uint32_t>(keys.begin() + start, keys.begin() + start + 10),
              std::vector<double>(values.begin() + start, values.begin() + start + 10));
      if (start == 100) {  // stop and restore midway, then both continue
        bytes = a.Snapshot();
        restored.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
      }
      b.PushInto(a);
      const size_t fired = a.AdvanceWatermark(static_cast<double>(start) * 2 - 12);
      if (start >= 100) {
        b.PushInto(restored);
        CHECK_EQ(restored.AdvanceWatermark(static_cast<double>(start) * 2 - 12), fired);
        CHECK(a.fired().values == restored.fired().values);  // no NaN here: values are integers
        CHECK(a.fired().keys == restored.fired().keys && a.fired().counts == restored.fired().counts);
      }
    }
    CHECK(a.metrics().onTime == restored.metrics().onTime && a.metrics().late == restored.metrics().late);
    CHECK_EQ(a.Flush(), restored.Flush());
    CHECK(a.fired().values.size() == restored.fired().values.size());
    for (size_t i = 0; i < a.fired().values.size(); ++i) {
      CHECK(a.fired().values[i] == restored.fired().values[i] || (std::isnan(a.fired().values[i]) && std::isnan(restored.fired().values[i])));
    }
    // Every truncation and single-byte flip is ERR_MALFORMED_DATA (or other options), never a crash.
    for (size_t cut = 0; cut < bytes.size(); cut += 7) {
      EventTimeWindows target(Options(kind, 20, 5, 7, 10, 4));
      CHECK_THROWS_CODE(target.Restore(Span<const uint8_t>(bytes.data(), cut)), sluice::codes::kMalformedData);
    }
    for (size_t at = 0; at < bytes.size(); at += 5) {
      std::vector<uint8_t> flipped = bytes;
      flipped[at] ^= 0x5a;
      EventTimeWindows target(Options(kind, 20, 5, 7, 10, 4));
      CHECK_THROWS_CODE(target.Restore(Span<const uint8_t>(flipped.data(), flipped.size())), sluice::codes::kMalformedData);
    }
  }
}

SLUICE_TEST(WatermarkTrackerCombinesInputs) {
  sluice::WatermarkTrackerOptions o;
  o.inputs = 3;
  o.bound = 0;
  o.idleTimeout = 100;
  sluice::WatermarkTracker t(o, 0);
  const double a[] = {11}, b[] = {16}, c[] = {21};
  t.Observe(0, Span<const double>(a, 1), 0);
  t.Observe(1, Span<const double>(b, 1), 0);
  CHECK_EQ(t.watermark(), -INFINITY);
  t.Observe(2, Span<const double>(c, 1), 50);
  CHECK_EQ(t.watermark(), 10.0);
  CHECK_EQ(t.Update(101), 20.0);  // inputs 0 and 1 idle (101 > 100), only input 2 counts
  CHECK(!t.idle());
  CHECK_EQ(t.Update(151), 20.0);  // all idle: maximum over all
  CHECK(t.idle());
  const double bad[] = {1, NAN};
  CHECK_THROWS_CODE(t.Observe(0, Span<const double>(bad, 2), 200), sluice::codes::kInvalidArgument);
  CHECK(t.InputIdle(0));  // the bad batch did not count as activity
  CHECK_THROWS_CODE(t.MarkIdle(3), sluice::codes::kOutOfRange);
  const std::vector<uint8_t> bytes = t.Snapshot();
  sluice::WatermarkTracker u(o, 0);
  u.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
  CHECK_EQ(u.watermark(), 20.0);
  CHECK(u.idle());
  CHECK_THROWS_CODE(u.Restore(Span<const uint8_t>(bytes.data(), bytes.size() - 1)), sluice::codes::kMalformedData);
}

SLUICE_TEST(ManyPanesPerWindowUseTwoStacksAndMatchBruteForce) {
  // size 50, slide 2: 25 panes per window (> 16: Two-Stacks). In-order events, some late but allowed ones,
  // a restore midway; every fired window is recomputed from the accepted events.
  EventTimeWindowsOptions o = Options(WindowKind::kSliding, 50, 2, 0, 30, 5);
  o.horizon = 400;
  EventTimeWindows w(o);
  std::mt19937 random(11);
  struct Event { double t; uint32_t key; double value; };
  std::vector<Event> accepted;
  double clock = 0, wm = -INFINITY;
  for (int step = 0; step < 60; ++step) {
    std::vector<double> ts, values;
    std::vector<uint32_t> keys;
    for (int i = 0; i < 12; ++i) {
      clock += random() % 4;
      const bool late = random() % 10 == 0;
      ts.push_back(late ? clock - 40 - static_cast<double>(random() % 20) : clock);
      keys.push_back(random() % 5);
      values.push_back(static_cast<double>(static_cast<int>(random() % 200) - 100));
    }
    Batch b(ts, keys, values);
    const size_t late = b.PushInto(w);
    std::vector<bool> isLate(ts.size(), false);
    for (size_t j = 0; j < late; ++j) isLate[b.late[j]] = true;
    for (size_t j = 0; j < ts.size(); ++j) {
      if (!isLate[j]) accepted.push_back({ts[j], keys[j], values[j]});
    }
    if (step == 30) {
      const std::vector<uint8_t> bytes = w.Snapshot();
      w.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
    }
    wm = std::max(wm, clock - 10);
    const size_t fired = w.AdvanceWatermark(wm);
    for (size_t i = 0; i < fired; ++i) {
      const auto& f = w.fired();
      double count = 0, sum = 0, min = INFINITY, max = -INFINITY;
      for (const Event& e : accepted) {
        if (e.key != f.keys[i] || e.t < f.starts[i] || e.t >= f.ends[i]) continue;
        count += 1;
        sum += e.value;
        min = std::min(min, e.value);
        max = std::max(max, e.value);
      }
      CHECK_EQ(f.counts[i], count);
      CHECK_EQ(f.values[i * 4 + 1], sum);
      CHECK_EQ(f.values[i * 4 + 2], min);
      CHECK_EQ(f.values[i * 4 + 3], max);
    }
  }
  CHECK(w.metrics().updating > 0);
  CHECK(w.metrics().updateFirings > 0);
}

SLUICE_TEST(SessionsWithManyPerKeyRestoreAndContinueIdentically) {
  // Several open sessions per key (events 6–14 apart, gap 5), late events that bridge fired sessions, a
  // restore into a fresh engine midway: both engines then see the same input and must fire the same.
  EventTimeWindowsOptions o = Options(WindowKind::kSession, 0, 0, 5, 40, 3);
  EventTimeWindows a(o), b(o);
  std::mt19937 random(5);
  double clock = 0;
  bool restored = false;
  for (int step = 0; step < 80; ++step) {
    std::vector<double> ts, values;
    std::vector<uint32_t> keys;
    for (int i = 0; i < 6; ++i) {
      clock += 2 + random() % 4;
      ts.push_back(random() % 6 == 0 ? clock - 30 - static_cast<double>(random() % 50) : clock);
      keys.push_back(random() % 3);
      values.push_back(static_cast<double>(random() % 50));
    }
    if (step == 40) {
      const std::vector<uint8_t> bytes = a.Snapshot();
      b.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
      restored = true;
    }
    Batch batchA(ts, keys, values);
    const size_t lateA = batchA.PushInto(a);
    if (restored) {
      Batch batchB(ts, keys, values);
      CHECK_EQ(batchB.PushInto(b), lateA);
      CHECK(batchA.late == batchB.late);
    }
    const double wm = clock - 12 - static_cast<double>(random() % 10);
    const size_t fired = a.AdvanceWatermark(wm);
    if (restored) {
      CHECK_EQ(b.AdvanceWatermark(wm), fired);
      CHECK(a.fired().keys == b.fired().keys && a.fired().starts == b.fired().starts && a.fired().ends == b.fired().ends);
      CHECK(a.fired().counts == b.fired().counts && a.fired().updates == b.fired().updates && a.fired().values == b.fired().values);
    }
  }
  CHECK(a.metrics().updateFirings > 0);
  CHECK(a.metrics().late > 0);
  CHECK_EQ(a.Flush(), b.Flush());
  CHECK(a.fired().values == b.fired().values);
}

namespace {

// Feeds a random stream with pauses of 1000 windows, watermark jumps and allowed-late events after them to
// `w`, checking before every advance that FiringCount says exactly how many windows then fire.
void RunPausesAndJumps(EventTimeWindows& w, EventTimeWindows& twin, uint32_t seed, double unit, std::vector<double>* sums) {
  std::mt19937 random(seed);
  double clock = 0, maxSeen = 0, wm = -INFINITY;
  for (int batch = 0; batch < 60; ++batch) {
    if (random() % 4 == 0) clock += 1000 * unit + static_cast<double>(random() % 7);  // a pause
    std::vector<double> ts, values;
    std::vector<uint32_t> keys;
    for (int i = 0; i < 20; ++i) {
      clock += static_cast<double>(random() % 3);
      double t = random() % 4 == 0 ? clock - static_cast<double>(random() % 8) : clock;
      if (wm > -INFINITY && random() % 5 == 0) t = wm - static_cast<double>(random() % 12);  // late or allowed-late
      ts.push_back(t);
      keys.push_back(static_cast<uint32_t>(random() % 5));
      values.push_back(static_cast<double>(random() % 50));
      maxSeen = std::max(maxSeen, t);
    }
    Batch b(ts, keys, values);
    Batch c(ts, keys, values);
    b.PushInto(w);
    c.PushInto(twin);
    if (batch % 9 == 4) {  // a snapshot across the gap, restored into the twin
      const std::vector<uint8_t> bytes = w.Snapshot();
      twin.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
    }
    wm = random() % 6 == 0 ? maxSeen + 500 * unit : maxSeen - 4;  // sometimes a jump far ahead
    if (wm > maxSeen) clock = wm;
    const size_t expected = w.FiringCount(wm);
    CHECK_EQ(w.AdvanceWatermark(wm), expected);
    CHECK_EQ(twin.AdvanceWatermark(wm), expected);
    CHECK(w.fired().values == twin.fired().values && w.fired().keys == twin.fired().keys && w.fired().ends == twin.fired().ends);
    for (size_t i = 0; i < w.fired().size(); ++i) sums->push_back(w.fired().values[i * 4 + 1]);
  }
  const size_t expected = w.FiringCount(INFINITY);
  CHECK_EQ(w.Flush(), expected);
  CHECK_EQ(twin.Flush(), expected);
}

}  // namespace

SLUICE_TEST(PausesJumpsAndRestoresFitTheRingAndFiringCountIsExact) {
  struct Case {
    WindowKind kind;
    double size, slide, lateness;
  };
  for (const Case& c : {Case{WindowKind::kTumbling, 10, 10, 6}, Case{WindowKind::kSliding, 12, 4, 6},
                        Case{WindowKind::kSliding, 40, 2, 6}, Case{WindowKind::kSession, 0, 0, 6}}) {
    for (uint32_t seed = 1; seed <= 6; ++seed) {
      EventTimeWindowsOptions o = Options(c.kind, c.size, c.slide, 9, c.lateness, 5);
      EventTimeWindows w(o), twin(o);
      const uint32_t ring = w.ringPanes();
      std::vector<double> sums;
      RunPausesAndJumps(w, twin, seed, c.kind == WindowKind::kSession ? 9 : c.size, &sums);
      CHECK(!sums.empty());
      CHECK_EQ(w.ringPanes(), ring);
      CHECK_EQ(w.metrics().firedWindows, twin.metrics().firedWindows);
      CHECK(w.metrics().updateFirings > 0);
    }
  }
}

SLUICE_TEST(FiringCountChangesNothing) {
  EventTimeWindows w(Options(WindowKind::kSliding, 30, 10, 0, 20, 3));
  Batch b({1, 12, 25, 5, 31, 1000}, {2, 2, 2, 0, 2, 1}, {1, 2, 3, 4, 5, 6});
  b.PushInto(w);
  const std::vector<uint8_t> before = w.Snapshot();
  CHECK_EQ(w.FiringCount(29), size_t{6});
  CHECK_EQ(w.FiringCount(INFINITY), size_t{6 + 3 + 3});
  CHECK_EQ(w.FiringCount(-5), size_t{0});
  CHECK(w.Snapshot() == before);
  CHECK_EQ(w.watermark(), -INFINITY);
  CHECK_THROWS_CODE(w.FiringCount(NAN), sluice::codes::kInvalidArgument);
  CHECK_EQ(w.AdvanceWatermark(29), size_t{6});
  // Allowed-late (window [−20, 10) is purged, [−10, 20) and [0, 30) are not): key 1 fires those two for the
  // first time, key 2 updates them.
  Batch late({3, 4}, {1, 2}, {1, 1});
  late.PushInto(w);
  const size_t pending = w.FiringCount(0);  // a watermark that goes back still emits the updates
  CHECK_EQ(pending, size_t{4});
  CHECK_EQ(w.AdvanceWatermark(0), pending);
}

// EventTimeWindows' sketch aggregates (kQuantile: DDSketch, kDistinct: HyperLogLog) under the sanitizers:
// every fired window — tumbling, sliding (panes merged, also beyond 16 panes per window), sessions that merge,
// late updates (allowed lateness), after snapshot/restore midway, with keys that expire (keyTtl and Expire)
// and whose ids and sketch cells are reused — equals, bit for bit, sketches built directly over the same
// accepted events of that key and window. A twin that never stops must fire the same windows with the same bits.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "tests/check.h"
#include "windows/event_time_windows.h"

namespace {

using namespace sluice;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr uint32_t kChannels = 2;

bool SameBits(double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0; }

struct Event {
  uint64_t key;
  double t;
  double values[kChannels];
};

// The accepted events of every key; a window's expected values are sketches built directly over its events.
class Reference {
 public:
  explicit Reference(const EventTimeWindowsOptions& options) : options_(options) {}

  void Accept(const Event& e) { events_[e.key].push_back(e); }
  // An expired key's state is gone: a key that comes back starts afresh.
  void Forget(uint64_t key) { events_.erase(key); }

  // [channel][aggregate] of the key's events in [start, end), and their count (NaN values included).
  std::vector<double> Window(uint64_t key, double start, double end, double* count) const {
    const size_t A = options_.aggregates.size();
    std::vector<double> out(kChannels * A);
    *count = 0;
    const auto found = events_.find(key);
    for (uint32_t c = 0; c < kChannels; ++c) {
      DDSketch quantiles(options_.accuracy);
      HyperLogLog distinct(options_.distinctPrecision);
      double values = 0, max = -kInf, events = 0;
      if (found != events_.end()) {
        for (const Event& e : found->second) {
          if (e.t < start || e.t >= end) continue;
          events += 1;
          const double x = e.values[c];
          quantiles.Add(x);
          distinct.Add(x);
          if (!std::isnan(x)) {
            values += 1;
            max = std::max(max, x);
          }
        }
      }
      *count = events;
      size_t q = 0;
      for (size_t a = 0; a < A; ++a) {
        double& v = out[c * A + a];
        switch (options_.aggregates[a]) {
          case Aggregate::kCount: v = values; break;
          case Aggregate::kMax: v = values > 0 ? max : kNaN; break;
          case Aggregate::kQuantile: v = quantiles.Quantile(options_.quantiles[q++]); break;
          case Aggregate::kDistinct: v = distinct.Estimate(); break;
          default: CHECK(!"an aggregate this reference does not compute");
        }
      }
    }
    return out;
  }

 private:
  EventTimeWindowsOptions options_;
  std::map<uint64_t, std::vector<Event>> events_;
};

struct Case {
  WindowKind kind;
  double size, slide, gap;
  double allowedLateness;
  double bound;       // the watermark after a batch: the newest timestamp − bound − 1
  double disorder;    // events up to this far behind the newest one
  double stragglers;  // the share of events 3·size behind (late for tumbling / sliding)
  bool keyed;         // 64-bit keys interned with keyTtl; some expired explicitly
};

EventTimeWindowsOptions OptionsOf(const Case& c) {
  EventTimeWindowsOptions o;
  o.kind = c.kind;
  o.size = c.size;
  o.slide = c.slide;
  o.gap = c.gap;
  o.allowedLateness = c.allowedLateness;
  o.horizon = 8 * std::max(c.size, c.gap);
  o.keyCount = c.keyed ? 2 : 6;  // key spaces grow from 2
  o.channels = kChannels;
  // Quantile columns between plain ones, so the columns' order is checked too.
  o.aggregates = {Aggregate::kCount, Aggregate::kQuantile, Aggregate::kDistinct, Aggregate::kMax, Aggregate::kQuantile,
                  Aggregate::kQuantile};
  o.quantiles = {0.5, 0.99, 0};
  o.accuracy = 0.02;
  o.distinctPrecision = 8;
  if (c.keyed) {
    KeySpaceOptions keys;
    keys.kind = KeyKind::kUint64;
    keys.keyTtl = 4 * std::max(c.size, c.gap);
    o.keySpace = keys;
  }
  return o;
}

// The key of a fired window's id.
struct KeyNames {
  bool keyed = false;
  std::map<uint32_t, uint64_t> words;  // keyed: id → 64-bit key
  uint64_t operator()(uint32_t id) const { return keyed ? words.at(id) : id; }
};

// A fired window by its key (not its id: a restored key space may number keys otherwise) and its bits.
using Row = std::tuple<double, uint64_t, double, double, uint8_t, std::vector<uint64_t>>;  // end, key, start, count, update, values

std::vector<Row> Rows(const EventTimeWindows& w, const KeyNames& names) {
  const FiredWindows& f = w.fired();
  const size_t per = f.size() == 0 ? 0 : f.values.size() / f.size();
  std::vector<Row> rows;
  for (size_t i = 0; i < f.size(); ++i) {
    std::vector<uint64_t> bits(per, 1);  // 1: any NaN
    for (size_t j = 0; j < per; ++j) {
      if (!std::isnan(f.values[i * per + j])) std::memcpy(&bits[j], &f.values[i * per + j], sizeof(double));
    }
    rows.emplace_back(f.ends[i], names(f.keys[i]), f.starts[i], f.counts[i], f.updates[i], std::move(bits));
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Sessions fired so far per key, to count firings that merged two of them.
using FiredSessions = std::map<uint64_t, std::vector<std::pair<double, double>>>;

// Every fired window against the reference, bit for bit.
size_t CheckFired(const EventTimeWindows& w, const Reference& reference, const KeyNames& names, size_t* updates, FiredSessions* sessions,
                  size_t* merges) {
  const FiredWindows& f = w.fired();
  const size_t per = f.size() == 0 ? 0 : f.values.size() / f.size();
  for (size_t i = 0; i < f.size(); ++i) {
    if (w.options().kind == WindowKind::kSession) {
      std::vector<std::pair<double, double>>& earlier = (*sessions)[names(f.keys[i])];
      const auto inside = std::count_if(earlier.begin(), earlier.end(), [&](const auto& s) { return s.first >= f.starts[i] && s.second <= f.ends[i]; });
      *merges += inside >= 2;
      earlier.emplace_back(f.starts[i], f.ends[i]);
    }
    double count = 0;
    const std::vector<double> expected = reference.Window(names(f.keys[i]), f.starts[i], f.ends[i], &count);
    CHECK_EQ(per, expected.size());
    CHECK_EQ(f.counts[i], count);
    for (size_t j = 0; j < per; ++j) {
      if (!SameBits(f.values[i * per + j], expected[j])) {
        std::printf("key %llu [%g, %g) column %zu: %.17g, sketches over the events %.17g\n", static_cast<unsigned long long>(names(f.keys[i])),
                    f.starts[i], f.ends[i], j, f.values[i * per + j], expected[j]);
      }
      CHECK(SameBits(f.values[i * per + j], expected[j]));
    }
    *updates += f.updates[i];
  }
  return f.size();
}

void RunCase(const Case& c, uint32_t seed) {
  const EventTimeWindowsOptions options = OptionsOf(c);
  std::mt19937_64 random(seed);
  std::lognormal_distribution<double> latency(2, 1.2);
  // `w` is replaced by a restore of its own snapshot now and then; `twin` never stops.
  auto w = std::make_unique<EventTimeWindows>(options);
  EventTimeWindows twin(options);
  Reference reference(options);
  KeyNames names, twinNames;  // the ids of w and of the twin
  names.keyed = twinNames.keyed = c.keyed;
  double clock = 0, newest = -kInf;
  size_t fired = 0, updates = 0, late = 0, expired = 0, restores = 0, merges = 0;
  FiredSessions sessions;
  auto forgetExpired = [&](const std::vector<uint32_t>& ids, const std::vector<uint32_t>& twinIds) {
    std::vector<uint64_t> keys, twinKeys;
    for (const uint32_t id : ids) keys.push_back(names.words.at(id));
    for (const uint32_t id : twinIds) twinKeys.push_back(twinNames.words.at(id));
    std::sort(keys.begin(), keys.end());
    std::sort(twinKeys.begin(), twinKeys.end());
    CHECK(keys == twinKeys);
    for (const uint32_t id : ids) names.words.erase(id);
    for (const uint32_t id : twinIds) twinNames.words.erase(id);
    for (const uint64_t key : keys) reference.Forget(key);
    expired += keys.size();
  };
  for (int round = 0; round < 90; ++round) {
    const size_t n = 1 + random() % 40;
    std::vector<double> ts(n), values(n * kChannels);
    std::vector<uint64_t> words(n);
    for (size_t i = 0; i < n; ++i) {
      // Sessions: bursts per key with pauses longer than the gap, so sessions start, merge and close.
      const double behind = std::uniform_real_distribution<double>(0, 1)(random) < c.stragglers ? 3 * c.size : static_cast<double>(random() % static_cast<uint64_t>(c.disorder + 1));
      ts[i] = std::floor(clock - behind);
      words[i] = c.keyed ? 7000 + random() % 9 : random() % 6;
      values[i * kChannels] = random() % 23 == 0 ? kNaN : latency(random);
      values[i * kChannels + 1] = random() % 17 == 0 ? kNaN : static_cast<double>(random() % (3 + 4 * words[i] % 20));
    }
    clock += static_cast<double>(random() % (c.kind == WindowKind::kSession ? 7 : 5));
    if (c.kind == WindowKind::kSession && round % 9 == 8) clock += 3 * c.gap;  // a pause: sessions close
    std::vector<uint32_t> ids(n), twinIds(n);
    if (c.keyed) {
      KeyBatch batch;
      batch.words = Span<const uint64_t>(words.data(), n);
      w->Intern(batch, Span<uint32_t>(ids.data(), n));
      twin.Intern(batch, Span<uint32_t>(twinIds.data(), n));
      for (size_t i = 0; i < n; ++i) {
        names.words[ids[i]] = words[i];
        twinNames.words[twinIds[i]] = words[i];
      }
    } else {
      for (size_t i = 0; i < n; ++i) ids[i] = twinIds[i] = static_cast<uint32_t>(words[i]);
    }
    std::vector<uint32_t> lateOut(n), twinLate(n);
    const size_t lateCount = w->Push<double>({ts.data(), n}, {ids.data(), n}, {values.data(), values.size()}, {lateOut.data(), n});
    CHECK_EQ(twin.Push<double>({ts.data(), n}, {twinIds.data(), n}, {values.data(), values.size()}, {twinLate.data(), n}), lateCount);
    CHECK(std::equal(lateOut.begin(), lateOut.begin() + lateCount, twinLate.begin()));
    late += lateCount;
    for (size_t i = 0, l = 0; i < n; ++i) {
      if (l < lateCount && lateOut[l] == i) {
        ++l;
        continue;
      }
      reference.Accept({words[i], ts[i], {values[i * kChannels], values[i * kChannels + 1]}});
      newest = std::max(newest, ts[i]);
    }
    const double watermark = newest - c.bound - 1;
    CHECK_EQ(w->AdvanceWatermark(watermark), twin.AdvanceWatermark(watermark));
    CHECK(Rows(*w, names) == Rows(twin, twinNames));
    fired += CheckFired(*w, reference, names, &updates, &sessions, &merges);
    if (c.keyed) {
      forgetExpired(w->expiredIds(), twin.expiredIds());  // keyTtl
      if (round % 10 == 5) {
        // Expire two live keys with open windows: they are dropped unfired; a key that comes back starts afresh.
        std::vector<uint64_t> keys;
        for (const auto& [id, word] : names.words) {
          if ((word + round) % 3 == 0) keys.push_back(word);
        }
        std::sort(keys.begin(), keys.end());
        keys.resize(std::min<size_t>(keys.size(), 2));
        std::vector<uint32_t> victims, twinVictims;
        for (const uint64_t key : keys) {
          for (const auto& [id, word] : names.words) if (word == key) victims.push_back(id);
          for (const auto& [id, word] : twinNames.words) if (word == key) twinVictims.push_back(id);
        }
        const std::vector<uint32_t> freed = w->Expire({victims.data(), victims.size()});
        forgetExpired(freed, twin.Expire({twinVictims.data(), twinVictims.size()}));
      }
    }
    if (round % 30 == 14) {
      const std::vector<uint8_t> bytes = w->Snapshot();
      auto restored = std::make_unique<EventTimeWindows>(options);
      restored->Restore({bytes.data(), bytes.size()});
      CHECK(restored->Snapshot() == bytes);
      w = std::move(restored);
      ++restores;
    }
  }
  CHECK_EQ(w->Flush(), twin.Flush());
  CHECK(Rows(*w, names) == Rows(twin, twinNames));
  fired += CheckFired(*w, reference, names, &updates, &sessions, &merges);
  std::printf("  %s %g/%g gap %g%s: %zu windows checked (%zu updates, %zu merged sessions), %zu late events, %zu keys expired, %zu restores\n",
              c.kind == WindowKind::kSession ? "session" : c.kind == WindowKind::kSliding ? "sliding" : "tumbling", c.size, c.slide, c.gap,
              c.keyed ? ", keyed" : "", fired, updates, merges, late, expired, restores);
  CHECK(fired > 100);
  CHECK(updates > 0);
  CHECK_EQ(restores, size_t{3});
  if (c.stragglers > 0) CHECK(late > 0);
  if (c.keyed) CHECK(expired > 0);
  if (c.kind == WindowKind::kSession) CHECK(merges > 0);
}

}  // namespace

SLUICE_TEST(event_time_sketches_tumbling_equal_sketches_over_the_same_events) {
  RunCase({WindowKind::kTumbling, 20, 20, 0, 15, 5, 18, 0.03, false}, 1);
  RunCase({WindowKind::kTumbling, 20, 20, 0, 15, 5, 18, 0.03, true}, 2);
}

SLUICE_TEST(event_time_sketches_sliding_over_panes_equal_sketches_over_the_same_events) {
  RunCase({WindowKind::kSliding, 40, 10, 0, 15, 5, 18, 0.03, false}, 3);
  RunCase({WindowKind::kSliding, 40, 10, 0, 15, 5, 18, 0.03, true}, 4);
  // 20 panes per window: beyond the 16 that plain aggregates merge before they switch to Two-Stacks.
  RunCase({WindowKind::kSliding, 100, 5, 0, 10, 5, 14, 0.03, false}, 5);
}

SLUICE_TEST(event_time_sketches_merged_sessions_equal_sketches_over_the_same_events) {
  // disorder ≤ bound + allowedLateness: no event falls where a purged session was (the reference keeps the
  // accepted events by time, not by session), yet events arrive after their sessions fired (updates) and
  // bridge sessions (merges).
  RunCase({WindowKind::kSession, 0, 0, 4, 10, 5, 14, 0, false}, 6);
  RunCase({WindowKind::kSession, 0, 0, 4, 10, 5, 14, 0, true}, 7);
}

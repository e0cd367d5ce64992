// Exact quantiles of count windows: the order-statistic structure against std::multiset, and
// SlidingWindow's quantile columns against sorting each window, across batch cuts, threads and restores.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "tests/check.h"
#include "base/snapshot.h"
#include "windows/event_time_windows.h"
#include "windows/order_statistics.h"
#include "windows/sliding_window.h"

using namespace sluice;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

bool BitwiseEqual(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// The reference quantile, written out independently of order_statistics.cc: sort, then numpy's "linear"
// (h = (n − 1)·q), with the documented rules for infinite neighbours.
double ReferenceQuantile(std::vector<double> values, double q) {
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  const double h = (static_cast<double>(values.size()) - 1) * q;
  const size_t low = static_cast<size_t>(std::floor(h));
  if (low + 1 >= values.size()) return values.back() + 0.0;
  const double f = h - static_cast<double>(low);
  const double a = values[low] + 0.0, b = values[low + 1] + 0.0;
  if (f == 0 || a == b) return a;
  if (std::isinf(a) && std::isinf(b)) return kNaN;
  if (std::isinf(a)) return a;
  if (std::isinf(b)) return b;
  if (std::isinf(b - a)) return a * (1 - f) + b * f;
  return a + (b - a) * f;
}

SlidingWindowOptions QuantileOptions(uint64_t size, uint64_t slide, uint32_t channels, std::vector<double> qs,
                                     bool emitPartial, std::vector<Aggregate> before = {}) {
  SlidingWindowOptions o;
  o.size = size;
  o.slide = slide;
  o.channels = channels;
  o.emitPartial = emitPartial;
  o.aggregates = std::move(before);
  for (size_t i = 0; i < qs.size(); ++i) o.aggregates.push_back(Aggregate::kQuantile);
  o.quantiles = std::move(qs);
  return o;
}

std::vector<double> PushAll(SlidingWindow& window, const std::vector<double>& values, const std::vector<size_t>& cuts) {
  std::vector<double> result;
  size_t at = 0;
  const size_t channels = window.options().channels;
  const size_t rows = values.size() / channels;
  auto push = [&](size_t count) {
    count = std::min(count, rows - at);
    std::vector<double> out(window.WindowsFor(count) * window.windowWidth() + 1);
    const uint64_t n = window.Push(Span<const double>(values.data() + at * channels, count * channels),
                                   Span<double>(out.data(), out.size()));
    result.insert(result.end(), out.begin(), out.begin() + n * window.windowWidth());
    at += count;
  };
  for (size_t cut : cuts) push(cut);
  push(rows - at);
  return result;
}

// Every emitted window's quantile columns (other columns skipped), by sorting the window.
std::vector<double> ReferenceQuantiles(const SlidingWindowOptions& o, const std::vector<double>& values) {
  std::vector<double> result;
  const int64_t rows = static_cast<int64_t>(values.size() / o.channels);
  const int64_t size = static_cast<int64_t>(o.size), slide = static_cast<int64_t>(o.slide);
  for (int64_t r = 0; r < rows; ++r) {
    if (r < size - 1 && !o.emitPartial) continue;
    if (((r - (size - 1)) % slide + slide) % slide != 0) continue;
    for (uint32_t c = 0; c < o.channels; ++c) {
      std::vector<double> window;
      for (int64_t i = std::max<int64_t>(0, r - size + 1); i <= r; ++i) {
        const double x = values[i * o.channels + c];
        if (!std::isnan(x)) window.push_back(x);
      }
      for (double q : o.quantiles) result.push_back(ReferenceQuantile(window, q));
    }
  }
  return result;
}

// The quantile columns of results laid out [window][channel][aggregate].
std::vector<double> QuantileColumns(const SlidingWindowOptions& o, const std::vector<double>& results) {
  std::vector<double> picked;
  const size_t width = o.aggregates.size();
  for (size_t i = 0; i < results.size(); i += width) {
    for (size_t k = 0; k < width; ++k) {
      if (o.aggregates[k] == Aggregate::kQuantile) picked.push_back(results[i + k]);
    }
  }
  return picked;
}

// Values with ties (a few distinct levels), NaN, ±∞ and constant stretches, as `kind` asks.
std::vector<double> TestValues(std::mt19937_64& rng, size_t count, int kind) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> v(count);
  for (size_t i = 0; i < count; ++i) {
    const double p = u(rng);
    switch (kind % 4) {
      case 0: v[i] = 100 * (u(rng) - 0.5); break;                        // continuous
      case 1: v[i] = static_cast<double>(rng() % 5) - 2; break;           // heavy ties, ±0
      case 2: v[i] = p < 0.15 ? kNaN : p < 0.2 ? (u(rng) < 0.5 ? kInf : -kInf) : std::floor(10 * u(rng)); break;
      default: v[i] = (i / 37) % 3 == 0 ? 4.25 : p < 0.3 ? kNaN : u(rng); break;  // constant stretches, NaN
    }
  }
  if (kind % 4 == 1) {
    for (size_t i = 0; i < count; i += 7) v[i] = -0.0;
  }
  return v;
}

}  // namespace

SLUICE_TEST(order_statistics_match_a_multiset_under_random_inserts_erases_and_replaces) {
  std::mt19937_64 rng(101);
  for (size_t capacity : {size_t{1}, size_t{5}, size_t{100}, size_t{1000}, size_t{5000}}) {
    OrderStatistics set(capacity);
    std::multiset<double> reference;
    std::vector<double> held;
    for (int step = 0; step < 20000; ++step) {
      const bool insert = held.empty() || (held.size() < capacity && rng() % 100 < 52);
      if (!insert && rng() % 3 == 0) {  // a replace: the erase and insert of one slide step
        const size_t i = rng() % held.size();
        const double x = rng() % 4 == 0 ? held[rng() % held.size()] : std::ldexp(static_cast<double>(rng() % 100000), -7);
        set.Replace(held[i], x);
        reference.erase(reference.find(held[i]));
        reference.insert(x);
        held[i] = x;
      } else if (insert) {
        const double x = rng() % 3 == 0 ? static_cast<double>(rng() % 7) : (rng() % 50 == 0 ? -kInf : std::ldexp(static_cast<double>(rng() % 100000), -7));
        set.Insert(x);
        reference.insert(x);
        held.push_back(x);
      } else {
        const size_t i = rng() % held.size();
        set.Erase(held[i]);
        reference.erase(reference.find(held[i]));
        held[i] = held.back();
        held.pop_back();
      }
      CHECK_EQ(set.size(), reference.size());
      if (step % 97 == 0 || capacity <= 5) {
        size_t rank = 0;
        for (double x : reference) CHECK_EQ(set.Select(rank++), x);
      }
    }
    // Emptied completely, then refilled: the pool gives its blocks back.
    for (double x : held) set.Erase(x);
    CHECK_EQ(set.size(), size_t{0});
    for (size_t i = 0; i < capacity; ++i) set.Insert(static_cast<double>(capacity - i));
    CHECK_EQ(set.Select(0), 1.0);
    CHECK_EQ(set.Select(capacity - 1), static_cast<double>(capacity));
  }
}

SLUICE_TEST(order_statistics_store_negative_zero_as_positive_zero_and_refuse_broken_erases) {
  OrderStatistics set(10);
  set.Insert(-0.0);
  CHECK(!std::signbit(set.Select(0)));
  set.Erase(0.0);
  CHECK_EQ(set.size(), size_t{0});
  CHECK_THROWS_CODE(set.Erase(1.0), codes::kInvalidState);
  set.Insert(2.0);
  CHECK_THROWS_CODE(set.Erase(3.0), codes::kInvalidState);
  CHECK_THROWS_CODE(set.Select(1), codes::kInvalidState);
}

SLUICE_TEST(quantiles_interpolate_linearly_between_order_statistics_as_numpy) {
  // numpy.quantile(x, q) (method "linear") for these: checked by hand.
  auto at = [](std::vector<double> v, double q) { return ReferenceQuantile(std::move(v), q); };
  auto native = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const QuantilePosition p = QuantileAt(q, v.size());
    return Interpolate(v[p.lowRank], v[std::min(p.lowRank + 1, v.size() - 1)], p.fraction);
  };
  for (auto* f : {+at, +native}) {
    CHECK_EQ(f({1, 2, 3, 4}, 0.5), 2.5);
    CHECK_EQ(f({4, 1, 3, 2}, 0.0), 1.0);
    CHECK_EQ(f({4, 1, 3, 2}, 1.0), 4.0);
    CHECK_NEAR(f({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9), 9.1, 1e-12);
    CHECK_EQ(f({7}, 0.99), 7.0);
    CHECK_EQ(f({kInf, kInf}, 0.5), kInf);
    CHECK_EQ(f({-kInf, 1}, 0.5), -kInf);
    CHECK_EQ(f({1, kInf}, 0.25), kInf);
    CHECK_EQ(f({1, kInf}, 0.0), 1.0);
    CHECK(std::isnan(f({-kInf, kInf}, 0.5)));
    CHECK_EQ(f({-1e308, 1e308}, 0.5), 0.0);  // the step overflows: weighed instead
  }
}

SLUICE_TEST(sliding_window_quantiles_equal_sorting_each_window_however_the_stream_is_cut) {
  std::mt19937_64 rng(103);
  for (int trial = 0; trial < 80; ++trial) {
    const uint64_t size = trial % 10 == 0 ? 1 : 1 + rng() % (trial % 3 == 0 ? 300 : 40);
    const uint64_t slide = 1 + rng() % (trial % 4 == 0 ? 2 * size + 3 : 4);  // slide > size too
    const uint32_t channels = 1 + static_cast<uint32_t>(rng() % 3);
    std::vector<double> qs = {0.5, 0.0, 1.0, 0.999, 0.3 + 0.013 * static_cast<double>(rng() % 40)};
    qs.resize(1 + rng() % qs.size());
    std::vector<Aggregate> before;
    // (Not min/max here: with both −0 and +0 in a window their sign of zero depends on the batch cuts.)
    if (trial % 2) before = {Aggregate::kMean, Aggregate::kCount, Aggregate::kLast};
    const SlidingWindowOptions o = QuantileOptions(size, slide, channels, qs, rng() % 2, before);
    const size_t rows = 50 + rng() % 3000;
    const std::vector<double> values = TestValues(rng, rows * channels, trial);
    const std::vector<double> want = ReferenceQuantiles(o, values);
    SlidingWindow whole(o), pieces(o);
    const std::vector<double> one = PushAll(whole, values, {});
    std::vector<size_t> cuts;
    for (int i = 0; i < 12; ++i) cuts.push_back(rng() % 9 == 0 ? 0 : 1 + rng() % 400);
    const std::vector<double> cut = PushAll(pieces, values, cuts);
    if (!BitwiseEqual(one, cut)) {
      for (size_t i = 0; i < std::min(one.size(), cut.size()); ++i) {
        if (std::memcmp(&one[i], &cut[i], 8) != 0) {
          std::printf("trial %d size %zu slide %zu channels %u width %zu: index %zu (column %zu): %.17g vs %.17g\n", trial,
                      size_t(size), size_t(slide), channels, o.aggregates.size(), i, i % o.aggregates.size(), one[i], cut[i]);
          break;
        }
      }
    }
    CHECK(BitwiseEqual(one, cut));
    const std::vector<double> got = QuantileColumns(o, one);
    CHECK_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      if (!(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])))) {
        std::printf("trial %d index %zu: got %.17g want %.17g\n", trial, i, got[i], want[i]);
      }
    }
    CHECK(BitwiseEqual(got, want));
  }
}

SLUICE_TEST(sliding_window_quantiles_of_constant_and_empty_windows) {
  const SlidingWindowOptions o = QuantileOptions(4, 1, 1, {0.5, 0.99}, true, {Aggregate::kCount});
  SlidingWindow window(o);
  const std::vector<double> values = {3, 3, 3, 3, kNaN, kNaN, kNaN, kNaN, 5};
  const std::vector<double> got = PushAll(window, values, {2});
  // count, p50, p99 per row
  const std::vector<double> want = {1, 3, 3, 2, 3, 3, 3, 3, 3, 4, 3, 3, 3, 3, 3, 2, 3, 3, 1, 3, 3, 0, kNaN, kNaN, 1, 5, 5};
  CHECK_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])));
}

SLUICE_TEST(sliding_window_quantiles_survive_parallel_pushes_and_restores_bit_for_bit) {
  std::mt19937_64 rng(107);
  for (int trial = 0; trial < 6; ++trial) {
    const uint64_t size = 1 + rng() % 200;
    SlidingWindowOptions o = QuantileOptions(size, 1 + rng() % 3, 1 + static_cast<uint32_t>(rng() % 2), {0.1, 0.5, 0.9},
                                             rng() % 2, {Aggregate::kSum});
    const size_t rows = 20000;
    const std::vector<double> values = TestValues(rng, (rows + 3000) * o.channels, trial);
    const std::vector<double> first(values.begin(), values.begin() + rows * o.channels);
    const std::vector<double> later(values.begin() + rows * o.channels, values.end());
    SlidingWindow alone(o);
    o.threads = 3;
    SlidingWindow parallel(o), restored(o);
    const uint64_t resync = 2 * ((size + 16 + 7) / 8 * 8);  // resync boundaries (where pushes are cut) often
    for (SlidingWindow* w : {&alone, &parallel, &restored}) w->SetResyncRowsForTesting(resync);
    parallel.SetParallelMinRowsForTesting(64);
    const std::vector<size_t> cuts = {rng() % 50, rows / 2};
    CHECK(BitwiseEqual(PushAll(parallel, first, cuts), PushAll(alone, first, cuts)));
    CHECK(parallel.MemoryBytes() > alone.MemoryBytes());  // the pushes were cut: helpers exist
    const std::vector<uint8_t> bytes = parallel.Snapshot();
    restored.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
    const std::vector<double> want = PushAll(alone, later, {1000});
    CHECK(BitwiseEqual(PushAll(parallel, later, {7}), want));
    CHECK(BitwiseEqual(PushAll(restored, later, {}), want));
  }
}

SLUICE_TEST(sliding_window_restores_a_version_1_snapshot_without_quantiles) {
  // A version-1 payload is version 2's without the quantile list (an empty vector: its u64 count).
  SlidingWindowOptions o;
  o.size = 6;
  o.slide = 2;
  o.channels = 1;
  o.aggregates = {Aggregate::kMean, Aggregate::kMax};
  SlidingWindow window(o), restored(o);
  const std::vector<double> values = {1, 5, 2, 8, 3, 9, 4, kNaN, 6};
  PushAll(window, values, {});
  std::vector<uint8_t> bytes = window.Snapshot();
  // Payload: size, slide (u64), channels (u32), emitPartial (u8), aggregates (u64 count + 2 bytes), quantiles.
  const size_t quantilesAt = 16 + 8 + 8 + 4 + 1 + 8 + 2;
  uint64_t count;
  std::memcpy(&count, bytes.data() + quantilesAt, 8);
  CHECK_EQ(count, uint64_t{0});
  bytes.erase(bytes.begin() + quantilesAt, bytes.begin() + quantilesAt + 8);
  bytes[4] = 1;
  const uint64_t payload = bytes.size() - 20;
  std::memcpy(bytes.data() + 8, &payload, 8);
  const uint32_t crc = Crc32(bytes.data(), bytes.size() - 4);
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  restored.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
  CHECK_EQ(restored.rowsSeen(), window.rowsSeen());
  const std::vector<double> more = {7, 1, 2, 3, 4};
  CHECK(BitwiseEqual(PushAll(restored, more, {}), PushAll(window, more, {})));
}

SLUICE_TEST(sliding_window_refuses_bad_quantile_options_and_other_quantiles_on_restore) {
  CHECK_THROWS_CODE(SlidingWindow(QuantileOptions(5, 1, 1, {-0.01}, false)), codes::kOutOfRange);
  CHECK_THROWS_CODE(SlidingWindow(QuantileOptions(5, 1, 1, {1.5}, false)), codes::kOutOfRange);
  CHECK_THROWS_CODE(SlidingWindow(QuantileOptions(5, 1, 1, {kNaN}, false)), codes::kOutOfRange);
  CHECK_THROWS_CODE(SlidingWindow(QuantileOptions(5, 1, 1, {0.5, 0.5}, false)), codes::kInvalidArgument);
  SlidingWindowOptions missing = QuantileOptions(5, 1, 1, {0.5}, false);
  missing.quantiles.clear();
  CHECK_THROWS_CODE(SlidingWindow{missing}, codes::kInvalidArgument);
  SlidingWindowOptions extra = QuantileOptions(5, 1, 1, {0.5}, false);
  extra.quantiles.push_back(0.7);
  CHECK_THROWS_CODE(SlidingWindow{extra}, codes::kInvalidArgument);
  std::vector<double> many(SlidingWindow::kMaxQuantiles + 1);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<double>(i) / static_cast<double>(many.size());
  CHECK_THROWS_CODE(SlidingWindow(QuantileOptions(5, 1, 1, many, false)), codes::kOutOfRange);

  SlidingWindow window(QuantileOptions(5, 1, 1, {0.5}, false));
  SlidingWindow other(QuantileOptions(5, 1, 1, {0.6}, false));
  const std::vector<double> values = {1, 2, 3, 4, 5, 6};
  PushAll(window, values, {});
  const std::vector<uint8_t> bytes = window.Snapshot();
  CHECK_THROWS_CODE(other.Restore(Span<const uint8_t>(bytes.data(), bytes.size())), codes::kInvalidArgument);
  CHECK_EQ(other.rowsSeen(), int64_t{0});

  EventTimeWindowsOptions eventTime;
  eventTime.aggregates = {Aggregate::kQuantile};
  CHECK_THROWS_CODE(EventTimeWindows{eventTime}, codes::kInvalidArgument);
}

SLUICE_TEST(sliding_window_quantiles_of_windows_larger_than_one_block_equal_sorting) {
  // Above 4096 values the order statistics are kept in several blocks that split and merge.
  std::mt19937_64 rng(109);
  for (int kind : {0, 1, 2}) {
    const SlidingWindowOptions o = QuantileOptions(5000, 37, 1, {0.001, 0.5, 0.99}, kind == 2);
    const std::vector<double> values = TestValues(rng, 16000, kind);
    SlidingWindow whole(o), pieces(o);
    const std::vector<double> got = PushAll(whole, values, {});
    CHECK(BitwiseEqual(got, ReferenceQuantiles(o, values)));
    CHECK(BitwiseEqual(PushAll(pieces, values, {4999, 1, 3000, 17}), got));
  }
}

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#if defined(__SSE2__)
#include <emmintrin.h>
#else
#define _mm_sfence() ((void)0)
#endif

#include "tests/check.h"
#include "base/cpu_features.h"
#include "windows/sliding_window.h"
#include "windows/sliding_window_kernels.h"
#include "tests/simd_levels.h"
#include "base/snapshot.h"

using namespace sluice;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

SlidingWindowOptions Options(uint64_t size, uint64_t slide, uint32_t channels, std::vector<Aggregate> aggregates,
                             bool emitPartial = false) {
  SlidingWindowOptions o;
  o.size = size;
  o.slide = slide;
  o.channels = channels;
  o.aggregates = std::move(aggregates);
  o.emitPartial = emitPartial;
  return o;
}

const std::vector<Aggregate> kAll = {Aggregate::kCount, Aggregate::kSum, Aggregate::kMean,  Aggregate::kMin, Aggregate::kMax,
                                     Aggregate::kVar,   Aggregate::kStd, Aggregate::kFirst, Aggregate::kLast};

std::vector<double> PushAll(SlidingWindow& window, const std::vector<double>& values, const std::vector<size_t>& cuts) {
  std::vector<double> result;
  size_t at = 0;
  const size_t channels = window.options().channels;
  auto push = [&](size_t rows) {
    std::vector<double> out(window.WindowsFor(rows) * window.windowWidth() + 1);
    const uint64_t n = window.Push(Span<const double>(values.data() + at * channels, rows * channels),
                                   Span<double>(out.data(), out.size()));
    result.insert(result.end(), out.begin(), out.begin() + n * window.windowWidth());
    at += rows;
  };
  for (size_t cut : cuts) push(cut);
  push(values.size() / channels - at);
  return result;
}

// The reference: every emitted window recomputed from its rows with Accumulator and Finalize.
std::vector<double> Naive(const SlidingWindowOptions& o, const std::vector<double>& values) {
  std::vector<double> result;
  const int64_t rows = static_cast<int64_t>(values.size() / o.channels);
  const int64_t size = static_cast<int64_t>(o.size), slide = static_cast<int64_t>(o.slide);
  for (int64_t r = 0; r < rows; ++r) {
    if (r < size - 1 && !o.emitPartial) continue;
    if (((r - (size - 1)) % slide + slide) % slide != 0) continue;
    for (uint32_t c = 0; c < o.channels; ++c) {
      Accumulator acc;
      double ieeeSum = 0;
      bool infinite = false;
      for (int64_t i = std::max<int64_t>(0, r - size + 1); i <= r; ++i) {
        const double x = values[i * o.channels + c];
        acc.Add(x);
        if (!std::isnan(x)) ieeeSum += x;
        infinite = infinite || std::isinf(x);
      }
      Summary s = acc.ToSummary();
      // ±∞ propagate as in plain IEEE arithmetic: sum and mean ±∞ (NaN with both), var/std NaN. (The
      // shared Accumulator's compensation and Finalize's fmax(m2, 0) would give NaN and 0 instead.)
      if (infinite) {
        s.sum = ieeeSum;
        s.mean = ieeeSum / s.count;
      }
      for (Aggregate a : o.aggregates) {
        const bool spread = a == Aggregate::kVar || a == Aggregate::kStd;
        result.push_back(infinite && spread ? kNaN : Finalize(a, s));
      }
    }
  }
  return result;
}

void CheckClose(const std::vector<double>& got, const std::vector<double>& want, double scale) {
  CHECK_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]) || std::isinf(want[i])) {
      if (std::isnan(want[i])) {
        if (!std::isnan(got[i])) std::printf("index %zu: got %g, want NaN\n", i, got[i]);
        CHECK(std::isnan(got[i]));
      } else {
        CHECK_EQ(got[i], want[i]);
      }
      continue;
    }
    if (!(std::fabs(got[i] - want[i]) <= 1e-9 * (scale + std::fabs(want[i])))) std::printf("index %zu\n", i);
    CHECK_NEAR(got[i], want[i], 1e-9 * (scale + std::fabs(want[i])));
  }
}

bool BitwiseEqual(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

std::vector<double> RandomValues(std::mt19937_64& rng, size_t count, double offset, double nanRate, double infRate) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> v(count);
  for (auto& x : v) {
    const double p = u(rng);
    x = p < nanRate ? kNaN : p < nanRate + infRate ? (u(rng) < 0.5 ? kInf : -kInf) : offset + 10 * (u(rng) - 0.5);
  }
  return v;
}

}  // namespace

SLUICE_TEST(sliding_window_matches_naive_for_random_options) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    const uint64_t size = 1 + rng() % 40;
    const uint64_t slide = 1 + rng() % 12;
    const uint32_t channels = 1 + rng() % 3;
    const bool partial = rng() % 2;
    const double nanRate = trial % 3 == 0 ? 0.0 : 0.15, infRate = trial % 5 == 0 ? 0.02 : 0.0;
    const SlidingWindowOptions o = Options(size, slide, channels, kAll, partial);
    const std::vector<double> values = RandomValues(rng, channels * (200 + rng() % 300), trial % 2 ? 1e6 : 0, nanRate, infRate);
    SlidingWindow window(o);
    CheckClose(PushAll(window, values, {}), Naive(o, values), 1e6);
  }
}

SLUICE_TEST(sliding_window_many_channels_match_naive_whatever_the_gather_blocks) {
  // More channels than one gather block holds (blocks of ⌊16 / #aggregates⌋ channels, the last one partial).
  std::mt19937_64 rng(61);
  for (uint32_t channels : {5u, 17u, 20u, 33u}) {
    std::vector<Aggregate> aggregates = kAll;
    std::shuffle(aggregates.begin(), aggregates.end(), rng);
    aggregates.resize(1 + rng() % 4);
    const SlidingWindowOptions o = Options(1 + rng() % 30, 1 + rng() % 3, channels, aggregates, rng() % 2);
    const std::vector<double> values = RandomValues(rng, channels * (1500 + rng() % 500), 1e3, 0.05, 0.01);
    SlidingWindow window(o);
    CheckClose(PushAll(window, values, {rng() % 700, 1 + rng() % 5}), Naive(o, values), 1e3);
  }
}

SLUICE_TEST(sliding_window_memory_follows_the_documented_formula) {
  // docs/windows.md: per channel 8·(size + 1040) bytes of ring (rounded up to 64 bytes), 16·(max(1, ⌊size/2⌋) + 1)
  // for each of min and max, 8·size for first, ~270 of state; per window 8·(R·g·#aggregates + 5200) bytes
  // of scratch for R rows of g channels gathered at once: R = ⌊16384 / (channels·#aggregates)⌋ rounded
  // down to 8, within [8, 1024], and g = ⌊16384 / (R·#aggregates)⌋ within [1, channels].
  for (uint64_t size : {1u, 10u, 1000u}) {
    for (uint32_t channels : {1u, 3u, 40u, 5000u}) {
      for (const std::vector<Aggregate>& aggregates :
           {std::vector<Aggregate>{Aggregate::kMean}, std::vector<Aggregate>{Aggregate::kMin, Aggregate::kMax, Aggregate::kFirst}, kAll}) {
        if (channels == 5000 && size == 1000) continue;  // 5000 channels × size 1000: fine, but slow under ASan
        const SlidingWindow window(Options(size, 1, channels, aggregates));
        const double a = static_cast<double>(aggregates.size());
        const double rows = std::clamp(std::floor(16384 / (channels * a) / 8) * 8, 8.0, 1024.0);
        const double g = std::clamp(std::floor(16384 / (rows * a)), 1.0, static_cast<double>(channels));
        const bool several = aggregates.size() > 1;  // the three-aggregate set has min, max and first
        const double perChannel = 64 * std::ceil((size + 1040) / 8.0) + (several ? 2 * 16.0 * (std::max<uint64_t>(1, size / 2) + 1) + 8.0 * size : 0.0);
        const double expected = channels * perChannel + 8 * (rows * g * a + 5200);
        const double got = static_cast<double>(window.MemoryBytes());
        if (!(got >= expected && got <= expected + 1024 + 300.0 * channels)) {
          std::printf("size %llu channels %u aggregates %zu: %g bytes, formula %g\n", static_cast<unsigned long long>(size),
                      channels, aggregates.size(), got, expected);
        }
        CHECK(got >= expected && got <= expected + 1024 + 300.0 * channels);
      }
    }
  }
}

SLUICE_TEST(sliding_window_is_independent_of_batch_cuts_bit_for_bit) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 30; ++trial) {
    const uint64_t size = 1 + rng() % 50;
    const SlidingWindowOptions o = Options(size, 1 + rng() % 5, 1 + rng() % 2, kAll, rng() % 2);
    const std::vector<double> values = RandomValues(rng, o.channels * 3000, 1e3, trial % 2 ? 0.05 : 0.0, 0.0);
    SlidingWindow whole(o), split(o);
    std::vector<size_t> cuts;
    for (size_t rows = 0; rows < 2800;) {
      const size_t n = std::min<size_t>(2800 - rows, rng() % 3 == 0 ? rng() % 4 : rng() % 700);
      cuts.push_back(n);
      rows += n;
    }
    CHECK(BitwiseEqual(PushAll(whole, values, {}), PushAll(split, values, cuts)));
  }
}

SLUICE_TEST(sliding_window_fast_and_general_paths_agree_bit_for_bit) {
  std::mt19937_64 rng(13);
  for (uint64_t size : {1, 3, 8, 100, 1000}) {
    const SlidingWindowOptions o = Options(size, 1, 1, kAll);
    std::vector<double> values = RandomValues(rng, 20000, -5e5, 0.0, 0.0);
    values[7] = kNaN;  // the general path near the start, the fast path later
    SlidingWindow fast(o), general(o);
    general.ForceGeneralPathForTesting(true);
    CHECK(BitwiseEqual(PushAll(fast, values, {5000}), PushAll(general, values, {5000})));
  }
}

SLUICE_TEST(sliding_window_simd_kernels_match_the_portable_one_bit_for_bit) {
  std::mt19937_64 rng(17);
  const size_t capacity = 64;
  std::vector<double> ring = RandomValues(rng, capacity + 8, 3e4, 0.0, 0.0);
  std::memcpy(ring.data() + capacity, ring.data(), 8 * sizeof(double));
  const int supported = static_cast<int>(DetectSimdLevel());
  for (int level = 0; level <= supported; ++level) {
    WindowSums a, b;
    a.shift = b.shift = 3e4 + 0.25;
    a.s1Hi = b.s1Hi = 1e-3;
    a.s2Hi = b.s2Hi = 7.5;
    a.count = b.count = 1000;
    std::vector<double> rowsA(5 * 80), rowsB(5 * 80);
    auto outputs = [](std::vector<double>& rows) {
      SumOutputs o;
      o.count = rows.data();
      o.sum = rows.data() + 80;
      o.mean = rows.data() + 160;
      o.var = rows.data() + 240;
      o.std = rows.data() + 320;
      return o;
    };
    SumGroupsKernelPortable()(ring.data(), capacity, 16, 13, 10, &a, outputs(rowsA));
    SumGroupsKernelFor(level)(ring.data(), capacity, 16, 13, 10, &b, outputs(rowsB));
    CHECK(BitwiseEqual(rowsA, rowsB));
    CHECK_EQ(a.s1Hi, b.s1Hi);
    CHECK_EQ(a.s1Lo, b.s1Lo);
    CHECK_EQ(a.s2Hi, b.s2Hi);
    CHECK_EQ(a.s2Lo, b.s2Lo);
    // Only the mean: the same means.
    std::vector<double> meanOnly(80);
    SumOutputs o;
    o.mean = meanOnly.data();
    WindowSums c = b;
    SumGroupsKernelFor(level)(ring.data(), capacity, 0, 61, 3, &c, o);
    std::vector<double> meanAll(5 * 80);
    WindowSums d = b;
    SumGroupsKernelPortable()(ring.data(), capacity, 0, 61, 3, &d, outputs(meanAll));
    CHECK(std::memcmp(meanOnly.data(), meanAll.data() + 160, 24 * sizeof(double)) == 0);
    // Only var (the kernels carry s1 and s2 together then), with a prefetch cursor: the same values, and
    // the cursor advances one line per group without passing its end.
    std::vector<double> varOnly(80);
    const std::vector<double> input(64);
    InputPrefetch prefetch{reinterpret_cast<const char*>(input.data()), reinterpret_cast<const char*>(input.data() + 16)};
    SumOutputs v;
    v.var = varOnly.data();
    v.prefetch = &prefetch;
    WindowSums e = b;
    SumGroupsKernelFor(level)(ring.data(), capacity, 0, 61, 3, &e, v);
    CHECK(std::memcmp(varOnly.data(), meanAll.data() + 240, 24 * sizeof(double)) == 0);
    CHECK_EQ(e.s2Hi, d.s2Hi);
    CHECK_EQ(e.s2Lo, d.s2Lo);
    CHECK_EQ(e.s1Hi, d.s1Hi);
    CHECK(prefetch.next == reinterpret_cast<const char*>(input.data() + 16));
  }
}

SLUICE_TEST(sliding_window_gather_kernels_transpose_exactly_at_every_simd_level) {
  // out[w·step + v] = source[v·stride + w], for shapes around the 8 × 8 blocks, leaving the gaps between rows
  // (step > values) and everything past the last row untouched.
  std::mt19937_64 rng(67);
  const int supported = static_cast<int>(DetectSimdLevel());
  for (int level = 0; level <= supported; ++level) {
    const GatherKernel gather = GatherKernelFor(level);
    for (size_t values : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{16}, size_t{21}}) {
      for (size_t count : {size_t{0}, size_t{5}, size_t{8}, size_t{15}, size_t{64}}) {
        const size_t stride = count + rng() % 9, step = values + rng() % 3;
        std::vector<double> source = RandomValues(rng, values * stride + 1, 0, 0.1, 0.05);
        std::vector<double> out(count * step + 5, -7.0);
        gather(source.data(), stride, values, count, out.data(), step);
        for (size_t w = 0; w < count; ++w) {
          for (size_t v = 0; v < step; ++v) {
            const double want = v < values ? source[v * stride + w] : -7.0;
            CHECK(std::memcmp(&out[w * step + v], &want, sizeof(double)) == 0);
          }
        }
        for (size_t i = count * step; i < out.size(); ++i) CHECK_EQ(out[i], -7.0);
      }
    }
  }
}

SLUICE_TEST(sliding_window_ring_copy_kernels_convert_and_find_non_finite_values_at_every_simd_level) {
  std::mt19937_64 rng(5);
  const int supported = static_cast<int>(DetectSimdLevel());
  for (int level = 0; level <= supported; ++level) {
    const RingCopyKernels kernels = RingCopyKernelsFor(level);
    for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{8}, size_t{13}, size_t{64}, size_t{67}}) {
      std::vector<double> doubles = RandomValues(rng, n, 1e3, 0.0, 0.0);
      std::vector<float> floats(n);
      for (size_t i = 0; i < n; ++i) floats[i] = static_cast<float>(doubles[i]);
      std::vector<double> target(n + 1, -7.0);
      CHECK(!kernels.fromDouble(doubles.data(), n, target.data()));
      CHECK(n == 0 || std::memcmp(target.data(), doubles.data(), n * sizeof(double)) == 0);
      CHECK_EQ(target[n], -7.0);  // nothing written past the end
      CHECK(!kernels.fromFloat(floats.data(), n, target.data()));
      for (size_t i = 0; i < n; ++i) CHECK_EQ(target[i], static_cast<double>(floats[i]));
      // One non-finite value anywhere (SIMD body or tail) is found, in either input type.
      for (size_t at = 0; at < n; ++at) {
        for (double bad : {kNaN, kInf, -kInf}) {
          std::vector<double> d = doubles;
          std::vector<float> f = floats;
          d[at] = bad;
          f[at] = static_cast<float>(bad);
          CHECK(kernels.fromDouble(d.data(), n, target.data()));
          CHECK(kernels.fromFloat(f.data(), n, target.data()));
        }
      }
    }
    // The largest finite values are finite; float values beyond double's range do not exist.
    const double largest[2] = {std::numeric_limits<double>::max(), -std::numeric_limits<double>::max()};
    double copied[2];
    CHECK(!kernels.fromDouble(largest, 2, copied));
  }
}

SLUICE_TEST(sliding_window_nan_only_windows_follow_the_policy) {
  const SlidingWindowOptions o = Options(3, 1, 1, kAll, true);
  SlidingWindow window(o);
  const std::vector<double> values = {kNaN, kNaN, kNaN, 2.0, kNaN, 4.0, kNaN, kNaN, kNaN};
  const std::vector<double> got = PushAll(window, values, {2, 1});
  CheckClose(got, Naive(o, values), 1);
  // The first three windows and the last hold no value: count 0, sum 0, NaN for the others.
  for (size_t w : {size_t{0}, size_t{1}, size_t{2}, size_t{8}}) {
    CHECK_EQ(got[w * 9 + 0], 0.0);
    CHECK_EQ(got[w * 9 + 1], 0.0);
    for (int a = 2; a < 9; ++a) CHECK(std::isnan(got[w * 9 + a]));
  }
}

SLUICE_TEST(sliding_window_snapshot_restore_continues_bit_for_bit) {
  std::mt19937_64 rng(19);
  for (uint64_t size : {1, 7, 64, 333}) {
    const SlidingWindowOptions o = Options(size, 1 + rng() % 3, 2, kAll, true);
    const std::vector<double> values = RandomValues(rng, 2 * 5000, 100, 0.03, 0.0);
    SlidingWindow reference(o);
    const std::vector<double> want = PushAll(reference, values, {});
    SlidingWindow first(o);
    const size_t stop = 1234 + rng() % 1000;
    std::vector<double> got = PushAll(first, std::vector<double>(values.begin(), values.begin() + 2 * stop), {});
    const std::vector<uint8_t> bytes = first.Snapshot();
    SlidingWindow second(o);
    second.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
    CHECK_EQ(second.rowsSeen(), static_cast<int64_t>(stop));
    const std::vector<double> rest = PushAll(second, std::vector<double>(values.begin() + 2 * stop, values.end()), {});
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(BitwiseEqual(got, want));
  }
}

SLUICE_TEST(sliding_window_restore_rejects_other_options_and_corruption_without_change) {
  const SlidingWindowOptions o = Options(5, 1, 1, {Aggregate::kSum});
  SlidingWindow window(o);
  std::vector<double> out(16);
  const std::vector<double> values = {1, 2, 3, 4, 5, 6};
  window.Push(Span<const double>(values.data(), 6), Span<double>(out.data(), out.size()));
  std::vector<uint8_t> bytes = window.Snapshot();
  SlidingWindow other(Options(6, 1, 1, {Aggregate::kSum}));
  CHECK_THROWS_CODE(other.Restore(Span<const uint8_t>(bytes.data(), bytes.size())), codes::kInvalidArgument);
  CHECK_EQ(other.rowsSeen(), int64_t{0});
  bytes[bytes.size() / 2] ^= 1;
  CHECK_THROWS_CODE(window.Restore(Span<const uint8_t>(bytes.data(), bytes.size())), codes::kMalformedData);
  CHECK_EQ(window.rowsSeen(), int64_t{6});
  const double next = 7;
  CHECK_EQ(window.Push(Span<const double>(&next, 1), Span<double>(out.data(), out.size())), uint64_t{1});
  CHECK_EQ(out[0], 3.0 + 4 + 5 + 6 + 7);
}

SLUICE_TEST(sliding_window_rejects_bad_options_and_input_before_changing_state) {
  CHECK_THROWS_CODE(SlidingWindow(Options(0, 1, 1, {Aggregate::kSum})), codes::kOutOfRange);
  CHECK_THROWS_CODE(SlidingWindow(Options(3, 0, 1, {Aggregate::kSum})), codes::kOutOfRange);
  CHECK_THROWS_CODE(SlidingWindow(Options(3, 1, 0, {Aggregate::kSum})), codes::kOutOfRange);
  CHECK_THROWS_CODE(SlidingWindow(Options(3, 1, 1, {})), codes::kInvalidArgument);
  CHECK_THROWS_CODE(SlidingWindow(Options(3, 1, 1, {Aggregate::kSum, Aggregate::kSum})), codes::kInvalidArgument);
  SlidingWindow window(Options(2, 1, 2, {Aggregate::kSum, Aggregate::kMax}));
  std::vector<double> out(8);
  const std::vector<double> values = {1, 2, 3, 4, 5};
  CHECK_THROWS_CODE(window.Push(Span<const double>(values.data(), 5), Span<double>(out.data(), 8)), codes::kInvalidLength);
  CHECK_THROWS_CODE(window.Push(Span<const double>(values.data(), 4), Span<double>(out.data(), 3)), codes::kInvalidLength);
  CHECK_EQ(window.rowsSeen(), int64_t{0});
  CHECK_EQ(window.Push(Span<const double>(values.data(), 4), Span<double>(out.data(), 4)), uint64_t{1});
  CHECK_EQ(out[0], 4.0);  // channel 0: 1 + 3
  CHECK_EQ(out[1], 3.0);
  CHECK_EQ(out[2], 6.0);  // channel 1: 2 + 4
  CHECK_EQ(out[3], 4.0);
}

SLUICE_TEST(sliding_window_float_input_equals_its_double_conversion) {
  std::mt19937_64 rng(23);
  const SlidingWindowOptions o = Options(17, 2, 3, kAll, true);
  std::vector<float> f(3 * 2000);
  for (auto& x : f) x = static_cast<float>(rng() % 1000) / 7.0f;
  f[100] = std::numeric_limits<float>::quiet_NaN();
  std::vector<double> d(f.begin(), f.end());
  SlidingWindow a(o), b(o);
  std::vector<double> outA(a.WindowsFor(2000) * a.windowWidth()), outB(outA.size());
  a.Push(Span<const float>(f.data(), f.size()), Span<double>(outA.data(), outA.size()));
  b.Push(Span<const double>(d.data(), d.size()), Span<double>(outB.data(), outB.size()));
  CHECK(BitwiseEqual(outA, outB));
}

SLUICE_TEST(sliding_window_long_stream_does_not_drift) {
  // 2·10^6 rows around 10^6 with a spike of 10^15 early on: the final window's sum, mean and var stay
  // within a few ulps of a recomputation in long double.
  std::mt19937_64 rng(29);
  const uint64_t size = 1000;
  SlidingWindow window(Options(size, 1, 1, {Aggregate::kSum, Aggregate::kMean, Aggregate::kVar}));
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> batch(100000), out(3 * 100000);
  for (int b = 0; b < 20; ++b) {
    for (auto& x : batch) x = 1e6 + u(rng);
    if (b == 1) batch[5] = 1e15;
    window.Push(Span<const double>(batch.data(), batch.size()), Span<double>(out.data(), out.size()));
  }
  long double sum = 0;
  for (size_t i = batch.size() - size; i < batch.size(); ++i) sum += batch[i];
  const long double mean = sum / size;
  long double m2 = 0;
  for (size_t i = batch.size() - size; i < batch.size(); ++i) m2 += (batch[i] - mean) * (batch[i] - mean);
  const double* last = out.data() + 3 * (batch.size() - 1);
  CHECK_NEAR(last[0], static_cast<double>(sum), 1e-6);
  CHECK_NEAR(last[1], static_cast<double>(mean), 1e-9);
  CHECK_NEAR(last[2], static_cast<double>(m2 / (size - 1)), 1e-9);
}

SLUICE_TEST(sliding_window_large_pushes_stream_the_same_results) {
  // An output of ≥ 4 MB is written with non-temporal stores: same bits as many small pushes.
  std::mt19937_64 rng(31);
  for (Aggregate a : {Aggregate::kMean, Aggregate::kMax, Aggregate::kVar}) {
    const SlidingWindowOptions o = Options(1000, 1, 1, {a});
    const std::vector<double> values = RandomValues(rng, 700000, 50, 0.0, 0.0);
    SlidingWindow split(o);
    const std::vector<double> want = PushAll(split, values, {1000, 3, 5000, 77777});
    // `out` on a cache line (the kernels stream into it) and at odd offsets (streaming copy, unaligned head).
    std::vector<double> storage(values.size() + 72);
    double* buffer = storage.data();
    while ((reinterpret_cast<uintptr_t>(buffer) & 63) != 0) ++buffer;
    for (size_t offset : {size_t{0}, size_t{1}, size_t{3}}) {
      SlidingWindow whole(o);
      const uint64_t n = whole.Push(Span<const double>(values.data(), values.size()), Span<double>(buffer + offset, values.size()));
      CHECK(BitwiseEqual(std::vector<double>(buffer + offset, buffer + offset + n), want));
    }
  }
}

SLUICE_TEST(sliding_window_min_max_kernels_agree_at_every_simd_level) {
  std::mt19937_64 rng(37);
  const int supported = static_cast<int>(DetectSimdLevel());
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{100}, size_t{1003}}) {
    const std::vector<double> x = RandomValues(rng, n, 0, 0.0, 0.0);
    std::vector<double> suffix = RandomValues(rng, n, 0, 0.0, 0.0);
    if (n > 0) suffix[n - 1] = kNaN;  // the sentinel
    for (auto kernelsFor : {&MaxKernelsFor, &MinKernelsFor}) {
      const ExtremeKernels reference = kernelsFor(0);
      std::vector<double> outA(n), outB(n), sufA(n), sufB(n);
      const double fa = reference.forward(x.data(), n, 1.5, 0.25, suffix.data(), outA.data(), false, nullptr);
      const double ba = reference.backward(x.data(), n, -0.5, sufA.data());
      for (int level = 0; level <= supported; ++level) {
        const ExtremeKernels k = kernelsFor(level);
        CHECK_EQ(k.forward(x.data(), n, 1.5, 0.25, suffix.data(), outB.data(), level % 2 == 1, nullptr), fa);
        _mm_sfence();
        CHECK_EQ(k.backward(x.data(), n, -0.5, sufB.data()), ba);
        CHECK(BitwiseEqual(outA, outB));
        CHECK(BitwiseEqual(sufA, sufB));
      }
      // And against a plain recomputation.
      const bool isMax = kernelsFor == &MaxKernelsFor;
      auto pick = [&](double a, double b) { return isMax ? std::max(a, b) : std::min(a, b); };
      double carry = 1.5;
      for (size_t i = 0; i < n; ++i) {
        carry = pick(carry, x[i]);
        const double withExtra = pick(0.25, carry);
        CHECK_EQ(outA[i], std::isnan(suffix[i]) ? withExtra : pick(suffix[i], withExtra));
      }
    }
  }
}

SLUICE_TEST(sliding_window_resyncs_keep_results_exact_and_independent_of_cuts) {
  // Resync every few windows: results still match the naive recomputation, do not depend on batch cuts
  // or on a snapshot taken in the middle of a fresh accumulation, and follow a drifting stream.
  std::mt19937_64 rng(41);
  for (int trial = 0; trial < 24; ++trial) {
    const uint64_t size = 1 + rng() % 30;
    const uint64_t resync = (size + 16 + rng() % 40 + 7) / 8 * 8;
    const SlidingWindowOptions o = Options(size, 1 + rng() % 3, 1 + rng() % 2, kAll, rng() % 2);
    std::vector<double> values = RandomValues(rng, o.channels * 4000, 0, trial % 3 == 0 ? 0.1 : 0.0, trial % 4 == 0 ? 0.01 : 0.0);
    for (size_t i = 0; i < values.size(); ++i) values[i] += 1e6 + 1e3 * static_cast<double>(i);  // drifting far from the first value
    SlidingWindow whole(o), split(o), first(o);
    whole.SetResyncRowsForTesting(resync);
    split.SetResyncRowsForTesting(resync);
    first.SetResyncRowsForTesting(resync);
    const std::vector<double> want = PushAll(whole, values, {});
    CheckClose(want, Naive(o, values), 1e6);
    std::vector<size_t> cuts;
    for (size_t rows = 0; rows < 3900;) {
      const size_t n = std::min<size_t>(3900 - rows, rng() % 3 == 0 ? rng() % 4 : rng() % 90);
      cuts.push_back(n);
      rows += n;
    }
    CHECK(BitwiseEqual(PushAll(split, values, cuts), want));
    // Snapshot at a random row, restore into a fresh window, continue.
    const size_t stop = 1 + rng() % 3998;
    std::vector<double> got = PushAll(first, std::vector<double>(values.begin(), values.begin() + o.channels * stop), {});
    const std::vector<uint8_t> bytes = first.Snapshot();
    SlidingWindow second(o);
    second.SetResyncRowsForTesting(resync);
    second.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
    const std::vector<double> rest = PushAll(second, std::vector<double>(values.begin() + o.channels * stop, values.end()), {});
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(BitwiseEqual(got, want));
  }
}

SLUICE_TEST(sliding_window_restore_survives_forged_snapshots) {
  // Random bytes changed and the checksum recomputed, so the parser itself is exercised: restore either
  // refuses (with a code, state unchanged) or accepts, and pushing afterwards never reads out of bounds
  // (ASan checks that in `npm test`).
  std::mt19937_64 rng(43);
  const SlidingWindowOptions o = Options(9, 2, 2, kAll, true);
  SlidingWindow source(o);
  const std::vector<double> values = RandomValues(rng, 2 * 100, 5, 0.1, 0.02);
  PushAll(source, values, {});
  const std::vector<uint8_t> bytes = source.Snapshot();
  int refused = 0, accepted = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::vector<uint8_t> forged = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) forged[16 + rng() % (forged.size() - 20)] ^= static_cast<uint8_t>(1u << (rng() % 8));
    const uint32_t crc = Crc32(forged.data(), forged.size() - 4);
    std::memcpy(forged.data() + forged.size() - 4, &crc, 4);
    SlidingWindow target(o);
    try {
      target.Restore(Span<const uint8_t>(forged.data(), forged.size()));
    } catch (const CoreError& e) {
      const std::string code = e.code();
      CHECK(code == codes::kMalformedData || code == codes::kInvalidArgument);
      CHECK_EQ(target.rowsSeen(), int64_t{0});
      ++refused;
      continue;
    }
    ++accepted;
    if (target.rowsSeen() > (int64_t{1} << 40)) continue;  // a forged row count: pushing is still checked
    std::vector<double> out(4096);
    target.Push(Span<const double>(values.data(), 2 * 50), Span<double>(out.data(), out.size()));
  }
  CHECK(refused > 0 && accepted > 0);  // both paths exercised
}

SLUICE_TEST(sliding_window_check_push_finds_what_push_refuses_and_changes_nothing) {
  SlidingWindow window(Options(4, 1, 2, {Aggregate::kSum, Aggregate::kMax}));
  std::vector<double> values(16, 1.0), out(64);
  PushAll(window, values, {});
  const std::vector<uint8_t> before = window.Snapshot();
  // Good input: the windows push would write, nothing else.
  CHECK_EQ(window.CheckPush(Span<const double>(values.data(), 16), Span<double>(out.data(), out.size())), uint64_t{8});
  CHECK_EQ(window.rowsSeen(), int64_t{8});
  // Bad input: the code push throws, and the state is as it was.
  CHECK_THROWS_CODE(window.CheckPush(Span<const double>(values.data(), 15), Span<double>(out.data(), out.size())),
                    codes::kInvalidLength);
  CHECK_THROWS_CODE(window.CheckPush(Span<const double>(values.data(), 16), Span<double>(out.data(), 31)),
                    codes::kInvalidLength);
  CHECK_THROWS_CODE(window.CheckPush(Span<const double>(out.data(), 16), Span<double>(out.data() + 8, 40)),
                    codes::kInvalidArgument);
  CHECK_THROWS_CODE(window.Push(Span<const double>(out.data(), 16), Span<double>(out.data() + 8, 40)),
                    codes::kInvalidArgument);
  CHECK(window.Snapshot() == before);
}

SLUICE_TEST(sliding_window_parallel_pushes_equal_one_thread_bit_for_bit) {
  // Pushes cut into pieces for helpers give exactly the one-thread results and leave a state that behaves
  // exactly like one thread's afterwards (in later pushes, and restored from a snapshot), for random
  // options and streams with NaN, ±∞ and NaN stretches long enough that whole windows at a cut hold no
  // finite value. (The snapshot bytes may differ where the state is not observable: slots of the
  // first-value FIFO, a stale row index before every window.)
  std::mt19937_64 rng(53);
  for (int trial = 0; trial < 40; ++trial) {
    const uint64_t size = 1 + rng() % 60;
    const uint64_t resync = (size + 16 + rng() % 80 + 7) / 8 * 8;
    std::vector<Aggregate> aggregates = kAll;
    std::shuffle(aggregates.begin(), aggregates.end(), rng);
    aggregates.resize(1 + rng() % aggregates.size());
    const uint64_t slide = 1 + rng() % (trial % 3 == 0 ? 2 * size + 3 : 4);  // sometimes hopping windows (slide > size)
    SlidingWindowOptions o = Options(size, slide, 1 + rng() % 3, aggregates, rng() % 2);
    const size_t rows = 6000 + rng() % 3000, later = 500 + rng() % 500;
    std::vector<double> values = RandomValues(rng, o.channels * (rows + 2 * later), trial % 2 ? 1e6 : 0,
                                              trial % 3 == 0 ? 0.1 : 0.0, trial % 4 == 0 ? 0.01 : 0.0);
    if (trial % 5 == 0) {  // long NaN stretches
      for (size_t start = rng() % 500; start + 200 < rows; start += 400 + rng() % 400) {
        const size_t length = size + rng() % 200;
        for (size_t r = start; r < std::min(rows, start + length); ++r) values[r * o.channels] = kNaN;
      }
    }
    auto part = [&](size_t from, size_t to) {
      return std::vector<double>(values.begin() + o.channels * from, values.begin() + o.channels * to);
    };
    SlidingWindow alone(o);
    o.threads = 2 + static_cast<uint32_t>(rng() % 3);
    SlidingWindow parallel(o), restored(o);
    for (SlidingWindow* w : {&alone, &parallel, &restored}) {
      w->SetResyncRowsForTesting(resync);
      w->SetParallelMinRowsForTesting(64);
    }
    const std::vector<size_t> cuts = {rng() % 50, rows / 2 + rng() % 100, 1 + rng() % 7};
    CHECK(BitwiseEqual(PushAll(parallel, part(0, rows), cuts), PushAll(alone, part(0, rows), cuts)));
    CHECK_EQ(parallel.rowsSeen(), alone.rowsSeen());
    CHECK(parallel.MemoryBytes() > alone.MemoryBytes());  // the pushes were cut: helpers exist
    const std::vector<uint8_t> bytes = parallel.Snapshot();
    restored.Restore(Span<const uint8_t>(bytes.data(), bytes.size()));
    const std::vector<double> want = PushAll(alone, part(rows, rows + 2 * later), {later});
    CHECK(BitwiseEqual(PushAll(parallel, part(rows, rows + 2 * later), {later}), want));
    CHECK(BitwiseEqual(PushAll(restored, part(rows, rows + 2 * later), {later}), want));
  }
}

SLUICE_TEST(sliding_window_parallel_push_cuts_large_pushes_by_default) {
  // Default settings: a push of 2^18 rows with threads 2 is cut (helpers are created) and still equals
  // one thread's results bit for bit, at every SIMD level.
  std::mt19937_64 rng(59);
  const std::vector<double> values = RandomValues(rng, 1 << 18, 100, 0.0, 0.0);
  for (SimdLevel simd : test::SupportedLevels()) {
    const int level = static_cast<int>(simd);
    SlidingWindowOptions o = Options(1000, 1, 1, {Aggregate::kMean, Aggregate::kVar, Aggregate::kMax});
    SlidingWindow alone(o);
    o.threads = 2;
    SlidingWindow parallel(o);
    alone.SetSimdLevelForTesting(level);
    parallel.SetSimdLevelForTesting(level);
    const size_t before = parallel.MemoryBytes();
    CHECK(BitwiseEqual(PushAll(parallel, values, {}), PushAll(alone, values, {})));
    CHECK(parallel.MemoryBytes() > before);  // it was cut: a helper holds a second state
  }
}

// Sliding exact quantiles at the order-statistic level: a window of n over 10^6 normal doubles, slide 1; per
// value one Replace(leaving, entering) and Select(n/2) (p50), or SelectSorted of p50, p90 and p99's six
// ranks. ns per value (wall and this thread's CPU time), fastest of 5 passes, for OrderStatistics with the
// block size it chooses and with forced block sizes, against a flat sorted array in the same process (two
// branch-free binary searches and one memmove of the values between the two places: what OrderStatistics
// did up to capacity 4096 before the blocks). Build and run from the repository root (after a core build,
// e.g. node scripts/test-core.js --no-sanitize):
//   g++ -O2 -std=c++17 -Inative/core bench/native/order_statistics.cc build/core-tests/libsluice_core.a -lpthread -o /tmp/order_statistics
//   /tmp/order_statistics
// To time another version of OrderStatistics in the same process as "before" (e.g. main's), put its
// order_statistics.{h,cc} in DIR/windows/, compile it into its own namespace and add it to the line above:
//   g++ -O3 -std=c++17 -IDIR -Inative/core -Dsluice=sluice_before -c DIR/windows/order_statistics.cc -o /tmp/before.o
//   ... -DSLUICE_BENCH_BEFORE='"DIR/windows/order_statistics.h"' /tmp/before.o
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#ifdef SLUICE_BENCH_BEFORE
#define sluice sluice_before
#include SLUICE_BENCH_BEFORE
#undef sluice
#endif
#include "windows/order_statistics.h"

namespace {

struct Timing {
  double wallNs = 1e300, cpuNs = 1e300;
};

double ThreadCpuNs() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return 1e9 * static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec);
}

template <typename F>
Timing Fastest(int passes, F&& f) {
  Timing best;
  for (int i = 0; i < passes; ++i) {
    const double cpu0 = ThreadCpuNs();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best.wallNs = std::min(best.wallNs, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
    best.cpuNs = std::min(best.cpuNs, ThreadCpuNs() - cpu0);
  }
  return best;
}

// The flat sorted array peer.
class FlatSorted {
 public:
  explicit FlatSorted(size_t capacity) : values_(capacity + 1) {}
  void Insert(double x) {
    double* at = values_.data() + Count<false>(x);
    std::memmove(at + 1, at, static_cast<size_t>(values_.data() + n_ - at) * sizeof(double));
    *at = x;
    ++n_;
  }
  void Replace(double old, double x) {
    double* v = values_.data();
    const size_t i = Count<true>(old), j = Count<false>(x);
    if (j > i) {
      std::memmove(v + i, v + i + 1, (j - 1 - i) * sizeof(double));
      v[j - 1] = x;
    } else {
      std::memmove(v + j + 1, v + j, (i - j) * sizeof(double));
      v[j] = x;
    }
  }
  double Select(size_t rank) const { return values_[rank]; }
  void SelectSorted(const size_t* ranks, size_t count, double* out) const {
    for (size_t i = 0; i < count; ++i) out[i] = values_[ranks[i]];
  }

 private:
  template <bool kStrict>
  size_t Count(double value) const {  // branch-free: how many are < value (kStrict) or ≤ value
    const double* base = values_.data();
    size_t n = n_;
    if (n == 0) return 0;
    while (n > 1) {
      const size_t half = n / 2;
      base += half * static_cast<size_t>(kStrict ? base[half - 1] < value : base[half - 1] <= value);
      n -= half;
    }
    return static_cast<size_t>(base - values_.data()) + (kStrict ? *base < value : *base <= value);
  }
  std::vector<double> values_;
  size_t n_ = 0;
};

double sink = 0;

// ns per value of sliding the window over `values`: fill `size`, then Replace + select per value.
template <typename Set, typename Make>
Timing Slide(const std::vector<double>& values, size_t size, bool threeQuantiles, Make&& make) {
  const size_t rows = values.size() - size;
  const Timing t = Fastest(5, [&] {
    Set set = make();
    for (size_t i = 0; i < size; ++i) set.Insert(values[i]);
    const size_t ranks[6] = {(size - 1) / 2, size / 2, (size - 1) * 9 / 10, (size - 1) * 9 / 10 + 1,
                             (size - 1) * 99 / 100, (size - 1) * 99 / 100 + 1};
    double out[6];
    double total = 0;
    for (size_t i = size; i < values.size(); ++i) {
      set.Replace(values[i - size], values[i]);
      if (threeQuantiles) {
        set.SelectSorted(ranks, 6, out);
        total += out[0] + out[2] + out[4];
      } else {
        total += set.Select(size / 2);
      }
    }
    sink += total;
  });
  return {t.wallNs / static_cast<double>(rows), t.cpuNs / static_cast<double>(rows)};
}

void Row(const char* name, size_t size, const char* what, Timing t, Timing peer) {
  std::printf("%-34s n=%-6zu %-11s %6.1f ns wall %6.1f ns CPU   x%.2f of the flat array (CPU)\n", name, size, what,
              t.wallNs, t.cpuNs, peer.cpuNs / t.cpuNs);
}

}  // namespace

int main(int argc, char** argv) {
  // Optional: the number of values (default 10^6) and one window size (default 100, 1000, 10^4 and 10^5).
  const size_t count = argc > 1 ? static_cast<size_t>(std::atof(argv[1])) : 1000000;
  const size_t only = argc > 2 ? static_cast<size_t>(std::atof(argv[2])) : 0;
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  std::vector<double> values(count);
  for (double& x : values) x = normal(rng);
  for (size_t size : {size_t{100}, size_t{1000}, size_t{10000}, size_t{100000}}) {
    if (size >= count || (only != 0 && size != only)) continue;
    for (bool three : {false, true}) {
      const char* what = three ? "p50+p90+p99" : "p50";
      const Timing flat = Slide<FlatSorted>(values, size, three, [&] { return FlatSorted(size); });
      Row("flat sorted array", size, what, flat, flat);
#ifdef SLUICE_BENCH_BEFORE
      Row("before (SLUICE_BENCH_BEFORE)", size, what,
          Slide<sluice_before::OrderStatistics>(values, size, three, [&] { return sluice_before::OrderStatistics(size); }),
          flat);
#endif
      char name[64];
      std::snprintf(name, sizeof name, "OrderStatistics (B=%zu, chosen)", sluice::OrderStatistics::BlockCapacityFor(size));
      Row(name, size, what, Slide<sluice::OrderStatistics>(values, size, three, [&] { return sluice::OrderStatistics(size); }), flat);
      for (size_t block : {size_t{32}, size_t{64}, size_t{128}, size_t{256}, size_t{512}, size_t{1024}}) {
        if (block == sluice::OrderStatistics::BlockCapacityFor(size) || block > size) continue;
        std::snprintf(name, sizeof name, "OrderStatistics (B=%zu)", block);
        Row(name, size, what,
            Slide<sluice::OrderStatistics>(values, size, three, [&] { return sluice::OrderStatistics(size, block); }), flat);
      }
    }
  }
  return sink == 0.123 ? 1 : 0;
}

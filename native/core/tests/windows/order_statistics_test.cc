// The blocked order-statistic structure's edge paths against std::multiset: splits and merges at every
// fill (ascending, descending and random fills and drains, checked after every operation), replaces across
// blocks that split one block and merge another, all-equal values, ±∞, ±0 and many duplicates of the erased
// value, at the capacities around the block sizes (32, 64, forced 8, 16, 24) and far above them, on every
// SIMD level the core tests run (SLUICE_SIMD).
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "tests/check.h"
#include "windows/order_statistics.h"

using namespace sluice;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Every rank at once (one SelectSorted walk), against the multiset's order; zeros must be +0.
void CheckSame(const OrderStatistics& set, const std::multiset<double>& reference) {
  CHECK_EQ(set.size(), reference.size());
  std::vector<size_t> ranks(reference.size());
  for (size_t i = 0; i < ranks.size(); ++i) ranks[i] = i;
  std::vector<double> got(ranks.size());
  set.SelectSorted(ranks.data(), ranks.size(), got.data());
  size_t i = 0;
  for (double x : reference) {
    if (!(got[i] == x) || std::signbit(got[i]) != std::signbit(x + 0.0)) {
      std::printf("rank %zu of %zu: got %.17g want %.17g\n", i, reference.size(), got[i], x);
    }
    CHECK(got[i] == x && std::signbit(got[i]) == std::signbit(x + 0.0));
    ++i;
  }
  if (!reference.empty()) {  // single selects agree with the walk
    CHECK_EQ(set.Select(0), *reference.begin());
    CHECK_EQ(set.Select(reference.size() - 1), *reference.rbegin());
    CHECK_EQ(set.Select(reference.size() / 2), got[reference.size() / 2]);
  }
}

// A value of the kind asked: 0 continuous, 1 a few levels (many duplicates), 2 all equal, 3 ±∞ among
// integers, 4 ±0 among a few levels.
double Draw(std::mt19937_64& rng, int kind) {
  switch (kind) {
    case 0: return std::ldexp(static_cast<double>(rng() % 1000000), -9) - 900;
    case 1: return static_cast<double>(rng() % 4);
    case 2: return 7.5;
    case 3: return rng() % 5 == 0 ? (rng() % 2 ? kInf : -kInf) : static_cast<double>(rng() % 50);
    default: return rng() % 3 == 0 ? (rng() % 2 ? -0.0 : 0.0) : static_cast<double>(rng() % 3) - 1;
  }
}

}  // namespace

SLUICE_TEST(order_statistics_split_and_merge_at_every_fill_against_a_multiset) {
  std::mt19937_64 rng(211);
  // Forced small blocks put many splits and merges into small sets; 0 is the block size chosen for the capacity.
  for (size_t capacity : {size_t{1}, size_t{2}, size_t{31}, size_t{32}, size_t{33}, size_t{63}, size_t{64}, size_t{65}, size_t{200}}) {
    for (size_t block : {size_t{0}, size_t{8}, size_t{16}}) {
      for (int order = 0; order < 3; ++order) {  // ascending, descending, random
        OrderStatistics set(capacity, block);
        std::multiset<double> reference;
        std::vector<double> held;
        for (size_t i = 0; i < capacity; ++i) {
          const double x = order == 0 ? static_cast<double>(i) : order == 1 ? -static_cast<double>(i) : Draw(rng, 0);
          set.Insert(x);
          reference.insert(x);
          held.push_back(x);
          CheckSame(set, reference);
        }
        CHECK_THROWS_CODE(set.Insert(1.0), codes::kInvalidState);  // full: refused, nothing changed
        CheckSame(set, reference);
        // Drain from the low end, the high end or anywhere, checking after every erase.
        if (order == 2) std::shuffle(held.begin(), held.end(), rng);
        while (!held.empty()) {
          const double x = held.back();
          held.pop_back();
          set.Erase(x);
          reference.erase(reference.find(x));
          CheckSame(set, reference);
        }
        CHECK_THROWS_CODE(set.Erase(0.0), codes::kInvalidState);
      }
    }
  }
}

SLUICE_TEST(order_statistics_replace_across_blocks_with_duplicates_infinities_and_zeros) {
  std::mt19937_64 rng(223);
  for (int kind = 0; kind < 5; ++kind) {
    for (size_t capacity : {size_t{1}, size_t{2}, size_t{31}, size_t{32}, size_t{33}, size_t{63}, size_t{64}, size_t{65}, size_t{1000}, size_t{4097}, size_t{20000}}) {
      for (size_t block : {size_t{0}, size_t{8}, size_t{24}}) {
        OrderStatistics set(capacity, block);
        std::multiset<double> reference;
        std::vector<double> held;  // the window, oldest first in ring order
        const size_t steps = 3 * capacity + 300;
        const size_t every = capacity <= 65 ? 1 : capacity / 16;
        for (size_t step = 0; step < steps; ++step) {
          const double x = Draw(rng, kind);
          const size_t r = rng() % 10;
          if (held.size() < capacity && (r < 6 || held.empty())) {
            set.Insert(x);
            reference.insert(x + 0.0);
            held.push_back(x);
          } else if (r < 8 || held.size() == capacity) {
            const size_t i = rng() % held.size();  // replace any held value (duplicates of it too)
            set.Replace(held[i], x);
            reference.erase(reference.find(held[i]));
            reference.insert(x + 0.0);
            held[i] = x;
          } else {
            const size_t i = rng() % held.size();
            set.Erase(held[i]);
            reference.erase(reference.find(held[i]));
            held[i] = held.back();
            held.pop_back();
          }
          if (step % every == 0) CheckSame(set, reference);
        }
        CheckSame(set, reference);
        // A broken replace (old not held) is refused before anything changes.
        if (!held.empty() && kind != 2) {
          CHECK_THROWS_CODE(set.Replace(0.123, 1.0), codes::kInvalidState);
          CheckSame(set, reference);
        }
      }
    }
  }
}

SLUICE_TEST(order_statistics_slide_a_window_of_a_hundred_thousand) {
  // A sliding window at the largest size the issue names: fill, then replace the oldest value each step.
  std::mt19937_64 rng(227);
  const size_t capacity = 100000;
  for (int kind : {0, 1}) {
    OrderStatistics set(capacity);
    std::multiset<double> reference;
    std::vector<double> ring(capacity);
    for (size_t i = 0; i < capacity; ++i) {
      ring[i] = Draw(rng, kind);
      set.Insert(ring[i]);
      reference.insert(ring[i]);
    }
    CheckSame(set, reference);
    for (size_t step = 0; step < 2 * capacity; ++step) {
      const double x = Draw(rng, kind);
      double& old = ring[step % capacity];
      set.Replace(old, x);
      reference.erase(reference.find(old));
      reference.insert(x);
      old = x;
      if (step % 40000 == 0) CheckSame(set, reference);
    }
    CheckSame(set, reference);
    // Memory stays within the documented bound: ≈ 4 doubles per value of capacity, plus the position arrays.
    CHECK(set.MemoryBytes() < 5 * 8 * capacity);
  }
}

SLUICE_TEST(order_statistics_merge_thinned_blocks_so_the_pool_never_runs_out) {
  // Each round fills the set, then erases three of every four values by rank, which leaves every block with
  // about a quarter of its values: without merges those sparse blocks would pile up round after round and
  // the next fill would need more blocks than the pool holds (refused with ERR_INVALID_STATE).
  for (size_t block : {size_t{8}, size_t{0}}) {
    const size_t capacity = 400;
    OrderStatistics set(capacity, block);
    std::multiset<double> reference;
    const size_t memory = set.MemoryBytes();
    for (int round = 0; round < 12; ++round) {
      for (size_t i = 0; reference.size() < capacity; ++i) {
        const double x = 1000.0 * round + static_cast<double>(i);  // above every value held: into the last block
        set.Insert(x);
        reference.insert(x);
      }
      std::vector<double> sorted(reference.begin(), reference.end());
      for (size_t i = 0; i < sorted.size(); ++i) {
        if (i % 4 == 0) continue;
        set.Erase(sorted[i]);
        reference.erase(reference.find(sorted[i]));
      }
      CheckSame(set, reference);
    }
    CHECK_EQ(set.MemoryBytes(), memory);
  }
}

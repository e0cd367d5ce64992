// MappedArray against std::vector: random appends, resizes, pops and shrinks across the malloc → mapping
// boundary, copies and moves; Filled; and what it reports as allocated.
#include "tests/check.h"
#include "base/mapped_array.h"

#include <cstdint>
#include <utility>
#include <vector>

using namespace sluice;

namespace {

template <typename T>
void CheckSame(const MappedArray<T>& a, const std::vector<T>& model) {
  CHECK_EQ(a.size(), model.size());
  CHECK(a.capacity() >= a.size());
  for (size_t i = 0; i < model.size(); ++i) {
    if (a[i] != model[i]) CHECK_EQ(static_cast<uint64_t>(a[i]), static_cast<uint64_t>(model[i]));
  }
}

template <typename T>
void RandomOperations(uint64_t seed) {
  MappedArray<T> a;
  std::vector<T> model;
  auto next = [&] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return seed >> 33;
  };
  // Up past 3 MiB (a mapping, grown by mremap, shrunk, copied), with shrinks back below 1 MiB (malloc again).
  const size_t top = (size_t{3} << 20) / sizeof(T);
  for (int step = 0; step < 400; ++step) {
    const uint64_t op = next() % 10;
    if (op < 5) {
      const size_t n = next() % (top / 40);
      std::vector<T> values(n);
      for (auto& v : values) v = static_cast<T>(next());
      a.append(values.data(), n);
      model.insert(model.end(), values.begin(), values.end());
    } else if (op == 5) {
      const T v = static_cast<T>(next());
      a.push_back(v);
      model.push_back(v);
    } else if (op == 6 && !model.empty()) {
      a.pop_back();
      model.pop_back();
    } else if (op == 7) {
      const size_t n = next() % (model.size() + top / 20 + 1);
      const T fill = static_cast<T>(next());
      a.resize(n, fill);
      model.resize(n, fill);
    } else if (op == 8) {
      a.shrink_to_fit();
      CHECK(a.capacity() >= a.size());
    } else {
      MappedArray<T> copy = a;
      CheckSame(copy, model);
      MappedArray<T> moved = std::move(copy);
      CheckSame(moved, model);
      CHECK_EQ(copy.size(), size_t{0});
      a = std::move(moved);
    }
    if (model.size() > top) {
      a.resize(top / 3);
      model.resize(top / 3);
    }
    CheckSame(a, model);
    CHECK(a.allocatedBytes() >= a.size() * sizeof(T));
  }
}

}  // namespace

SLUICE_TEST(mapped_array_matches_a_vector_across_the_mapping_boundary) {
  RandomOperations<uint8_t>(1);
  RandomOperations<uint32_t>(2);
  RandomOperations<uint64_t>(3);
}

SLUICE_TEST(mapped_array_filled_small_and_large) {
  for (size_t n : {size_t{0}, size_t{16}, size_t{1} << 17, (size_t{1} << 20) + 3}) {
    const MappedArray<uint64_t> zeros = MappedArray<uint64_t>::Filled(n, 0);
    const MappedArray<uint32_t> ones = MappedArray<uint32_t>::Filled(n, UINT32_MAX);
    CHECK_EQ(zeros.size(), n);
    CHECK_EQ(ones.size(), n);
    for (size_t i = 0; i < n; ++i) {
      if (zeros[i] != 0) CHECK_EQ(zeros[i], uint64_t{0});
      if (ones[i] != UINT32_MAX) CHECK_EQ(ones[i], UINT32_MAX);
    }
    // Filled faults everything in: all of it counts as allocated.
    CHECK(zeros.allocatedBytes() >= n * 8);
  }
}

SLUICE_TEST(mapped_array_counts_only_what_is_faulted_in) {
  // A large array that grew by appending: its reservation doubles, but what counts as allocated follows the
  // elements (within one populate step of at most an eighth, or 1 MiB).
  MappedArray<uint8_t> a;
  std::vector<uint8_t> chunk(4096, 7);
  while (a.size() < (size_t{40} << 20)) a.append(chunk.data(), chunk.size());
  CHECK(a.allocatedBytes() >= a.size());
  CHECK(a.allocatedBytes() <= a.size() + a.size() / 8 + (size_t{1} << 20) + 4096);
  CHECK(a.capacity() >= a.size());
  a.resize(size_t{1} << 10);
  a.shrink_to_fit();
  CHECK_EQ(a.capacity(), size_t{1} << 10);
  CHECK_EQ(a.allocatedBytes(), size_t{1} << 10);
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != 7) CHECK_EQ(a[i], uint8_t{7});
  }
}

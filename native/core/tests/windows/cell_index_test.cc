// CellIndex (the windows' (ring slot, key) → cell lookup) in both layouts against a std::map, through random
// sets, moves, erases and released slots: the hashed layout's backward-shift deletion and table reuse.
#include <map>
#include <random>
#include <utility>

#include "windows/cell_index.h"
#include "tests/check.h"

using namespace sluice;

static void CheckAgainstMap(uint32_t slots, uint32_t keyCount, uint32_t keySpread, uint64_t seed) {
  CellIndex index;
  index.Reset(slots, keyCount);
  CHECK(index.hashed() == CellIndex::UsesHashing(slots, keyCount));
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> expected;
  std::mt19937_64 rng(seed);
  for (int step = 0; step < 200000; ++step) {
    const uint32_t slot = static_cast<uint32_t>(rng() % slots);
    // Strided keys (multiples of keySpread) collide in a poor hash: Fibonacci hashing must spread them.
    const uint32_t key = static_cast<uint32_t>(rng() % (keyCount / keySpread)) * keySpread;
    const uint32_t op = static_cast<uint32_t>(rng() % 100);
    if (op < 55) {
      const uint32_t cell = static_cast<uint32_t>(rng() % 1000000);
      index.Set(slot, key, cell);
      expected[{slot, key}] = cell;
    } else if (op < 90) {
      index.Erase(slot, key);
      expected.erase({slot, key});
    } else if (op < 91) {
      index.ClearSlot(slot);
      for (auto it = expected.begin(); it != expected.end();) it = it->first.first == slot ? expected.erase(it) : std::next(it);
    } else {
      const auto it = expected.find({slot, key});
      const uint32_t found = index.Find(slot, key);
      if (it != expected.end()) CHECK_EQ(found, it->second);
      else if (index.hashed()) CHECK_EQ(found, CellIndex::kNone);  // direct: a stale candidate, confirmed by callers
    }
  }
  for (const auto& [at, cell] : expected) CHECK_EQ(index.Find(at.first, at.second), cell);
  // Growing the key space within the layout keeps every entry.
  if (CellIndex::UsesHashing(slots, keyCount * 2) == index.hashed()) index.ResizeKeys(keyCount * 2);
  for (const auto& [at, cell] : expected) CHECK_EQ(index.Find(at.first, at.second), cell);
  CHECK(index.MemoryBytes() > 0);
}

SLUICE_TEST(cell_index_direct_layout_matches_a_map) {
  CHECK(!CellIndex::UsesHashing(128, 32768) && CellIndex::UsesHashing(128, 32769));  // 16 MiB of indices
  CheckAgainstMap(8, 512, 1, 1);
}
SLUICE_TEST(cell_index_hashed_layout_matches_a_map) {
  CheckAgainstMap(128, 1 << 20, 1, 2);
  CheckAgainstMap(128, 1 << 20, 1024, 3);  // strided ids
  CheckAgainstMap(1 << 20, 8, 1, 4);       // few keys per slot: long probe runs wrap around small tables
}

// The key → cell lookup of EventTimeWindows' ring of panes: for each ring slot, which cell of that pane's
// arena holds a key. Two layouts behind one interface, chosen by the size of the direct table:
//  - direct (while ring slots × keys × 4 bytes ≤ kDirectBytes): [slot][key] 4-byte cell indices. One indexed
//    load per event, no hashing, a pane's row is small and dense in cache; costs 4 bytes per key per ring
//    slot whether or not the key has a cell there.
//  - hashed (beyond): per slot an open-addressing table of (key, cell) pairs, at most half full, linear
//    probing. Costs 16–32 bytes per live cell and nothing per key, so a large horizon or key space costs only
//    the cells that exist. Slower per event than the direct layout (about +50 % CPU in a push with 10^4 keys:
//    the table of a pane is 4–8 times its direct row, so it misses the cache more), which is why small
//    tables stay direct. Tables of released slots are kept (cleared) for the next pane that starts, like the cells.
// The owner re-decides when its key space is resized (UsesHashing) and rebuilds the index from its cells.
// Find gives a candidate: the direct layout never clears stale indices, so callers confirm that the cell is in
// the arena and holds the key (the hashed layout gives kNone for a key it does not hold, which fails that test).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace sluice {

class CellIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  // The direct layout's largest table: 16 MiB (10^4 keys × a ring of 128 panes is 5 MiB; 10^6 keys with the
  // smallest ring of 8 is 32 MiB).
  static constexpr double kDirectBytes = 16.0 * (1 << 20);
  static bool UsesHashing(uint32_t slots, uint32_t keyCount) { return 4.0 * slots * keyCount > kDirectBytes; }

  // Empties the index and picks its layout for `slots` ring slots and keys [0, keyCount).
  void Reset(uint32_t slots, uint32_t keyCount) {
    hashed_ = UsesHashing(slots, keyCount);
    slots_ = slots;
    keyCount_ = keyCount;
    direct_ = std::vector<uint32_t>();  // gives the memory back (a switch of layout frees the other one)
    tables_ = std::vector<Table>();
    spares_ = std::vector<Table>();
    if (hashed_) tables_.resize(slots);
    else direct_.assign(size_t{slots} * keyCount, 0);
  }
  bool hashed() const { return hashed_; }

  uint32_t Find(size_t slot, uint32_t key) const {
    if (!hashed_) return direct_[slot * keyCount_ + key];
    const Table& t = tables_[slot];
    if (t.entries.empty()) return kNone;
    for (size_t i = t.Home(key);; i = (i + 1) & t.mask) {
      const uint64_t e = t.entries[i];
      if (e == kEmpty) return kNone;
      if (static_cast<uint32_t>(e >> 32) == key) return static_cast<uint32_t>(e);
    }
  }
  void Prefetch(size_t slot, uint32_t key) const {
    if (!hashed_) {
      __builtin_prefetch(&direct_[slot * keyCount_ + key]);
      return;
    }
    const Table& t = tables_[slot];
    if (!t.entries.empty()) __builtin_prefetch(&t.entries[t.Home(key)]);
  }
  // Points `key` at `cell` in `slot` (adds the key or moves it).
  void Set(size_t slot, uint32_t key, uint32_t cell) {
    if (!hashed_) {
      direct_[slot * keyCount_ + key] = cell;
      return;
    }
    Table& t = tables_[slot];
    if (2 * (t.used + 1) > t.entries.size()) Grow(t);
    size_t i = t.Home(key);
    while (t.entries[i] != kEmpty && static_cast<uint32_t>(t.entries[i] >> 32) != key) i = (i + 1) & t.mask;
    if (t.entries[i] == kEmpty) ++t.used;
    t.entries[i] = uint64_t{key} << 32 | cell;
  }
  // Removes `key` from `slot` (its cell went). Backward-shift deletion keeps every probe run unbroken.
  void Erase(size_t slot, uint32_t key) {
    if (!hashed_) return;  // stale indices fail the callers' key check
    Table& t = tables_[slot];
    if (t.entries.empty()) return;
    size_t i = t.Home(key);
    while (t.entries[i] != kEmpty && static_cast<uint32_t>(t.entries[i] >> 32) != key) i = (i + 1) & t.mask;
    if (t.entries[i] == kEmpty) return;
    --t.used;
    for (size_t j = (i + 1) & t.mask;; j = (j + 1) & t.mask) {
      const uint64_t e = t.entries[j];
      if (e == kEmpty) break;
      // Entry j may fill hole i only if its home is not in (i, j] (cyclically): else it would leave its run.
      const size_t home = t.Home(static_cast<uint32_t>(e >> 32));
      if (((j - home) & t.mask) >= ((j - i) & t.mask)) {
        t.entries[i] = e;
        i = j;
      }
    }
    t.entries[i] = kEmpty;
  }
  // The slot's pane was released: its table, cleared, waits for the next pane that starts.
  void ClearSlot(size_t slot) {
    if (!hashed_) return;
    Table& t = tables_[slot];
    if (t.entries.empty()) return;
    std::fill(t.entries.begin(), t.entries.end(), kEmpty);
    t.used = 0;
    spares_.push_back(std::move(t));
    t = Table();
  }
  // Keys were freed and a pane now holds at most `cells` cells: hashed tables far larger than their entries
  // are rebuilt smaller (an emptied pane's table goes), and spare tables too large for such a pane are
  // dropped. O(slots) plus the tables rebuilt. The direct layout follows the key space instead (ResizeKeys).
  void Fit(size_t cells) {
    if (!hashed_) return;
    for (Table& t : tables_) {
      if (t.entries.size() <= 16 || t.entries.size() <= 8 * (size_t{t.used} + 1)) continue;
      if (t.used == 0) t = Table();  // the next Set grows a new one
      else Rebuild(t, 0);
    }
    const size_t largest = std::max<size_t>(16, 4 * cells);
    spares_.erase(std::remove_if(spares_.begin(), spares_.end(), [&](const Table& t) { return t.entries.size() > largest; }),
                  spares_.end());
  }
  // The key space grew (or shrank) to keyCount, the layout staying (UsesHashing(slots, keyCount) == hashed()):
  // direct rows are re-laid at the new stride.
  void ResizeKeys(uint32_t keyCount) {
    if (hashed_) {
      keyCount_ = keyCount;
      return;
    }
    std::vector<uint32_t> direct(size_t{slots_} * keyCount, 0);
    const size_t copied = std::min(keyCount_, keyCount);
    for (size_t slot = 0; slot < slots_; ++slot) {
      std::copy_n(direct_.begin() + static_cast<std::ptrdiff_t>(slot * keyCount_), copied,
                  direct.begin() + static_cast<std::ptrdiff_t>(slot * keyCount));
    }
    direct_ = std::move(direct);
    keyCount_ = keyCount;
  }
  // Direct layout: the slot's row, [key] → candidate cell (a walk in key order lists the pane's cells sorted).
  const uint32_t* Row(size_t slot) const { return hashed_ ? nullptr : &direct_[slot * keyCount_]; }
  size_t MemoryBytes() const {
    size_t bytes = direct_.capacity() * sizeof(uint32_t) + (tables_.capacity() + spares_.capacity()) * sizeof(Table);
    for (const Table& t : tables_) bytes += t.entries.capacity() * sizeof(uint64_t);
    for (const Table& t : spares_) bytes += t.entries.capacity() * sizeof(uint64_t);
    return bytes;
  }

 private:
  static constexpr uint64_t kEmpty = UINT64_MAX;  // no key is UINT32_MAX with cell UINT32_MAX
  struct Table {
    std::vector<uint64_t> entries;  // key << 32 | cell, or kEmpty; size a power of two (or 0)
    size_t mask = 0;
    uint32_t shift = 64;
    uint32_t used = 0;
    // Fibonacci hashing: the top bits of key · 2^64/φ spread dense and strided ids alike.
    size_t Home(uint32_t key) const { return static_cast<size_t>((uint64_t{key} * 0x9E3779B97F4A7C15ull) >> shift) & mask; }
  };
  void Grow(Table& t) {
    if (t.entries.empty() && !spares_.empty()) {  // a released pane's table: already cleared
      t = std::move(spares_.back());
      spares_.pop_back();
      if (2 * (t.used + 1) <= t.entries.size()) return;
    }
    Rebuild(t, t.entries.size() * 2);
  }
  // Re-lays t's entries in a table of the least power-of-two size ≥ max(16, least) with room for one more
  // entry at load ≤ 1/2.
  void Rebuild(Table& t, size_t least) {
    std::vector<uint64_t> old = std::move(t.entries);
    size_t size = 16;
    while (size < least || 2 * (size_t{t.used} + 1) > size) size *= 2;
    t.entries.assign(size, kEmpty);
    t.mask = size - 1;
    t.shift = 64 - static_cast<uint32_t>(__builtin_ctzll(size));
    for (uint64_t e : old) {
      if (e == kEmpty) continue;
      size_t i = t.Home(static_cast<uint32_t>(e >> 32));
      while (t.entries[i] != kEmpty) i = (i + 1) & t.mask;
      t.entries[i] = e;
    }
  }

  bool hashed_ = false;
  uint32_t slots_ = 0, keyCount_ = 0;
  std::vector<uint32_t> direct_;
  std::vector<Table> tables_;
  std::vector<Table> spares_;
};

}  // namespace sluice

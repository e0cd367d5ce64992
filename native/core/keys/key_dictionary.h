// KeyDictionary: the keys a stream really carries (strings as UTF-8, 64-bit ids, raw bytes) ↔ dense ids
// [0, idCapacity()), so keyed state can stay in flat arrays indexed by id.
//
// Layout, chosen for memory (≤ 64 bytes per key beyond the key's own bytes) and for one cache miss per
// lookup in large dictionaries:
//  - every key's bytes sit in one arena (`arena_`), addressed per id by (offset, length);
//  - an open-addressing table of 8-byte slots, linear probing, load ≤ 5/8: a slot holds the key's 32-bit
//    hash (upper half, compared before the bytes) and id + 1 (lower half, 0: empty). Growing rehashes from
//    the stored hashes without touching the keys; removal shifts later entries back (no tombstones);
//  - a released id goes to a free list and is handed out again, the lowest first (so a snapshot's restore
//    hands out the same ids next, and ids stay packed at the bottom); its bytes become
//    garbage in the arena, which is compacted when garbage exceeds half of it.
// Per key: 8 (offset) + 4 (length) + 12.8 to 25.6 (slots) bytes.
//
// Keys are limited to kMaxKeyBytes (64 KiB). A dictionary holds one kind of key; the kind only says how
// keys are given and given back (kString keys are checked to be UTF-8 where they enter as bytes).
#pragma once
#include <cstdint>
#include <vector>

#include "base/mapped_array.h"
#include "base/span.h"

namespace sluice {

class SnapshotReader;
class SnapshotWriter;

enum class KeyKind : uint8_t { kString = 1, kUint64 = 2, kInt64 = 3, kBytes = 4 };

inline constexpr uint32_t kMaxKeyBytes = 65536;
inline constexpr uint32_t kMaxDictionaryKeys = 1u << 28;

// A batch of keys: packed bytes (key i is bytes[offsets[i] .. offsets[i + 1]), offsets has count + 1
// entries) or 64-bit words (count of them; their little-endian bytes are the key).
struct KeyBatch {
  Span<const uint8_t> bytes;
  Span<const uint32_t> offsets;
  Span<const uint64_t> words;
  bool packed = false;
  size_t size() const { return packed ? (offsets.size == 0 ? 0 : offsets.size - 1) : words.size; }
};

class KeyDictionary {
 public:
  explicit KeyDictionary(KeyKind kind);

  KeyKind kind() const { return kind_; }

  // Checks the batch (offsets ascending within bytes, keys ≤ kMaxKeyBytes, UTF-8 for kString), then gives
  // each key its id in ids[0 … batch.size()), adding the keys not known yet. Refuses (ERR_OUT_OF_RANGE,
  // nothing changed) a batch that would bring the live keys beyond maxLive. The ids created by this call
  // are appended to `created` (when not null), in order, so a caller can undo them (Release).
  void Intern(const KeyBatch& batch, uint32_t* ids, uint32_t maxLive, std::vector<uint32_t>* created = nullptr);

  // The id of a key, or −1.
  int64_t Find(const uint8_t* key, uint32_t length) const;

  // Frees a live id: its key is forgotten and the id handed out again later.
  void Release(uint32_t id);
  // Gives back the free ids at the top (idCapacity() goes down to one past the highest live id), so the
  // per-id arrays of the dictionary and of its owner can follow the live keys after many are released; gives
  // back Intern's scratch when it is sized for many more keys than the dictionary holds.
  void TrimIds();

  bool IsLive(uint32_t id) const { return id < lengths_.size() && lengths_[id] != kFree; }
  Span<const uint8_t> KeyOf(uint32_t id) const;  // a live id's bytes (valid until the next change)
  uint64_t WordOf(uint32_t id) const;             // a live id's key as a 64-bit word (kUint64 / kInt64)

  size_t live() const { return live_; }
  uint32_t idCapacity() const { return static_cast<uint32_t>(lengths_.size()); }  // ids are below this
  size_t MemoryBytes() const;
  size_t KeyBytes() const { return arena_.size() - garbage_; }

  // Incremental checkpoints (EventTimeWindows::ApplyDelta): makes a free id live with `key`, which the
  // dictionary must not hold (the caller checked both); ids beyond idCapacity() extend it. The free list is
  // left for SetIdCapacity, which every series of Put calls ends with.
  void Put(uint32_t id, const uint8_t* key, uint32_t length);
  // Sets idCapacity() (every id at or above `capacity` must be free) and rebuilds the free list from it.
  void SetIdCapacity(uint32_t capacity);
  // Whether `key` may be a key of this dictionary's kind (length, 8 bytes for 64-bit ids, UTF-8 for strings).
  bool IsValidKey(const uint8_t* key, uint32_t length) const;

  // Snapshot section: kind, then every live (id, key) in id order; Read checks everything before it
  // changes `into` (all or nothing).
  void Write(SnapshotWriter& w) const;
  static KeyDictionary Read(SnapshotReader& r);
  // The dictionary on its own (snapshot kind key-dictionary); Restore keeps the kind (all or nothing).
  std::vector<uint8_t> Snapshot() const;
  void Restore(Span<const uint8_t> bytes);

 private:
  static constexpr uint32_t kFree = UINT32_MAX;
  // The table's load stays ≤ 5/8: a new key's probe (it runs to an empty slot) is 4.1 slots on average at
  // that load, 8.5 at 3/4, and new keys arrive in bulk; 1/2 (2.5 slots) would double the table of 10^7 keys.
  static bool Overloaded(size_t keys, size_t slots) { return keys * 8 > slots * 5; }
  void Grow();
  void Unlink(uint32_t id);  // Release without compaction (Intern's undo relies on the layout staying)
  void Compact();
  uint32_t Insert(const uint8_t* key, uint32_t length, uint32_t hash);  // a key not in the table
  void Link(uint32_t id, const uint8_t* key, uint32_t length, uint32_t hash);  // a free id gets the key: arena, slot
  template <typename KeyAt>
  void InternKeys(size_t count, KeyAt keyAt, uint32_t* ids, uint32_t maxLive, std::vector<uint32_t>* created);

  KeyKind kind_;
  // The large buffers are MappedArrays: they grow without copying and fault fresh memory in batches.
  MappedArray<uint64_t> slots_;     // hash << 32 | (id + 1); 0 empty; size a power of two
  MappedArray<uint64_t> offsets_;   // [id] → offset in arena_
  MappedArray<uint32_t> lengths_;   // [id] → key length, kFree for a free id
  std::vector<uint32_t> freeIds_;   // min-heap
  void TrimFreeIds();  // drops free ids ≥ idCapacity() (the per-id arrays shrank) and re-heaps
  MappedArray<uint8_t> arena_;
  std::vector<uint32_t> hashes_;    // Intern's scratch: the batch's hashes (computed once, prefetched ahead)
  size_t live_ = 0;
  size_t garbage_ = 0;
};

}  // namespace sluice

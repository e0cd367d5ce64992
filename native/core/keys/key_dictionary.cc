#include "keys/key_dictionary.h"

#include <algorithm>
#include <functional>
#include <cstring>

#include "base/snapshot.h"

namespace sluice {

namespace {

uint64_t Load64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsUtf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t min, cp;
    if ((c & 0xE0) == 0xC0) extra = 1, min = 0x80, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) extra = 2, min = 0x800, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) extra = 3, min = 0x10000, cp = c & 0x07;
    else return false;
    if (n - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

// The last 1 to 7 bytes of a key as one word (no variable-length memcpy call).
inline uint64_t LoadTail(const uint8_t* p, uint32_t n) {
  uint64_t w = 0;
  if (n & 4) {
    uint32_t x;
    std::memcpy(&x, p, 4);
    w = x;
    p += 4;
  }
  if (n & 2) {
    uint16_t x;
    std::memcpy(&x, p, 2);
    w |= uint64_t{x} << ((n & 4) * 8);
    p += 2;
  }
  if (n & 1) w |= uint64_t{*p} << ((n & 6) * 8);
  return w;
}

// The 128-bit product of a and b, folded to 64 bits (wyhash's "mum"): one multiply mixes 16 input bytes.
inline uint64_t Mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t Load32(const uint8_t* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// wyhash-style: keys up to 16 bytes are read as two (overlapping) words and mixed by two multiplies, longer
// ones 16 bytes per multiply; no loop for short keys, no byte-at-a-time tail. Every input bit reaches the 32
// bits kept (the table's home slot is their low bits, the rest is the tag compared before the bytes).
// Internal linkage, so it inlines into the lookups.
inline uint32_t HashKey(const uint8_t* key, uint32_t length) {
  constexpr uint64_t k0 = 0xA0761D6478BD642Full, k1 = 0xE7037ED1A0B428DBull, k2 = 0x8EBC6AF09C88C6E3ull;
  uint64_t seed = k0, a, b;
  if (length <= 16) {
    if (length >= 8) {
      a = Load64(key);
      b = Load64(key + length - 8);
    } else if (length >= 4) {
      a = Load32(key);
      b = Load32(key + length - 4);
    } else if (length > 0) {
      a = uint64_t{key[0]} << 16 | uint64_t{key[length >> 1]} << 8 | key[length - 1];
      b = 0;
    } else {
      a = b = 0;
    }
  } else {
    const uint8_t* p = key;
    uint32_t left = length;
    do {
      seed = Mum(Load64(p) ^ k1, Load64(p + 8) ^ seed);
      p += 16;
      left -= 16;
    } while (left > 16);
    a = Load64(key + length - 16);  // the last 16 bytes (overlapping what came before)
    b = Load64(key + length - 8);
  }
  return static_cast<uint32_t>(Mum(k1 ^ length, Mum(a ^ k1, b ^ seed ^ k2)));
}

// Equal bytes, for keys of one length: word compares (the last one overlapping) instead of a memcmp call.
inline bool SameBytes(const uint8_t* a, const uint8_t* b, uint32_t n) {
  if (n >= 8) {
    uint32_t i = 0;
    for (; i + 8 < n; i += 8) {
      if (Load64(a + i) != Load64(b + i)) return false;
    }
    return Load64(a + n - 8) == Load64(b + n - 8);
  }
  return n == 0 || LoadTail(a, n) == LoadTail(b, n);
}

}  // namespace

KeyDictionary::KeyDictionary(KeyKind kind) : kind_(kind) {
  Require(kind == KeyKind::kString || kind == KeyKind::kUint64 || kind == KeyKind::kInt64 || kind == KeyKind::kBytes,
          codes::kInvalidArgument, "unknown key kind");
  slots_ = MappedArray<uint64_t>::Filled(16, 0);
}


int64_t KeyDictionary::Find(const uint8_t* key, uint32_t length) const {
  const uint32_t hash = HashKey(key, length);
  const size_t mask = slots_.size() - 1;
  for (size_t s = hash & mask;; s = (s + 1) & mask) {
    const uint64_t slot = slots_[s];
    if (slot == 0) return -1;
    if (static_cast<uint32_t>(slot >> 32) != hash) continue;
    const uint32_t id = static_cast<uint32_t>(slot) - 1;
    if (lengths_[id] == length && SameBytes(arena_.data() + offsets_[id], key, length)) return id;
  }
}

void KeyDictionary::Grow() {
  MappedArray<uint64_t> slots = MappedArray<uint64_t>::Filled(slots_.size() * 2, 0);
  const size_t mask = slots.size() - 1;
  for (uint64_t slot : slots_) {
    if (slot == 0) continue;
    size_t s = (slot >> 32) & mask;
    while (slots[s] != 0) s = (s + 1) & mask;
    slots[s] = slot;
  }
  slots_ = std::move(slots);
}

void KeyDictionary::Link(uint32_t id, const uint8_t* key, uint32_t length, uint32_t hash) {
  offsets_[id] = arena_.size();
  lengths_[id] = length;
  arena_.append(key, length);
  const size_t mask = slots_.size() - 1;
  size_t s = hash & mask;
  while (slots_[s] != 0) s = (s + 1) & mask;
  slots_[s] = uint64_t{hash} << 32 | (uint64_t{id} + 1);
  ++live_;
}

uint32_t KeyDictionary::Insert(const uint8_t* key, uint32_t length, uint32_t hash) {
  if (Overloaded(live_ + 1, slots_.size())) Grow();
  uint32_t id;
  if (!freeIds_.empty()) {
    std::pop_heap(freeIds_.begin(), freeIds_.end(), std::greater<uint32_t>());
    id = freeIds_.back();
    freeIds_.pop_back();
  } else {
    id = static_cast<uint32_t>(lengths_.size());
    lengths_.push_back(kFree);
    offsets_.push_back(0);
  }
  Link(id, key, length, hash);
  return id;
}

template <typename KeyAt>
void KeyDictionary::InternKeys(size_t count, KeyAt keyAt, uint32_t* ids, uint32_t maxLive,
                               std::vector<uint32_t>* created) {
  // hashes_[0, count) hold the keys' hashes (the caller computed them in its checking pass).
  const size_t arenaBefore = arena_.size(), capacityBefore = lengths_.size(), createdBefore = created ? created->size() : 0;
  std::vector<uint32_t> local;
  std::vector<uint32_t>& made = created ? *created : local;
  constexpr size_t kAhead = 8;  // prefetch the slot of key i + kAhead: large tables miss the cache
  for (size_t i = 0; i < count; ++i) {
    const size_t mask = slots_.size() - 1;
    if (i + kAhead < count) __builtin_prefetch(&slots_[hashes_[i + kAhead] & mask]);
    const auto [key, length] = keyAt(i);
    const uint32_t hash = hashes_[i];
    uint32_t found = kFree;
    for (size_t s = hash & mask;; s = (s + 1) & mask) {
      const uint64_t slot = slots_[s];
      if (slot == 0) break;
      if (static_cast<uint32_t>(slot >> 32) != hash) continue;
      const uint32_t id = static_cast<uint32_t>(slot) - 1;
      if (lengths_[id] == length && SameBytes(arena_.data() + offsets_[id], key, length)) {
        found = id;
        break;
      }
    }
    if (found == kFree) {
      if (live_ >= maxLive) {
        // Undo this call's keys so ids, free list and arena are as they were: reused ids go back to the
        // free list, ids new to the dictionary go altogether.
        for (size_t j = made.size(); j-- > createdBefore;) Unlink(made[j]);
        made.resize(createdBefore);
        lengths_.resize(capacityBefore);
        offsets_.resize(capacityBefore);
        TrimFreeIds();
        garbage_ -= arena_.size() - arenaBefore;
        arena_.resize(arenaBefore);
        Fail(codes::kOutOfRange, "a new key would exceed maxKeys live keys");
      }
      found = Insert(key, length, hash);
      made.push_back(found);
    }
    ids[i] = found;
  }
}

void KeyDictionary::Intern(const KeyBatch& batch, uint32_t* ids, uint32_t maxLive, std::vector<uint32_t>* created) {
  maxLive = std::min(maxLive, kMaxDictionaryKeys);
  if (!batch.packed) {
    Require(kind_ == KeyKind::kUint64 || kind_ == KeyKind::kInt64, codes::kInvalidType,
            "64-bit keys given to a dictionary of another key kind");
    const uint64_t* words = batch.words.data;
    if (hashes_.size() < batch.words.size) hashes_.resize(batch.words.size);
    for (size_t i = 0; i < batch.words.size; ++i) hashes_[i] = HashKey(reinterpret_cast<const uint8_t*>(words + i), 8);
    InternKeys(batch.words.size, [words](size_t i) {
      return std::pair<const uint8_t*, uint32_t>(reinterpret_cast<const uint8_t*>(words + i), 8);
    }, ids, maxLive, created);
    return;
  }
  Require(kind_ == KeyKind::kString || kind_ == KeyKind::kBytes, codes::kInvalidType,
          "packed byte keys given to a dictionary of 64-bit keys");
  const size_t n = batch.size();
  const uint32_t* offsets = batch.offsets.data;
  const uint8_t* bytes = batch.bytes.data;
  // One pass checks each key's range (before its bytes are read) and hashes it; hashing changes nothing, so
  // a refused batch leaves the dictionary as it was.
  if (hashes_.size() < n) hashes_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Require(offsets[i] <= offsets[i + 1], codes::kOutOfRange, "key offsets must not run backwards");
    Require(offsets[i + 1] - offsets[i] <= kMaxKeyBytes, codes::kOutOfRange, "a key is longer than 65536 bytes");
    Require(offsets[i + 1] <= batch.bytes.size, codes::kOutOfRange, "key offsets run past the bytes");
    hashes_[i] = HashKey(bytes + offsets[i], offsets[i + 1] - offsets[i]);
  }
  if (kind_ == KeyKind::kString) {
    for (size_t i = 0; i < n; ++i) {
      Require(IsUtf8(bytes + offsets[i], offsets[i + 1] - offsets[i]), codes::kInvalidArgument, "a string key is not valid UTF-8");
    }
  }
  InternKeys(n, [bytes, offsets](size_t i) {
    return std::pair<const uint8_t*, uint32_t>(bytes + offsets[i], offsets[i + 1] - offsets[i]);
  }, ids, maxLive, created);
}

void KeyDictionary::Put(uint32_t id, const uint8_t* key, uint32_t length) {
  Require(!IsLive(id) && Find(key, length) < 0, codes::kMalformedData, "internal: Put of a live id or a held key");
  if (id >= lengths_.size()) {
    lengths_.resize(size_t{id} + 1, kFree);
    offsets_.resize(size_t{id} + 1, 0);
  }
  if (Overloaded(live_ + 1, slots_.size())) Grow();
  Link(id, key, length, HashKey(key, length));
}

void KeyDictionary::SetIdCapacity(uint32_t capacity) {
  for (size_t id = capacity; id < lengths_.size(); ++id) {
    Require(lengths_[id] == kFree, codes::kMalformedData, "internal: id capacity below a live id");
  }
  lengths_.resize(capacity, kFree);
  offsets_.resize(capacity, 0);
  freeIds_.clear();
  for (uint32_t id = 0; id < capacity; ++id) {
    if (lengths_[id] == kFree) freeIds_.push_back(id);  // ascending: already a min-heap
  }
}

bool KeyDictionary::IsValidKey(const uint8_t* key, uint32_t length) const {
  if (length > kMaxKeyBytes) return false;
  if (kind_ == KeyKind::kUint64 || kind_ == KeyKind::kInt64) return length == 8;
  return kind_ != KeyKind::kString || IsUtf8(key, length);
}

void KeyDictionary::Release(uint32_t id) {
  Require(IsLive(id), codes::kOutOfRange, "release of an id that is not live");
  Unlink(id);
  if (garbage_ > 4096 && garbage_ * 2 > arena_.size()) Compact();
}

void KeyDictionary::TrimIds() {
  if (lengths_.empty() || lengths_.back() != kFree) return;
  while (!lengths_.empty() && lengths_.back() == kFree) {
    lengths_.pop_back();
    offsets_.pop_back();
  }
  TrimFreeIds();
  if (lengths_.capacity() > 2 * lengths_.size() + 64) {
    lengths_.shrink_to_fit();
    offsets_.shrink_to_fit();
    freeIds_.shrink_to_fit();
  }
  // Intern's scratch was sized by the largest batch; batches of a dictionary this small get it back as needed.
  if (hashes_.capacity() > 2 * lengths_.size() + 1024) std::vector<uint32_t>().swap(hashes_);
}

void KeyDictionary::Unlink(uint32_t id) {
  const uint32_t length = lengths_[id];
  const uint32_t hash = HashKey(arena_.data() + offsets_[id], length);
  const size_t mask = slots_.size() - 1;
  size_t s = hash & mask;
  while (static_cast<uint32_t>(slots_[s]) != id + 1) s = (s + 1) & mask;
  // Backward-shift deletion: move later entries of the probe run into the hole when their home allows it.
  for (size_t next = (s + 1) & mask;; next = (next + 1) & mask) {
    const uint64_t slot = slots_[next];
    if (slot == 0) break;
    const size_t home = (slot >> 32) & mask;
    // The entry at `next` may move to `s` unless its home lies cyclically in (s, next].
    const bool stays = s <= next ? (home > s && home <= next) : (home > s || home <= next);
    if (stays) continue;
    slots_[s] = slot;
    s = next;
  }
  slots_[s] = 0;
  lengths_[id] = kFree;
  freeIds_.push_back(id);
  std::push_heap(freeIds_.begin(), freeIds_.end(), std::greater<uint32_t>());
  --live_;
  garbage_ += length;
}

void KeyDictionary::Compact() {
  MappedArray<uint8_t> arena;
  arena.reserve((arena_.size() - garbage_) * 5 / 4);
  for (uint32_t id = 0; id < lengths_.size(); ++id) {
    if (lengths_[id] == kFree) continue;
    const uint64_t offset = arena.size();
    arena.append(arena_.data() + offsets_[id], lengths_[id]);
    offsets_[id] = offset;
  }
  arena_ = std::move(arena);
  garbage_ = 0;
  // Keep the table in proportion too: a dictionary that shrank a lot gives its slots back.
  size_t slots = 16;
  while (Overloaded(live_ + 1, slots)) slots *= 2;
  if (slots * 4 <= slots_.size()) {
    MappedArray<uint64_t> old = std::move(slots_);
    slots_ = MappedArray<uint64_t>::Filled(slots, 0);
    const size_t mask = slots - 1;
    for (uint64_t slot : old) {
      if (slot == 0) continue;
      size_t s = (slot >> 32) & mask;
      while (slots_[s] != 0) s = (s + 1) & mask;
      slots_[s] = slot;
    }
  }
  // Trailing free ids can go too, so per-id arrays follow the live keys.
  while (!lengths_.empty() && lengths_.back() == kFree) {
    lengths_.pop_back();
    offsets_.pop_back();
  }
  TrimFreeIds();
  lengths_.shrink_to_fit();
  offsets_.shrink_to_fit();
  freeIds_.shrink_to_fit();
}

void KeyDictionary::TrimFreeIds() {
  freeIds_.erase(std::remove_if(freeIds_.begin(), freeIds_.end(), [&](uint32_t id) { return id >= lengths_.size(); }),
                 freeIds_.end());
  std::make_heap(freeIds_.begin(), freeIds_.end(), std::greater<uint32_t>());
}

Span<const uint8_t> KeyDictionary::KeyOf(uint32_t id) const {
  Require(IsLive(id), codes::kOutOfRange, "id is not live");
  return Span<const uint8_t>(arena_.data() + offsets_[id], lengths_[id]);
}

uint64_t KeyDictionary::WordOf(uint32_t id) const {
  Require(IsLive(id) && lengths_[id] == 8, codes::kOutOfRange, "id is not live or not a 64-bit key");
  return Load64(arena_.data() + offsets_[id]);
}

size_t KeyDictionary::MemoryBytes() const {
  return slots_.allocatedBytes() + offsets_.allocatedBytes() + lengths_.allocatedBytes() + freeIds_.capacity() * 4 +
         arena_.allocatedBytes() + hashes_.capacity() * 4;
}

void KeyDictionary::Write(SnapshotWriter& w) const {
  w.Put<uint8_t>(static_cast<uint8_t>(kind_));
  w.Put<uint32_t>(idCapacity());
  w.Put<uint64_t>(live_);
  for (uint32_t id = 0; id < lengths_.size(); ++id) {
    if (lengths_[id] == kFree) continue;
    w.Put<uint32_t>(id);
    w.Put<uint32_t>(lengths_[id]);
    w.PutBytes(arena_.data() + offsets_[id], lengths_[id]);
  }
}

KeyDictionary KeyDictionary::Read(SnapshotReader& r) {
  const uint8_t kind = r.Get<uint8_t>();
  Require(kind >= 1 && kind <= 4, codes::kMalformedData, "snapshot key kind unknown");
  KeyDictionary d(static_cast<KeyKind>(kind));
  const uint32_t capacity = r.Get<uint32_t>();
  const uint64_t live = r.Get<uint64_t>();
  Require(capacity <= kMaxDictionaryKeys && live <= capacity && live <= r.Remaining() / 8, codes::kMalformedData,
          "snapshot key count out of range");
  d.lengths_ = MappedArray<uint32_t>::Filled(capacity, kFree);
  d.offsets_ = MappedArray<uint64_t>::Filled(capacity, 0);
  int64_t previous = -1;
  for (uint64_t i = 0; i < live; ++i) {
    const uint32_t id = r.Get<uint32_t>();
    const uint32_t length = r.Get<uint32_t>();
    Require(static_cast<int64_t>(id) > previous && id < capacity && length <= kMaxKeyBytes && length <= r.Remaining(),
            codes::kMalformedData, "snapshot key out of range");
    Require(!(d.kind_ == KeyKind::kUint64 || d.kind_ == KeyKind::kInt64) || length == 8, codes::kMalformedData,
            "snapshot 64-bit key is not 8 bytes");
    previous = id;
    // Read straight into the arena; check the key afterwards (UTF-8, not a repeat).
    const size_t at = d.arena_.size();
    d.arena_.resize(at + length);
    r.GetBytes(d.arena_.data() + at, length);
    Require(d.kind_ != KeyKind::kString || IsUtf8(d.arena_.data() + at, length), codes::kMalformedData,
            "snapshot string key is not valid UTF-8");
    const uint8_t* bytes = d.arena_.data() + at;
    Require(d.Find(bytes, length) < 0, codes::kMalformedData, "snapshot repeats a key");
    d.offsets_[id] = at;
    d.lengths_[id] = length;
    if (Overloaded(d.live_ + 1, d.slots_.size())) d.Grow();
    const uint32_t hash = HashKey(bytes, length);
    const size_t mask = d.slots_.size() - 1;
    size_t s = hash & mask;
    while (d.slots_[s] != 0) s = (s + 1) & mask;
    d.slots_[s] = uint64_t{hash} << 32 | (uint64_t{id} + 1);
    ++d.live_;
  }
  for (uint32_t id = 0; id < capacity; ++id) {
    if (d.lengths_[id] == kFree) d.freeIds_.push_back(id);  // ascending: already a min-heap
  }
  return d;
}

std::vector<uint8_t> KeyDictionary::Snapshot() const {
  SnapshotWriter w(SnapshotKind::kKeyDictionary);
  Write(w);
  return w.Finish();
}

void KeyDictionary::Restore(Span<const uint8_t> bytes) {
  SnapshotReader r(bytes, SnapshotKind::kKeyDictionary);
  KeyDictionary restored = Read(r);
  r.ExpectEnd();
  Require(restored.kind_ == kind_, codes::kInvalidArgument, "snapshot holds keys of another kind");
  *this = std::move(restored);
}

}  // namespace sluice

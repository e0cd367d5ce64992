// KeyDictionary against a std::map model: interning, release and id reuse, undo on maxKeys, bad input,
// snapshots; KeySpace's expiry timers.
#include <cstring>
#include <map>
#include <random>
#include <string>

#include "base/snapshot.h"
#include "keys/key_dictionary.h"
#include "keys/key_space.h"
#include "tests/check.h"

namespace sluice {
namespace {

struct Packed {
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> offsets{0};
  void Add(const std::string& key) {
    bytes.insert(bytes.end(), key.begin(), key.end());
    offsets.push_back(static_cast<uint32_t>(bytes.size()));
  }
  KeyBatch Batch() const {
    KeyBatch b;
    b.packed = true;
    b.bytes = Span<const uint8_t>(bytes.data(), bytes.size());
    b.offsets = Span<const uint32_t>(offsets.data(), offsets.size());
    return b;
  }
};

std::string KeyString(const KeyDictionary& d, uint32_t id) {
  const Span<const uint8_t> key = d.KeyOf(id);
  return std::string(reinterpret_cast<const char*>(key.data), key.size);
}

const char* CodeOf(void (*run)(KeyDictionary&), KeyDictionary& d) {
  try {
    run(d);
  } catch (const CoreError& e) {
    return e.code();
  }
  return "";
}

SLUICE_TEST(KeyDictionaryMatchesAMapThroughChurn) {
  KeyDictionary d(KeyKind::kBytes);
  std::map<std::string, uint32_t> model;
  std::mt19937 random(7);
  for (int round = 0; round < 200; ++round) {
    Packed batch;
    std::vector<std::string> keys;
    for (int i = 0; i < 300; ++i) {
      const std::string key = "host-" + std::to_string(random() % 5000) + (random() % 3 == 0 ? std::string(20, 'x') : "");
      keys.push_back(key);
      batch.Add(key);
    }
    std::vector<uint32_t> ids(keys.size());
    d.Intern(batch.Batch(), ids.data(), kMaxDictionaryKeys);
    for (size_t i = 0; i < keys.size(); ++i) {
      auto [it, inserted] = model.emplace(keys[i], ids[i]);
      CHECK_EQ(it->second, ids[i]);  // a known key keeps its id; a key twice in a batch gets one id
      CHECK_EQ(KeyString(d, ids[i]), keys[i]);
    }
    // Release a random third: their ids come back for new keys, the others stay findable.
    for (auto it = model.begin(); it != model.end();) {
      if (random() % 3 == 0) {
        d.Release(it->second);
        CHECK(!d.IsLive(it->second));
        it = model.erase(it);
      } else {
        ++it;
      }
    }
    CHECK_EQ(d.live(), model.size());
    for (const auto& [key, id] : model) {
      CHECK_EQ(d.Find(reinterpret_cast<const uint8_t*>(key.data()), static_cast<uint32_t>(key.size())), int64_t{id});
    }
  }
  CHECK(d.idCapacity() < 5000 * 2);  // ids are reused, not grown without bound
}

SLUICE_TEST(KeyDictionaryUndoesABatchBeyondMaxLive) {
  KeyDictionary d(KeyKind::kString);
  Packed first;
  for (const char* k : {"a", "b", "", "é"}) first.Add(k);
  std::vector<uint32_t> ids(8);
  d.Intern(first.Batch(), ids.data(), 5);
  CHECK_EQ(d.live(), size_t{4});
  d.Release(ids[1]);  // "b": its id is free
  Packed second;
  for (const char* k : {"c", "a", "d", "e"}) second.Add(k);  // three new keys, only two fit
  bool refused = false;
  try {
    d.Intern(second.Batch(), ids.data(), 5);
  } catch (const CoreError& e) {
    refused = std::string(e.code()) == codes::kOutOfRange;
  }
  CHECK(refused);
  CHECK_EQ(d.live(), size_t{3});
  CHECK_EQ(d.idCapacity(), 4u);
  CHECK_EQ(d.Find(reinterpret_cast<const uint8_t*>("c"), 1), int64_t{-1});
  CHECK_EQ(d.Find(reinterpret_cast<const uint8_t*>("d"), 1), int64_t{-1});
  CHECK_EQ(d.Find(reinterpret_cast<const uint8_t*>(""), 0), int64_t{2});
}

SLUICE_TEST(KeyDictionaryRefusesBadBatches) {
  KeyDictionary strings(KeyKind::kString);
  auto code = [&](Packed p, std::vector<uint32_t> offsets) {
    p.offsets = offsets;
    std::vector<uint32_t> ids(offsets.size());
    try {
      strings.Intern(p.Batch(), ids.data(), kMaxDictionaryKeys);
    } catch (const CoreError& e) {
      return std::string(e.code());
    }
    return std::string();
  };
  Packed p;
  p.bytes = {'a', 'b', 'c', 0xC3, 0x28};
  CHECK_EQ(code(p, {0, 2, 1}), std::string(codes::kOutOfRange));  // backwards
  CHECK_EQ(code(p, {0, 6}), std::string(codes::kOutOfRange));     // past the end
  CHECK_EQ(code(p, {3, 5}), std::string(codes::kInvalidArgument));  // invalid UTF-8
  CHECK_EQ(strings.live(), size_t{0});
  Packed big;
  big.Add(std::string(kMaxKeyBytes + 1, 'k'));
  CHECK_EQ(code(big, big.offsets), std::string(codes::kOutOfRange));
  KeyDictionary words(KeyKind::kUint64);
  CHECK_EQ(std::string(CodeOf([](KeyDictionary& d) {
             Packed q;
             q.Add("x");
             uint32_t id;
             d.Intern(q.Batch(), &id, 10);
           }, words)),
           std::string(codes::kInvalidType));
}

SLUICE_TEST(KeyDictionarySnapshotGivesTheSameIds) {
  KeyDictionary d(KeyKind::kUint64);
  std::vector<uint64_t> words(1000);
  for (size_t i = 0; i < words.size(); ++i) words[i] = uint64_t{0x9E3779B97F4A7C15} * (i + 1);
  KeyBatch batch;
  batch.words = Span<const uint64_t>(words.data(), words.size());
  std::vector<uint32_t> ids(words.size());
  d.Intern(batch, ids.data(), kMaxDictionaryKeys);
  for (uint32_t id = 0; id < 1000; id += 3) d.Release(id);
  SnapshotWriter w(SnapshotKind::kKeyDictionary);
  d.Write(w);
  const std::vector<uint8_t> bytes = w.Finish();
  SnapshotReader r(Span<const uint8_t>(bytes.data(), bytes.size()), SnapshotKind::kKeyDictionary);
  KeyDictionary back = KeyDictionary::Read(r);
  r.ExpectEnd();
  CHECK_EQ(back.live(), d.live());
  for (uint32_t id = 0; id < 1000; ++id) {
    CHECK_EQ(back.IsLive(id), d.IsLive(id));
    if (d.IsLive(id)) CHECK_EQ(back.WordOf(id), words[id]);
  }
  // A new key takes a freed id in both.
  uint64_t fresh = 42;
  KeyBatch one;
  one.words = Span<const uint64_t>(&fresh, 1);
  uint32_t a, b;
  d.Intern(one, &a, kMaxDictionaryKeys);
  back.Intern(one, &b, kMaxDictionaryKeys);
  CHECK(a < 1000 && b < 1000 && !(a % 3) && !(b % 3));
}

SLUICE_TEST(KeySpaceExpiresIdleKeysOnlyWhenTheyHoldNothing) {
  KeySpaceOptions options;
  options.kind = KeyKind::kBytes;
  options.keyTtl = 10;
  KeySpace space(options);
  Packed p;
  p.Add("a");
  p.Add("b");
  uint32_t ids[2];
  space.Intern(p.Batch(), ids);
  const double ts[2] = {0, 5};
  space.Touch(Span<const double>(ts, 2), Span<const uint32_t>(ids, 2));
  double holdUntil = 20;  // "b" holds a window until watermark 20
  auto release = [&](uint32_t id, double) { return id == ids[1] ? holdUntil : -std::numeric_limits<double>::infinity(); };
  std::vector<uint32_t> freed;
  auto free = [&](uint32_t id) { freed.push_back(id); };
  CHECK_EQ(space.ExpireIdle(9, release, free).size(), size_t{0});
  CHECK_EQ(space.ExpireIdle(15, release, free).size(), size_t{1});  // "a": idle 10 behind, holds nothing
  CHECK_EQ(freed[0], ids[0]);
  CHECK_EQ(space.ExpireIdle(19, release, free).size(), size_t{0});  // "b" still holds a window
  holdUntil = -std::numeric_limits<double>::infinity();
  CHECK_EQ(space.ExpireIdle(20, release, free).size(), size_t{1});
  CHECK_EQ(space.live(), size_t{0});
  CHECK_EQ(space.expiredTotal(), 2.0);
}

}  // namespace
}  // namespace sluice

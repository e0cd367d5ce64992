#include "keys/key_space.h"

#include <cmath>
#include <string_view>
#include <unordered_set>

#include "base/snapshot.h"

namespace sluice {

namespace {
constexpr double kMaxTtl = 1099511627776.0;  // 2^40 time units, as the windows' durations
}

KeySpace::KeySpace(const KeySpaceOptions& options) : options_(options), dictionary_(options.kind) {
  Require(options.maxKeys >= 1 && options.maxKeys <= kMaxDictionaryKeys, codes::kOutOfRange, "maxKeys must be in [1, 2^28]");
  Require(options.keyTtl == 0 || (std::floor(options.keyTtl) == options.keyTtl && options.keyTtl >= 1 && options.keyTtl <= kMaxTtl),
          codes::kInvalidArgument, "keyTtl must be an integer in [1, 2^40]");
}

void KeySpace::FitPerKey() {
  if (options_.keyTtl == 0) return;
  const size_t capacity = dictionary_.idCapacity();
  if (lastSeen_.size() >= capacity) return;
  const size_t size = std::max(capacity, lastSeen_.size() * 2);  // amortised: doubling
  lastSeen_.resize(size, std::nan(""));
  generation_.resize(size, 0);
}

void KeySpace::Intern(const KeyBatch& batch, uint32_t* ids) {
  created_.clear();
  dictionary_.Intern(batch, ids, options_.maxKeys, &created_);
  FitPerKey();
}

void KeySpace::UndoIntern() {
  for (size_t j = created_.size(); j-- > 0;) dictionary_.Release(created_[j]);
  created_.clear();
}

uint32_t KeySpace::CheckLive(Span<const uint32_t> ids) const {
  bool live = true;
  uint32_t largest = 0;
  for (uint32_t id : ids) {
    live &= dictionary_.IsLive(id);
    largest = id > largest ? id : largest;
  }
  Require(live, codes::kOutOfRange, "a key id is not a live key of this object");
  return largest;
}

void KeySpace::AddTimer(double time, uint32_t id) {
  timers_.push_back(Timer{time, id, generation_[id]});
  std::push_heap(timers_.begin(), timers_.end(), Later);
}

void KeySpace::Touch(Span<const double> timestamps, Span<const uint32_t> ids) {
  if (options_.keyTtl == 0) return;
  for (size_t i = 0; i < ids.size; ++i) {
    double& seen = lastSeen_[ids[i]];
    if (seen != seen) {  // a new key (or one freed and reused): its first timer
      seen = timestamps[i];
      AddTimer(seen + options_.keyTtl, ids[i]);
    } else if (timestamps[i] > seen) {
      seen = timestamps[i];
    }
  }
}

void KeySpace::Free(uint32_t id) {
  dictionary_.Release(id);
  if (id < lastSeen_.size()) {
    lastSeen_[id] = std::nan("");
    ++generation_[id];
  }
}

size_t KeySpace::MemoryBytes() const {
  return dictionary_.MemoryBytes() + created_.capacity() * 4 + lastSeen_.capacity() * 8 + generation_.capacity() * 4 +
         (timers_.capacity() + later_.capacity()) * sizeof(Timer) + expired_.capacity() * 4;
}

void KeySpace::Write(SnapshotWriter& w) const {
  dictionary_.Write(w);
  w.Put<double>(expiredTotal_);
  w.Put<uint8_t>(options_.keyTtl > 0 ? 1 : 0);
  if (options_.keyTtl == 0) return;
  for (uint32_t id = 0; id < dictionary_.idCapacity(); ++id) {
    if (dictionary_.IsLive(id)) w.Put<double>(lastSeen_[id]);
  }
}

void KeySpace::Read(SnapshotReader& r) {
  KeyDictionary dictionary = KeyDictionary::Read(r);
  Require(dictionary.kind() == options_.kind, codes::kInvalidArgument, "snapshot holds keys of another kind");
  Require(dictionary.live() <= options_.maxKeys, codes::kOutOfRange, "snapshot holds more keys than maxKeys");
  const double expiredTotal = r.Get<double>();
  Require(expiredTotal >= 0, codes::kMalformedData, "snapshot expired-key count out of range");
  const uint8_t timed = r.Get<uint8_t>();
  Require(timed <= 1, codes::kMalformedData, "snapshot key section malformed");
  std::vector<double> lastSeen;
  if (timed) {
    lastSeen.assign(dictionary.idCapacity(), std::nan(""));
    for (uint32_t id = 0; id < dictionary.idCapacity(); ++id) {
      if (!dictionary.IsLive(id)) continue;
      const double seen = r.Get<double>();
      // NaN: interned, no event yet (no timer), as the live key space keeps it; never ±Infinity.
      Require(std::isfinite(seen) || std::isnan(seen), codes::kMalformedData, "snapshot key time is not finite");
      lastSeen[id] = seen;
    }
  }
  // Commit.
  dictionary_ = std::move(dictionary);
  expiredTotal_ = expiredTotal;
  created_.clear();
  expired_.clear();
  timers_.clear();
  lastSeen_.clear();
  generation_.clear();
  if (options_.keyTtl == 0) return;
  FitPerKey();
  // A snapshot taken without keyTtl has no times: its keys get their timers at their next event.
  if (!timed) return;
  for (uint32_t id = 0; id < dictionary_.idCapacity(); ++id) {
    if (!dictionary_.IsLive(id)) continue;
    lastSeen_[id] = lastSeen[id];
    if (!std::isnan(lastSeen[id])) AddTimer(lastSeen_[id] + options_.keyTtl, id);
  }
}

// ---- incremental checkpoints ------------------------------------------------------------------------

void KeySpace::WriteDeltaHeader(SnapshotWriter& w) const {
  w.Put<uint32_t>(dictionary_.idCapacity());
  w.Put<uint64_t>(dictionary_.live());
  w.Put<double>(expiredTotal_);
  w.Put<uint8_t>(options_.keyTtl > 0 ? 1 : 0);
}

void KeySpace::WriteDeltaKey(SnapshotWriter& w, uint32_t id) const {
  const bool live = dictionary_.IsLive(id);
  w.Put<uint8_t>(live ? 1 : 0);
  if (!live) return;
  const Span<const uint8_t> key = dictionary_.KeyOf(id);
  w.Put<uint32_t>(static_cast<uint32_t>(key.size));
  w.PutBytes(key.data, key.size);
  if (options_.keyTtl > 0) w.Put<double>(lastSeen_[id]);
}

void KeySpace::ReadDeltaHeader(SnapshotReader& r, Delta& delta) const {
  delta.idCapacity = r.Get<uint32_t>();
  delta.live = r.Get<uint64_t>();
  delta.expiredTotal = r.Get<double>();
  const uint8_t timed = r.Get<uint8_t>();
  CheckField(delta.idCapacity <= kMaxDictionaryKeys && delta.live <= delta.idCapacity, "keys.idCapacity");
  CheckField(IsCount(delta.expiredTotal) && delta.expiredTotal >= expiredTotal_, "keys.expiredTotal");
  Require(timed == (options_.keyTtl > 0 ? 1 : 0), codes::kInvalidArgument, "delta was taken with another keyTtl");
}

void KeySpace::ReadDeltaKey(SnapshotReader& r, uint32_t id, Delta& delta) const {
  DeltaKey entry{id, false, 0, 0, 0};
  const uint8_t live = r.Get<uint8_t>();
  CheckField(live <= 1, "keys[].live");
  entry.live = live == 1;
  if (entry.live) {
    entry.length = r.Get<uint32_t>();
    Require(entry.length <= kMaxKeyBytes && entry.length <= r.Remaining(), codes::kMalformedData, "delta key length out of range");
    entry.at = delta.bytes.size();
    delta.bytes.resize(entry.at + entry.length);
    r.GetBytes(delta.bytes.data() + entry.at, entry.length);
    CheckField(dictionary_.IsValidKey(delta.bytes.data() + entry.at, entry.length), "keys[].bytes");
    // NaN: interned, no event yet (no timer), as the live key space keeps it.
    if (options_.keyTtl > 0) entry.lastSeen = r.GetField<double>("keys[].lastSeen", [](double x) { return std::isfinite(x) || std::isnan(x); });
  }
  delta.keys.push_back(entry);
}

void KeySpace::CheckDelta(const Delta& delta) const {
  auto inDelta = [&delta](uint32_t id) {
    auto it = std::lower_bound(delta.keys.begin(), delta.keys.end(), id, [](const DeltaKey& k, uint32_t x) { return k.id < x; });
    return it != delta.keys.end() && it->id == id;
  };
  // Ids the delta leaves alone keep their keys: they must stay below the capacity.
  for (uint32_t id = dictionary_.idCapacity(); id-- > delta.idCapacity;) {
    CheckField(!dictionary_.IsLive(id) || inDelta(id), "keys.idCapacity (below a live id)");
  }
  uint64_t live = dictionary_.live();
  std::unordered_set<std::string_view> added;
  for (const DeltaKey& k : delta.keys) {
    live -= dictionary_.IsLive(k.id) ? 1 : 0;
    if (!k.live) continue;
    live += 1;
    CheckField(k.id < delta.idCapacity, "keys[].id (beyond idCapacity)");
    const uint8_t* bytes = delta.bytes.data() + k.at;
    // A key may move between ids only if its old id is in the delta too; never twice in one delta.
    const int64_t holder = dictionary_.Find(bytes, k.length);
    CheckField(holder < 0 || inDelta(static_cast<uint32_t>(holder)), "keys[].bytes (held by another id)");
    CheckField(added.emplace(reinterpret_cast<const char*>(bytes), k.length).second, "keys[].bytes (repeated)");
  }
  CheckField(live == delta.live && live <= options_.maxKeys, "keys.live");
}

void KeySpace::ApplyDelta(const Delta& delta) {
  for (const DeltaKey& k : delta.keys) {
    if (dictionary_.IsLive(k.id)) Free(k.id);  // its timers go stale by the generation
  }
  for (const DeltaKey& k : delta.keys) {
    if (k.live) dictionary_.Put(k.id, delta.bytes.data() + k.at, k.length);
  }
  dictionary_.SetIdCapacity(delta.idCapacity);
  expiredTotal_ = delta.expiredTotal;
  created_.clear();
  expired_.clear();
  if (options_.keyTtl == 0) return;
  FitPerKey();
  for (const DeltaKey& k : delta.keys) {
    if (!k.live) continue;
    lastSeen_[k.id] = k.lastSeen;
    if (!std::isnan(k.lastSeen)) AddTimer(k.lastSeen + options_.keyTtl, k.id);
  }
}

}  // namespace sluice

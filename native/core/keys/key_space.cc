#include "keys/key_space.h"

#include <cmath>

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
      Require(std::isfinite(seen), codes::kMalformedData, "snapshot key time is not finite");
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
    AddTimer(lastSeen_[id] + options_.keyTtl, id);
  }
}

}  // namespace sluice

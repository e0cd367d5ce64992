// KeySpace: what a keyed object needs around its KeyDictionary to take keys of any kind, grow, and expire
// idle keys: the dictionary, a limit on live keys (maxKeys), and with a time-to-live (keyTtl, in event time)
// each key's latest event time plus a timer per key. One piece for every keyed object (windows, state
// tables): the object keeps its per-key state in arrays indexed by the dictionary's ids and is asked,
// through callbacks, whether a key still holds state and to free it.
//
// Timers are lazy: a key's timer is due at lastSeen + keyTtl as of when it was set; when it comes up and the
// key saw events since, or still holds state, it is set again for later. A timer of an id freed and reused
// since is recognised by the id's generation and dropped.
// Memory per key, beyond the dictionary's: none without keyTtl; with it 8 (last event time) + 4 (generation)
// + 16 (timer) bytes.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "base/span.h"
#include "keys/key_dictionary.h"

namespace sluice {

// Marks a key space's section after an object's snapshot payload ("KEYS"), so that snapshots without one
// (dense ids, or older) restore as before.
inline constexpr uint32_t kKeySpaceSectionTag = 0x5359454B;

struct KeySpaceOptions {
  KeyKind kind = KeyKind::kString;
  uint32_t maxKeys = kMaxDictionaryKeys;  // live keys at most; new keys beyond are ERR_OUT_OF_RANGE
  double keyTtl = 0;                      // 0: keys never expire by time; else an integer ≥ 1
};

class KeySpace {
 public:
  explicit KeySpace(const KeySpaceOptions& options);

  const KeySpaceOptions& options() const { return options_; }
  const KeyDictionary& dictionary() const { return dictionary_; }

  // Gives the batch's keys their ids (all or nothing); UndoIntern() frees the keys this call created, for
  // a caller whose own work with the ids failed.
  void Intern(const KeyBatch& batch, uint32_t* ids);
  void UndoIntern();

  // ERR_OUT_OF_RANGE unless every id is live (ids given by the caller instead of keys).
  uint32_t CheckLive(Span<const uint32_t> ids) const;  // returns the largest id

  // Records that key ids[i] had an event at timestamps[i] (its latest event time is kept); sets the timer of
  // keys that have none. No-op without keyTtl.
  void Touch(Span<const double> timestamps, Span<const uint32_t> ids);

  // Frees every key whose timer is due at `watermark`, that saw no event for keyTtl behind it and holds no
  // state: releaseTime(id, lastSeen) gives the watermark from which the key holds none (≤ watermark: none
  // now); free(id) drops what the caller keeps for it. Returns the ids freed (valid until the next call).
  template <typename ReleaseTime, typename Free>
  const std::vector<uint32_t>& ExpireIdle(double watermark, ReleaseTime&& releaseTime, Free&& free);

  // Frees the given live ids now (explicit expiry); free(id) is called for each. Repeats are ignored.
  template <typename Free>
  const std::vector<uint32_t>& Expire(Span<const uint32_t> ids, Free&& free);

  const std::vector<uint32_t>& expired() const { return expired_; }  // of the last ExpireIdle / Expire
  size_t live() const { return dictionary_.live(); }
  double expiredTotal() const { return expiredTotal_; }
  double LastSeen(uint32_t id) const { return id < lastSeen_.size() ? lastSeen_[id] : 0; }
  size_t MemoryBytes() const;

  // Snapshot section: the dictionary, then per live key its latest event time; Read is all or nothing.
  void Write(SnapshotWriter& w) const;
  void Read(SnapshotReader& r);

  // Incremental checkpoints (an owner's delta, e.g. EventTimeWindows::SnapshotDelta): a header (id capacity,
  // live count, expired total, whether times follow), then per changed id its entry: live (its bytes and
  // latest event time) or not (a tombstone). ReadDelta* and CheckDelta change nothing; ApplyDelta commits a
  // checked delta, so an owner checks everything of its own before it changes anything.
  struct DeltaKey {
    uint32_t id;
    bool live;
    size_t at;        // the key's bytes: Delta::bytes[at, at + length)
    uint32_t length;
    double lastSeen;
  };
  struct Delta {
    uint32_t idCapacity = 0;
    uint64_t live = 0;
    double expiredTotal = 0;
    std::vector<DeltaKey> keys;  // ascending ids (the owner checks the order)
    std::vector<uint8_t> bytes;
  };
  const std::vector<uint32_t>& created() const { return created_; }  // ids the last Intern created
  void WriteDeltaHeader(SnapshotWriter& w) const;
  void WriteDeltaKey(SnapshotWriter& w, uint32_t id) const;
  void ReadDeltaHeader(SnapshotReader& r, Delta& delta) const;
  void ReadDeltaKey(SnapshotReader& r, uint32_t id, Delta& delta) const;
  void CheckDelta(const Delta& delta) const;
  void ApplyDelta(const Delta& delta);

 private:
  struct Timer {
    double time;
    uint32_t id;
    uint32_t generation;
  };
  static bool Later(const Timer& a, const Timer& b) { return a.time > b.time; }
  void AddTimer(double time, uint32_t id);
  void Free(uint32_t id);
  void FitPerKey();

  KeySpaceOptions options_;
  KeyDictionary dictionary_;
  std::vector<uint32_t> created_;     // ids the last Intern created
  std::vector<double> lastSeen_;      // [id] latest event time; NaN: no timer set (keyTtl only)
  std::vector<uint32_t> generation_;  // [id] bumped when the id is freed
  std::vector<Timer> timers_;         // min-heap by time
  std::vector<Timer> later_;          // ExpireIdle's scratch: timers set again
  std::vector<uint32_t> expired_;
  double expiredTotal_ = 0;
};

template <typename ReleaseTime, typename FreeKey>
const std::vector<uint32_t>& KeySpace::ExpireIdle(double watermark, ReleaseTime&& releaseTime, FreeKey&& free) {
  expired_.clear();
  later_.clear();
  while (!timers_.empty() && timers_.front().time <= watermark) {
    std::pop_heap(timers_.begin(), timers_.end(), Later);
    const Timer timer = timers_.back();
    timers_.pop_back();
    if (!dictionary_.IsLive(timer.id) || generation_[timer.id] != timer.generation) continue;  // stale
    const double seen = lastSeen_[timer.id];
    const double due = seen + options_.keyTtl;
    if (due > watermark) {  // saw events since the timer was set
      later_.push_back(Timer{due, timer.id, timer.generation});
      continue;
    }
    const double release = releaseTime(timer.id, seen);
    if (release == -std::numeric_limits<double>::infinity()) {
      free(timer.id);
      Free(timer.id);
      expired_.push_back(timer.id);
    } else {
      // Still holds a window: look again when it is purged (at the next call, if this advance purges it).
      later_.push_back(Timer{release > watermark ? release : watermark, timer.id, timer.generation});
    }
  }
  for (const Timer& timer : later_) {
    timers_.push_back(timer);
    std::push_heap(timers_.begin(), timers_.end(), Later);
  }
  if (!expired_.empty()) dictionary_.TrimIds();
  expiredTotal_ += static_cast<double>(expired_.size());
  return expired_;
}

template <typename FreeKey>
const std::vector<uint32_t>& KeySpace::Expire(Span<const uint32_t> ids, FreeKey&& free) {
  CheckLive(ids);
  expired_.clear();
  for (uint32_t id : ids) {
    if (!dictionary_.IsLive(id)) continue;  // a repeat in ids
    free(id);
    Free(id);
    expired_.push_back(id);
  }
  if (!expired_.empty()) dictionary_.TrimIds();
  expiredTotal_ += static_cast<double>(expired_.size());
  return expired_;
}

}  // namespace sluice

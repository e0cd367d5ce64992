// EventTimeWindows, session windows: the session pool, the timer buckets, pushing events (merging the
// sessions they bridge) and firing due sessions.
#include "windows/event_time_windows.h"

#include <algorithm>
#include <cmath>

#include "windows/event_time_windows_detail.h"

namespace sluice {

using namespace event_time_windows_detail;

int32_t EventTimeWindows::AllocateSession() {
  int32_t index = freeSession_;
  if (index >= 0) {
    freeSession_ = sessionCells_[index].next;
  } else {
    Require(sessionCells_.size() < static_cast<size_t>(INT32_MAX), codes::kOutOfRange, "too many open sessions");
    index = static_cast<int32_t>(sessionCells_.size());
    sessionCells_.emplace_back();
    sessions_.emplace_back();
    sessionAccumulators_.resize(sessionCells_.size() * channels_);
    if (sketches_) sessionSketches_.push_back(NewSketchCell());
  }
  for (size_t c = 0; c < channels_; ++c) sessionAccumulators_[static_cast<size_t>(index) * channels_ + c] = TimedAccumulator();
  if (sketches_) sessionSketches_[static_cast<size_t>(index)].Clear();  // a reused record keeps its allocations
  return index;
}

void EventTimeWindows::FreeSession(int32_t index) {
  sessionCells_[index].next = freeSession_;
  freeSession_ = index;
  sessions_[index].stamp += 1;
}

void EventTimeWindows::TimerBuckets::Add(const SessionTimer& timer) {
  const int64_t index = ClampIndex(std::floor(timer.time / width_));
  if (!last_ || index != lastIndex_) {
    auto [it, inserted] = buckets_.try_emplace(index);
    if (inserted && !spare_.empty()) {
      it->second = std::move(spare_.back());
      spare_.pop_back();
    }
    last_ = &it->second;
    lastIndex_ = index;
  }
  last_->push_back(timer);
}

template <typename Next>
void EventTimeWindows::TimerBuckets::Take(double limit, Next&& next) {
  carry_.clear();
  while (!buckets_.empty() && static_cast<double>(buckets_.begin()->first) * width_ <= limit) {
    auto it = buckets_.begin();
    if (last_ == &it->second) last_ = nullptr;
    std::vector<SessionTimer> bucket = std::move(it->second);
    buckets_.erase(it);
    for (const SessionTimer& timer : bucket) {
      if (timer.time > limit) {
        carry_.push_back(timer);
        continue;
      }
      const double time = next(timer);
      if (!std::isnan(time)) carry_.push_back(SessionTimer{time, timer.record, timer.stamp});
    }
    bucket.clear();
    spare_.push_back(std::move(bucket));
  }
  for (const SessionTimer& timer : carry_) Add(timer);
}

template <typename Callback>
void EventTimeWindows::TimerBuckets::ForEachUpTo(double limit, Callback&& visit) const {
  for (auto it = buckets_.begin(); it != buckets_.end() && static_cast<double>(it->first) * width_ <= limit; ++it) {
    for (const SessionTimer& timer : it->second) {
      if (timer.time <= limit) visit(timer);
    }
  }
}

void EventTimeWindows::TimerBuckets::Clear() {
  for (auto& [index, bucket] : buckets_) {
    bucket.clear();
    spare_.push_back(std::move(bucket));
  }
  buckets_.clear();
  last_ = nullptr;
}

size_t EventTimeWindows::TimerBuckets::Bytes() const {
  size_t bytes = carry_.capacity() * sizeof(SessionTimer);
  for (const auto& [index, bucket] : buckets_) bytes += bucket.capacity() * sizeof(SessionTimer) + 64;
  for (const auto& bucket : spare_) bytes += bucket.capacity() * sizeof(SessionTimer);
  return bytes;
}

void EventTimeWindows::AddTimer(TimerBuckets& timers, double time, int32_t record) {
  timers.Add(SessionTimer{time, record, sessions_[record].stamp});
}

void EventTimeWindows::QueueDue(int32_t record) {
  Session& s = sessions_[record];
  if (s.due) return;
  s.due = 1;
  AddTimer(dueSessions_, s.end, record);
}

template <typename T>
void EventTimeWindows::PushSessions(Span<const double> ts, Span<const uint32_t> keys, Span<const T> values,
                                    uint32_t* lateOut, size_t* lateCount) {
  const size_t n = ts.size, channels = channels_;
  const double gap = options_.gap, lateness = options_.allowedLateness, wm = watermark_;
  size_t late = 0;
  for (size_t i = 0; i < n; ++i) {
    const double t = ts[i], end = t + gap;
    const uint32_t key = keys.size ? keys[i] : 0;
    // The key's sessions are disjoint and sorted by start (hence by end): skip those ending before t.
    int32_t previous = -1, current = sessionHead_[key];
    while (current >= 0 && sessions_[current].end < t) {
      previous = current;
      current = sessionCells_[current].next;
    }
    int32_t target;
    if (current >= 0 && sessions_[current].start <= end) {
      target = current;
      Session& s = sessions_[target];
      // Absorb every following session that the new one [t, t + gap) bridges to.
      int32_t next = sessionCells_[target].next;
      while (next >= 0 && sessions_[next].start <= end) {
        const int32_t after = sessionCells_[next].next;
        s.end = std::max(s.end, sessions_[next].end);
        s.fired |= sessions_[next].fired;
        s.dirty |= sessions_[next].dirty;
        if (sessions_[next].fired && !s.cleanup) {  // the merged session takes over the purge timer
          s.cleanup = 1;
          AddTimer(cleanupSessions_, s.end - 1 + lateness, target);
        }
        sessionCells_[target].events += sessionCells_[next].events;
        for (size_t c = 0; c < channels; ++c) {
          sessionAccumulators_[static_cast<size_t>(target) * channels + c].Merge(
              sessionAccumulators_[static_cast<size_t>(next) * channels + c]);
        }
        if (sketches_) sessionSketches_[static_cast<size_t>(target)].Merge(sessionSketches_[static_cast<size_t>(next)]);
        FreeSession(next);
        next = after;
      }
      sessionCells_[target].next = next;
      s.start = std::min(s.start, t);
      s.end = std::max(s.end, end);
    } else {
      if (end - 1 + lateness <= wm) {  // a new session that is already past its cleanup time
        lateOut[late++] = static_cast<uint32_t>(i);
        continue;
      }
      target = AllocateSession();  // may move the pools: take references only after this
      Session& fresh = sessions_[target];
      fresh.start = t;
      fresh.end = end;
      fresh.fired = fresh.dirty = fresh.due = fresh.cleanup = 0;  // the stamp stays: it outlives the record
      sessionCells_[target] = Cell{key, current, 0};
      if (previous >= 0) sessionCells_[previous].next = target;
      else sessionHead_[key] = target;
    }
    Session& s = sessions_[target];
    if (s.fired) {
      s.dirty = 1;
      metrics_.updating += 1;
    } else if (s.end - 1 <= wm) {
      metrics_.updating += 1;  // fires at the next advance although its end has passed (allowed lateness)
    }
    if (!s.fired || s.dirty) QueueDue(target);
    sessionCells_[target].events += 1;
    TimedAccumulator* acc = &sessionAccumulators_[static_cast<size_t>(target) * channels];
    const T* v = values.data + i * channels;
    for (size_t c = 0; c < channels; ++c) acc[c].Add(static_cast<double>(v[c]), t);
    if (sketches_) AddToSketches(sessionSketches_[static_cast<size_t>(target)], v, channels);
  }
  *lateCount = late;
}

template void EventTimeWindows::PushSessions<double>(Span<const double>, Span<const uint32_t>, Span<const double>, uint32_t*, size_t*);
template void EventTimeWindows::PushSessions<float>(Span<const double>, Span<const uint32_t>, Span<const float>, uint32_t*, size_t*);

void EventTimeWindows::FireSessions(double newWatermark) {
  const double wm = std::max(newWatermark, watermark_);
  const double lateness = options_.allowedLateness;
  constexpr double kDrop = std::numeric_limits<double>::quiet_NaN();
  // Due sessions: end − 1 ≤ watermark, new or updated since they fired.
  sessionOrder_.clear();
  dueSessions_.Take(wm + 1, [&](const SessionTimer& timer) {
    Session& s = sessions_[timer.record];
    if (timer.stamp != s.stamp) return kDrop;  // freed (merged away or purged) since
    if (s.end - 1 > wm) return s.end;          // grew since it was timed: wait for its new end
    s.due = 0;
    sessionOrder_.emplace_back(s.end, uint64_t{sessionCells_[timer.record].key} << 32 | static_cast<uint32_t>(timer.record));
    return kDrop;
  });
  std::sort(sessionOrder_.begin(), sessionOrder_.end());  // (end, key, record); a key's sessions never share an end
  for (const auto& entry : sessionOrder_) {
    const int32_t r = static_cast<int32_t>(static_cast<uint32_t>(entry.second));
    Session& s = sessions_[r];
    EmitWindow(sessionCells_[r].key, s.start, s.end, sessionCells_[r].events,
               &sessionAccumulators_[static_cast<size_t>(r) * channels_], s.fired != 0,
               sketches_ ? &sessionSketches_[static_cast<size_t>(r)] : nullptr);
    s.fired = 1;
    s.dirty = 0;
    MarkChanged(sessionCells_[r].key);
    if (!s.cleanup) {
      s.cleanup = 1;
      AddTimer(cleanupSessions_, s.end - 1 + lateness, r);
    }
  }
  watermark_ = wm;
  // Purge fired sessions past their cleanup time (end − 1 + allowedLateness ≤ watermark).
  cleanupSessions_.Take(wm, [&](const SessionTimer& timer) {
    Session& s = sessions_[timer.record];
    if (timer.stamp != s.stamp) return kDrop;
    if (s.end - 1 + lateness > wm) return s.end - 1 + lateness;
    MarkChanged(sessionCells_[timer.record].key);
    int32_t* link = &sessionHead_[sessionCells_[timer.record].key];
    while (*link != timer.record) link = &sessionCells_[*link].next;
    *link = sessionCells_[timer.record].next;
    FreeSession(timer.record);
    return kDrop;
  });
}

// The due sessions that FireSessions would emit: one live timer per due session (older ones are stale).
size_t EventTimeWindows::SessionFiringCount(double watermark) const {
  const double wm = std::max(watermark, watermark_);
  size_t count = 0;
  dueSessions_.ForEachUpTo(wm + 1, [&](const SessionTimer& timer) {
    const Session& s = sessions_[timer.record];
    count += timer.stamp == s.stamp && s.end - 1 <= wm;
  });
  return count;
}

}  // namespace sluice

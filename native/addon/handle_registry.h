// Native memory of objects that JavaScript dropped without close(). V8 collects such an object in its next
// garbage collection (the bytes reported with AdjustExternalMemory make that come soon), but Node-API runs
// the finalizer that frees the native memory only when the event loop turns (Node 20 defers every finalizer
// of a non-experimental addon to a later task). A synchronous loop that creates objects never lets it turn:
// 100,000 windows reached 9 GB. So the registry frees the native memory itself: every object that reports
// bytes is listed, and once the bytes reported since the last sweep reach the bytes that were live after it
// (at least kMinSweepBytes), a sweep releases every listed object whose JS object is gone (its weak
// reference is empty). The finalizer still runs later and finds nothing left to free. The threshold grows
// with the live bytes, so the sweeps cost O(1) amortised per object created, and the native memory of
// dropped objects stays within about max(kMinSweepBytes, live bytes) of what is in use plus what V8 has not
// collected yet.
#pragma once
#include <napi.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

class CollectableHandle {
 public:
  virtual ~CollectableHandle() = default;
  // Frees the native object now if its JS object was collected (its weak reference is empty).
  virtual void ReleaseIfCollected(Napi::Env env) = 0;

 private:
  friend class HandleRegistry;
  size_t registryIndex_ = SIZE_MAX;
};

class HandleRegistry {
 public:
  static constexpr int64_t kMinSweepBytes = int64_t{64} << 20;

  void Add(CollectableHandle* handle) {
    handle->registryIndex_ = handles_.size();
    handles_.push_back(handle);
  }

  void Remove(CollectableHandle* handle) {
    const size_t i = handle->registryIndex_;
    if (i >= handles_.size() || handles_[i] != handle) return;
    handles_[i] = handles_.back();
    handles_[i]->registryIndex_ = i;
    handles_.pop_back();
    handle->registryIndex_ = SIZE_MAX;
  }

  // A listed object's reported bytes changed by `delta`; sweeps when enough were added since the last sweep.
  void Adjust(Napi::Env env, int64_t delta) {
    liveBytes_ += delta;
    if (delta <= 0 || sweeping_) return;
    grownSinceSweep_ += delta;
    if (grownSinceSweep_ >= std::max(kMinSweepBytes, liveAfterSweep_)) Sweep(env);
  }

  size_t size() const { return handles_.size(); }

 private:
  void Sweep(Napi::Env env) {
    sweeping_ = true;  // releasing reports negative deltas: no sweep inside the sweep
    // By index, from the end: a release may Remove() the entry (swapping the last one into its place).
    for (size_t i = handles_.size(); i-- > 0;) {
      if (i < handles_.size()) handles_[i]->ReleaseIfCollected(env);
    }
    sweeping_ = false;
    grownSinceSweep_ = 0;
    liveAfterSweep_ = liveBytes_;
  }

  std::vector<CollectableHandle*> handles_;
  int64_t liveBytes_ = 0, grownSinceSweep_ = 0, liveAfterSweep_ = 0;
  bool sweeping_ = false;
};

// What every binding class shares: a JS object (Napi::ObjectWrap<Derived>) that owns one core object.
// - The core object is held by shared_ptr: async work and objects built over it (a state over a model)
//   hold their own, so close() frees it for JS at once and the memory goes with the last holder.
// - The bytes reported to V8 as external memory for it (ReportMemory) are given back on close() or
//   finalization.
// - close() is idempotent; after it every call is ERR_INVALID_STATE with the class's own message.
// - While an async call queued with QueueWhileBusy is in flight the object is busy: calls that use
//   Ready() are ERR_INVALID_STATE with the busy message; close() still closes at once.
// Derived passes its messages to the constructor, builds its core object there (Attach, then ReportMemory
// for the host bytes it holds) and defines its JS class with DefineHandleClass, which adds close();
// Snapshot and Restore serve cores that have them.
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "addon.h"
#include "async_work.h"
#include "errors.h"
#include "handle_registry.h"
#include "typed_array.h"

template <class Derived, class Core>
class NativeHandle : public Napi::ObjectWrap<Derived>, public CollectableHandle {
 public:
  ~NativeHandle() override { registry_->Remove(this); }

  // For HandleRegistry's sweeps: frees the core now if JS dropped the object without close() and V8 has
  // collected it (the weak reference ObjectWrap holds is empty), instead of when its finalizer runs.
  void ReleaseIfCollected(Napi::Env env) override {
    if (core_ && Wrap::Value().IsEmpty()) Release(env);
  }

  // The core object, for whoever keeps it beyond this call; ERR_INVALID_STATE once closed (not when busy).
  std::shared_ptr<Core> SharedCore(Napi::Env env) const {
    Opened(env);
    return core_;
  }

  // Runs from a C callback (GC or environment teardown): nothing may throw out of it, and a napi call that
  // fails while a worker stops (reporting memory) changes nothing that matters then.
  void Finalize(Napi::Env env) override {
    try {
      Release(env);
    } catch (...) {
    }
  }

 protected:
  using Wrap = Napi::ObjectWrap<Derived>;
  using Methods = std::vector<typename Wrap::PropertyDescriptor>;

  // The JS class: `methods`, then close().
  static Napi::Function DefineHandleClass(Napi::Env env, const char* name, Methods methods) {
    methods.push_back(Wrap::InstanceMethod("close", &Derived::Close));
    return Wrap::DefineClass(env, name, methods);
  }

  // closedMessage, busyMessage: string literals, the ERR_INVALID_STATE messages.
  NativeHandle(const Napi::CallbackInfo& info, const char* closedMessage, const char* busyMessage = "")
      : Wrap(info), closedMessage_(closedMessage), busyMessage_(busyMessage), registry_(SluiceAddon::From(info.Env()).handles()) {
    registry_->Add(this);
  }

  // Takes the core object; returns it.
  Core& Attach(std::shared_ptr<Core> core) {
    core_ = std::move(core);
    return *core_;
  }

  // The core object's host bytes now: tells V8 the difference from what was reported before.
  void ReportMemory(Napi::Env env, size_t bytes) {
    const auto now = static_cast<int64_t>(bytes);
    if (now == reported_) return;
    const int64_t delta = now - reported_;
    Napi::MemoryManagement::AdjustExternalMemory(env, delta);
    reported_ = now;
    registry_->Adjust(env, delta);  // last: a sweep may release other objects
  }
  int64_t reportedBytes() const { return reported_; }

  bool closed() const { return !core_; }

  // For calls that read or write the core: ERR_INVALID_STATE once closed or while busy.
  Core& Ready(Napi::Env env) const {
    Core& core = Opened(env);
    if (busy_) ThrowSluiceError(env, sluice::codes::kInvalidState, busyMessage_);
    return core;
  }

  // For calls that may run while busy (what an async call does not change): ERR_INVALID_STATE once closed.
  Core& Opened(Napi::Env env) const {
    if (!core_) ThrowSluiceError(env, sluice::codes::kInvalidState, closedMessage_);
    return *core_;
  }

  // QueuePromiseWork, the object busy until the Promise settles; `settled` runs then too, on the JS
  // thread. `pinned` must hold the object itself (info.This()): the settling uses `this`.
  template <class Work, class Finish, class Settled = NothingOnSettle>
  Napi::Promise QueueWhileBusy(Napi::Env env, std::initializer_list<Napi::Value> pinned, Work work, Finish finish,
                               Settled settled = Settled()) {
    Napi::Promise promise = QueuePromiseWork(env, pinned, std::move(work), std::move(finish),
                                             [this, settled = std::move(settled)]() mutable {
                                               busy_ = false;
                                               settled();
                                             });
    busy_ = true;  // once queued: a call that fails before leaves the object as it was
    return promise;
  }

  // snapshot() → Uint8Array of Core::Snapshot().
  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Core& core = Ready(env);
    return TranslateErrors(env, [&]() -> Napi::Value { return CopyToTypedArray(env, core.Snapshot()); });
  }

  // snapshotDelta() → Uint8Array of Core::SnapshotDelta() (the keys changed since the last checkpoint).
  Napi::Value SnapshotDelta(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Core& core = Ready(env);
    return TranslateErrors(env, [&]() -> Napi::Value { return CopyToTypedArray(env, core.SnapshotDelta()); });
  }

  // Core::ApplyDelta(bytes) → { changed, live }: the ids the delta replaced, and those of them live now (lib
  // updates its string map by them). Shared bytes are copied: the parser checks the checksum, then reads.
  Napi::Value ApplyDeltaFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Core& core = Ready(env);
    const StableColumn<uint8_t> bytes(env, info[0], "bytes");
    TranslateErrors(env, [&] { core.ApplyDelta(bytes.span()); });
    const std::vector<uint32_t>& changed = core.appliedKeys();
    std::vector<uint32_t> live;
    if (const auto* space = core.keySpace()) {
      for (uint32_t id : changed) {
        if (space->dictionary().IsLive(id)) live.push_back(id);
      }
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("changed", CopyToTypedArray(env, changed));
    out.Set("live", CopyToTypedArray(env, live));
    return out;
  }

  // restore(bytes) → undefined. Derived answers otherwise with a Restore of its own over RestoreFrom.
  Napi::Value Restore(const Napi::CallbackInfo& info) {
    RestoreFrom(info);
    return info.Env().Undefined();
  }

  // Core::Restore(bytes) from restore(bytes: Uint8Array); the core, for what Derived answers.
  Core& RestoreFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Core& core = Ready(env);
    // The parser checks lengths and the checksum before it reads what they cover: shared bytes are copied.
    const StableColumn<uint8_t> bytes(env, info[0], "bytes");
    TranslateErrors(env, [&] { core.Restore(bytes.span()); });
    return core;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release(info.Env());
    return info.Env().Undefined();
  }

 private:
  void Release(Napi::Env env) {
    if (!core_) return;
    core_.reset();
    ReportMemory(env, 0);
  }

  std::shared_ptr<Core> core_;
  const char* closedMessage_;
  const char* busyMessage_;
  bool busy_ = false;  // set and cleared on the JS thread
  int64_t reported_ = 0;
  std::shared_ptr<HandleRegistry> registry_;
};

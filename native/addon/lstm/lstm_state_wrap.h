// One binding for the per-key LSTM state of every backend: new (model, capacity); step(keys, x, out) →
// floats written; stepAsync(keys, x, out) → Promise of `out`, stepped on the async lane (async_work.h); reset(keys?);
// snapshot() → Uint8Array; restore(bytes); info(); close(). The host memory the state holds
// (State::HostBytes()) is reported to V8 as external memory.
// stepAsync checks everything (closed, lengths, keys) on the JS thread before queuing, and steps copies of
// keys and x into memory of its own (the caller may reuse its arrays). While it is in flight the state is busy:
// step, stepAsync, reset, snapshot and restore are ERR_INVALID_STATE; close() closes the state for JS at
// once, and the worker's shared_ptr keeps the table (and, through it, the model) until the step ends.
// A CPU state may be keyed (new (model, capacity, { keys, maxKeys })): step/stepAsync then take key columns
// (64-bit ids or { bytes, offsets }, interned natively in the same call; or ids of live keys), and
// intern(keys, ids), undoIntern(), expire(ids | keys), keysOf(ids) and liveIds() serve lib (string keys are
// translated there: key_column.ts). The CUDA state takes dense ids only.
// A Backend names the rest:
//   using State = sluice::LstmState;                  // or sluice::CudaLstmState
//   static constexpr const char* kClassName = "NativeLstmState";
//   static std::shared_ptr<Model> UnwrapModel(Napi::Env, const Napi::Value&);  // ERR_INVALID_TYPE, _STATE
//   static size_t ParseCapacity(Napi::Env, const Napi::Value&);
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "arguments.h"
#include "async_buffers.h"
#include "keys/key_column.h"
#include "lstm/lstm_state.h"
#include "native_handle.h"
#include "typed_array.h"

template <class Backend>
class LstmStateWrap : public NativeHandle<LstmStateWrap<Backend>, typename Backend::State> {
  using State = typename Backend::State;
  using Handle = NativeHandle<LstmStateWrap<Backend>, State>;
  static constexpr bool kKeyed = std::is_same_v<State, sluice::LstmState>;  // only the CPU state has a key space

 public:
  static Napi::Function Define(Napi::Env env) {
    return Handle::DefineHandleClass(env, Backend::kClassName,
                                     {Handle::InstanceMethod("step", &LstmStateWrap::Step),
                                      Handle::InstanceMethod("stepAsync", &LstmStateWrap::StepAsync),
                                      Handle::InstanceMethod("reset", &LstmStateWrap::Reset),
                                      Handle::InstanceMethod("snapshot", &LstmStateWrap::Snapshot),
                                      Handle::InstanceMethod("restore", &LstmStateWrap::Restore),
                                      Handle::InstanceMethod("info", &LstmStateWrap::Info),
                                      Handle::InstanceMethod("intern", &LstmStateWrap::Intern),
                                      Handle::InstanceMethod("undoIntern", &LstmStateWrap::UndoIntern),
                                      Handle::InstanceMethod("expire", &LstmStateWrap::Expire),
                                      Handle::InstanceMethod("keysOf", &LstmStateWrap::KeysOf),
                                      Handle::InstanceMethod("liveIds", &LstmStateWrap::LiveIds)});
  }

  LstmStateWrap(const Napi::CallbackInfo& info)
      : Handle(info, "the LstmState is closed", "a stepAsync is in flight on this LstmState: await it first") {
    Napi::Env env = info.Env();
    TranslateErrors(env, [&] {
      auto model = Backend::UnwrapModel(env, info[0]);  // the model first: its errors come before the capacity's
      const size_t capacity = Backend::ParseCapacity(env, info[1]);
      std::optional<sluice::KeySpaceOptions> keys;
      if (info[2].IsObject()) {
        const Napi::Object o = info[2].As<Napi::Object>();
        sluice::KeySpaceOptions space;
        space.kind = KeyKindArg(env, o.Get("keys"), "keys");
        const double maxKeys = NumberOption(env, o, "maxKeys", 0);
        if (!(maxKeys >= 0 && maxKeys <= 4294967295.0)) ThrowSluiceError(env, sluice::codes::kOutOfRange, "maxKeys must be a positive integer");
        if (maxKeys > 0) space.maxKeys = static_cast<uint32_t>(maxKeys);
        keys = space;
      }
      std::shared_ptr<State> created;
      if constexpr (kKeyed) {
        created = std::make_shared<State>(std::move(model), capacity, keys ? &*keys : nullptr);
      } else {
        if (keys) ThrowSluiceError(env, sluice::codes::kNotSupported, "a CUDA LstmState takes dense ids only (no `keys` option)");
        created = std::make_shared<State>(std::move(model), capacity);
      }
      const State& state = this->Attach(std::move(created));
      this->ReportMemory(env, state.HostBytes());
    });
  }

 private:
  // step(keys, x, out) and stepAsync's arguments.
  struct StepArgs {
    sluice::Span<uint32_t> keys;
    sluice::Span<float> x, out;
  };
  static StepArgs ParseStepArgs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return {ToSpan<uint32_t>(env, info[0], "keys"), ToSpan<float>(env, info[1], "x"), ToSpan<float>(env, info[2], "out")};
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      State& state = this->Ready(env);
      if constexpr (kKeyed) {
        if (state.keySpace() && !IsUint32Array(info[0])) {  // keys to intern: one call interns and steps
          const KeyColumn keys(env, info[0], "keys");
          const auto x = ToSpan<float>(env, info[1], "x");
          const auto out = ToSpan<float>(env, info[2], "out");
          state.StepKeys(keys.batch(), x, out);
          this->ReportMemory(env, state.HostBytes());
          return Napi::Number::New(env, static_cast<double>(keys.batch().size() * state.model().outputSize()));
        }
      }
      const StepArgs args = ParseStepArgs(info);
      const StableColumn<uint32_t> keys(env, info[0], "keys");  // keys index the table: checked, then used
      state.Step(keys.span(), args.x, args.out);
      return Napi::Number::New(env, static_cast<double>(args.keys.size * state.model().outputSize()));
    });
  }

  // Steps copies of keys and x (the keys index the table: checked once, on the copy) into memory of its own,
  // copied into out when it ends (async_buffers.h: ERR_INVALID_STATE if out was detached or shrunk meanwhile).
  Napi::Value StepAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      this->Ready(env);
      std::shared_ptr<const AsyncInput<uint32_t>> keys;
      std::shared_ptr<State> state = this->SharedCore(env);
      bool interned = false;
      if constexpr (kKeyed) {
        if (state->keySpace() && !IsUint32Array(info[0])) {
          // Keys are interned here, on the JS thread (the table grows here too); the worker steps a copy of
          // their ids. A step refused below forgets the keys this call created.
          const KeyColumn column(env, info[0], "keys");
          std::vector<uint32_t> ids(column.batch().size());
          sluice::CheckStepLengths(ids.size(), state->model().inputSize(), state->model().outputSize(),
                                   ToSpan<float>(env, info[1], "x").size, ToSpan<float>(env, info[2], "out").size);
          state->Intern(column.batch(), sluice::Span<uint32_t>(ids.data(), ids.size()));
          keys = std::make_shared<const AsyncInput<uint32_t>>(sluice::Span<uint32_t>(ids.data(), ids.size()));
          interned = true;
        }
      }
      if (!interned) keys = std::make_shared<const AsyncInput<uint32_t>>(ToSpan<uint32_t>(env, info[0], "keys"));
      auto undo = [&] {
        if constexpr (kKeyed) {
          if (interned) state->UndoIntern();
        }
      };
      std::shared_ptr<const AsyncInput<float>> x;
      std::shared_ptr<AsyncOutput<float>> out;
      try {
        const auto xSpan = ToSpan<float>(env, info[1], "x");
        const auto outSpan = ToSpan<float>(env, info[2], "out");
        x = std::make_shared<const AsyncInput<float>>(xSpan);
        out = std::make_shared<AsyncOutput<float>>(info[2], outSpan.size, "out");
        state->CheckStep(keys->span(), x->span(), out->span());
      } catch (...) {
        undo();
        throw;
      }
      if (interned) this->ReportMemory(env, state->HostBytes());
      return this->QueueWhileBusy(
          env, {info.This()}, [state, keys, x, out] { state->Step(keys->span(), x->span(), out->span()); },
          [out](Napi::Env env, const std::vector<Napi::ObjectReference>&) { return out->Deliver(env); });
    });
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      State& state = this->Ready(env);
      if (info[0].IsUndefined()) state.ResetAll();
      else state.Reset(StableColumn<uint32_t>(env, info[0], "keys").span());
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    // Allowed while busy: the sizes change only on the JS thread (a keyed table grows before a step is queued).
    const State& state = this->Opened(env);
    Napi::Object result = Napi::Object::New(env);
    result.Set("capacity", static_cast<double>(state.capacity()));
    result.Set("bytesPerKey", static_cast<double>(state.BytesPerKey()));
    result.Set("bytes", static_cast<double>(state.Bytes()));
    if constexpr (kKeyed) {
      if (const sluice::KeySpace* space = state.keySpace()) {
        result.Set("liveKeys", static_cast<double>(space->live()));
        result.Set("expiredKeys", space->expiredTotal());
        result.Set("keyBytes", static_cast<double>(space->dictionary().KeyBytes()));
        result.Set("dictionaryBytes", static_cast<double>(space->MemoryBytes()));
      }
    }
    return result;
  }

  // restore(bytes): a keyed state's table and dictionary may change size; their bytes are reported again.
  Napi::Value Restore(const Napi::CallbackInfo& info) {
    const State& state = this->RestoreFrom(info);
    this->ReportMemory(info.Env(), state.HostBytes());
    return info.Env().Undefined();
  }

  // The key space's calls (keyed CPU states; ERR_INVALID_ARGUMENT otherwise).
  template <typename Body>
  Napi::Value Keyed(const Napi::CallbackInfo& info, Body&& body) {
    Napi::Env env = info.Env();
    return TranslateErrors(env, [&]() -> Napi::Value {
      State& state = this->Ready(env);
      if constexpr (kKeyed) {
        if (state.keySpace()) return body(env, state);
      }
      ThrowSluiceError(env, sluice::codes::kInvalidArgument, "this LstmState takes dense Uint32Array ids (no `keys` kind was set)");
    });
  }

  // intern(keys, ids): the ids of keys (packed bytes or 64-bit ids), new keys added and the table grown; all
  // or nothing. For lib's string keys, which steps the ids after (undoIntern() if that step is refused).
  Napi::Value Intern(const Napi::CallbackInfo& info) {
    return Keyed(info, [&](Napi::Env env, auto& state) -> Napi::Value {
      const KeyColumn keys(env, info[0], "keys");
      state.Intern(keys.batch(), ToSpan<uint32_t>(env, info[1], "ids"));
      this->ReportMemory(env, state.HostBytes());
      return env.Undefined();
    });
  }

  Napi::Value UndoIntern(const Napi::CallbackInfo& info) {
    return Keyed(info, [&](Napi::Env env, auto& state) -> Napi::Value {
      state.UndoIntern();
      return env.Undefined();
    });
  }

  // expire(ids | keys) → how many keys were freed: their (h, c) zeroed, their ids reused. Keys the state
  // does not hold are skipped; ids must be live (ERR_OUT_OF_RANGE, nothing freed).
  Napi::Value Expire(const Napi::CallbackInfo& info) {
    return Keyed(info, [&](Napi::Env env, auto& state) -> Napi::Value {
      std::vector<uint32_t> found;
      sluice::Span<const uint32_t> ids;
      StableColumn<uint32_t> idColumn;
      if (IsUint32Array(info[0])) {
        idColumn = StableColumn<uint32_t>(env, info[0], "ids");
        ids = idColumn.span();
      } else {
        const KeyColumn keys(env, info[0], "keys");
        found = HeldIds(state.keySpace()->dictionary(), keys.batch());
        ids = sluice::Span<const uint32_t>(found.data(), found.size());
      }
      const size_t freed = state.Expire(ids);
      this->ReportMemory(env, state.HostBytes());
      return Napi::Number::New(env, static_cast<double>(freed));
    });
  }

  // keysOf(ids) → the keys of live ids: BigUint64Array / BigInt64Array, or { bytes, offsets }.
  Napi::Value KeysOf(const Napi::CallbackInfo& info) {
    return Keyed(info, [&](Napi::Env env, auto& state) -> Napi::Value {
      const StableColumn<uint32_t> ids(env, info[0], "ids");  // checked live, then read: one read each
      return KeysOfIds(env, state.keySpace()->dictionary(), ids.span());
    });
  }

  // liveIds() → Uint32Array: every live key's id, ascending (to rebuild lib's string map after a restore).
  Napi::Value LiveIds(const Napi::CallbackInfo& info) {
    return Keyed(info, [&](Napi::Env env, auto& state) -> Napi::Value {
      return LiveIdsOf(env, &state.keySpace()->dictionary());
    });
  }
};

// KeyDictionary for JS: keys of one kind (string as UTF-8 bytes, 64-bit ids, bytes) ↔ dense ids, one native
// call per batch. lib/keys/key_dictionary.ts turns string[] into packed bytes and back.
#include <algorithm>
#include <memory>
#include <vector>

#include "addon.h"
#include "arguments.h"
#include "keys/key_column.h"
#include "native_handle.h"
#include "typed_array.h"

namespace {

using sluice::KeyDictionary;

class KeyDictionaryBinding : public NativeHandle<KeyDictionaryBinding, KeyDictionary> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineHandleClass(env, "KeyDictionary",
                             {InstanceMethod("intern", &KeyDictionaryBinding::Intern),
                              InstanceMethod("find", &KeyDictionaryBinding::Find),
                              InstanceMethod("release", &KeyDictionaryBinding::ReleaseIds),
                              InstanceMethod("keysOf", &KeyDictionaryBinding::KeysOf),
                              InstanceMethod("info", &KeyDictionaryBinding::Info),
                              InstanceMethod("snapshot", &KeyDictionaryBinding::Snapshot),
                              InstanceMethod("restore", &KeyDictionaryBinding::Restore)});
  }

  // new KeyDictionary(kind, maxKeys)
  explicit KeyDictionaryBinding(const Napi::CallbackInfo& info) : NativeHandle(info, "KeyDictionary is closed") {
    Napi::Env env = info.Env();
    const sluice::KeyKind kind = KeyKindArg(env, info[0], "kind");
    const double maxKeys = info[1].IsUndefined() ? sluice::kMaxDictionaryKeys : NumberArg(env, info[1], "maxKeys");
    if (!(maxKeys >= 1 && maxKeys <= sluice::kMaxDictionaryKeys)) {
      ThrowSluiceError(env, sluice::codes::kOutOfRange, "maxKeys must be in [1, 2^28]");
    }
    maxKeys_ = static_cast<uint32_t>(maxKeys);
    TranslateErrors(env, [&] { ReportMemory(env, Attach(std::make_shared<KeyDictionary>(kind)).MemoryBytes()); });
  }

 private:
  // intern(keys, ids) → undefined: ids[i] = the id of key i (new keys added; all or nothing).
  Napi::Value Intern(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    KeyDictionary& dictionary = Ready(env);
    const KeyColumn keys(env, info[0], "keys");
    const sluice::KeyBatch& batch = keys.batch();
    const auto ids = ToSpan<uint32_t>(env, info[1], "ids");
    if (ids.size < batch.size()) ThrowSluiceError(env, sluice::codes::kInvalidLength, "ids must hold one id per key");
    TranslateErrors(env, [&] { dictionary.Intern(batch, ids.data, maxKeys_); });
    ReportMemory(env, dictionary.MemoryBytes());
    return env.Undefined();
  }

  // find(keys, ids) → undefined: ids[i] = the id of key i, or 0xFFFFFFFF when unknown; adds nothing.
  Napi::Value Find(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    KeyDictionary& dictionary = Ready(env);
    const KeyColumn keys(env, info[0], "keys");
    const sluice::KeyBatch& batch = keys.batch();
    const auto ids = ToSpan<uint32_t>(env, info[1], "ids");
    if (ids.size < batch.size()) ThrowSluiceError(env, sluice::codes::kInvalidLength, "ids must hold one id per key");
    TranslateErrors(env, [&] {
      for (size_t i = 0; i < batch.size(); ++i) {
        const int64_t id = FindKeyAt(dictionary, batch, i);
        ids[i] = id < 0 ? 0xFFFFFFFFu : static_cast<uint32_t>(id);
      }
    });
    return env.Undefined();
  }

  // release(ids) → undefined: frees live ids (all checked first).
  Napi::Value ReleaseIds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    KeyDictionary& dictionary = Ready(env);
    const auto ids = ToSpan<uint32_t>(env, info[0], "ids");
    std::vector<uint32_t> unique(ids.begin(), ids.end());
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    for (uint32_t id : unique) {
      if (!dictionary.IsLive(id)) ThrowSluiceError(env, sluice::codes::kOutOfRange, "an id is not a live key");
    }
    for (uint32_t id : unique) dictionary.Release(id);
    ReportMemory(env, dictionary.MemoryBytes());
    return env.Undefined();
  }

  Napi::Value KeysOf(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const StableColumn<uint32_t> ids(env, info[0], "ids");  // checked live, then read: one read each
    return KeysOfIds(env, Ready(env), ids.span());
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const KeyDictionary& dictionary = Ready(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("size", static_cast<double>(dictionary.live()));
    o.Set("idCapacity", static_cast<double>(dictionary.idCapacity()));
    o.Set("keyBytes", static_cast<double>(dictionary.KeyBytes()));
    o.Set("memoryBytes", static_cast<double>(dictionary.MemoryBytes()));
    return o;
  }

  Napi::Value Restore(const Napi::CallbackInfo& info) {
    ReportMemory(info.Env(), RestoreFrom(info).MemoryBytes());
    return info.Env().Undefined();
  }

  uint32_t maxKeys_ = sluice::kMaxDictionaryKeys;
};

}  // namespace

void InitKeyDictionary(Napi::Env env, Napi::Object exports) {
  exports.Set("KeyDictionary", KeyDictionaryBinding::Define(env));
}

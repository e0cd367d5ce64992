// Key columns from JS for the bindings of keyed classes: 64-bit ids (BigInt64Array / BigUint64Array) or
// packed bytes ({ bytes: Uint8Array, offsets: Uint32Array }, offsets with one entry more than keys) as a
// sluice::KeyBatch over the caller's memory; and keys given back for ids, in the dictionary's kind.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "errors.h"
#include "keys/key_dictionary.h"
#include "typed_array.h"

inline bool IsUint32Array(const Napi::Value& value) {
  return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array;
}

inline bool IsBigIntArray(const Napi::Value& value) {
  if (!value.IsTypedArray()) return false;
  const napi_typedarray_type type = value.As<Napi::TypedArray>().TypedArrayType();
  return type == napi_bigint64_array || type == napi_biguint64_array;
}

// A key column as a sluice::KeyBatch: a view of the caller's memory, or, for each part that lives in a
// SharedArrayBuffer, a one-time copy (as StableColumn does): the dictionary checks offsets and UTF-8 in one
// pass and interns in the next, so what it checks must be what it uses. ERR_INVALID_TYPE for anything but
// the two forms above. Keep the KeyColumn alive while batch() is used.
class KeyColumn {
 public:
  KeyColumn() = default;
  KeyColumn(KeyColumn&&) = default;  // the vectors' buffers move with them: the spans stay valid
  KeyColumn& operator=(KeyColumn&&) = default;
  KeyColumn(const KeyColumn&) = delete;

  KeyColumn(Napi::Env env, const Napi::Value& value, const char* argName) {
    if (IsBigIntArray(value)) {
      // The element pointer straight from napi (it includes the byte offset): ArrayBuffer() refuses the
      // buffer of a typed array over a SharedArrayBuffer.
      size_t length = 0;
      void* data = nullptr;
      if (napi_get_typedarray_info(env, value, nullptr, &length, &data, nullptr, nullptr) != napi_ok) {
        ThrowSluiceError(env, sluice::codes::kInvalidType, std::string(argName) + ": cannot read the typed array");
      }
      batch_.words = Stable(env, value, sluice::Span<const uint64_t>(static_cast<const uint64_t*>(data), length), words_);
      return;
    }
    if (value.IsObject() && !value.IsTypedArray() && !value.IsArray()) {
      const Napi::Object o = value.As<Napi::Object>();
      const Napi::Value bytes = o.Get("bytes"), offsets = o.Get("offsets");  // read once: getters may change
      if (bytes.IsTypedArray() && offsets.IsTypedArray()) {
        batch_.packed = true;
        const std::string name(argName);
        batch_.bytes = Stable(env, bytes, ToSpan<uint8_t>(env, bytes, (name + ".bytes").c_str()), bytes_);
        batch_.offsets = Stable(env, offsets, ToSpan<uint32_t>(env, offsets, (name + ".offsets").c_str()), offsets_);
        if (batch_.offsets.size == 0) {
          ThrowSluiceError(env, sluice::codes::kInvalidLength, name + ".offsets needs keys + 1 entries");
        }
        return;
      }
    }
    ThrowSluiceError(env, sluice::codes::kInvalidType,
                     std::string(argName) + " must be a Uint32Array, BigInt64Array, BigUint64Array or { bytes, offsets }");
  }

  const sluice::KeyBatch& batch() const { return batch_; }

 private:
  template <typename T, typename U>
  static sluice::Span<const T> Stable(Napi::Env env, const Napi::Value& array, sluice::Span<U> caller, std::vector<T>& copy) {
    if (!IsSharedMemory(env, array)) return sluice::Span<const T>(caller.data, caller.size);
    copy.assign(caller.data, caller.data + caller.size);
    return sluice::Span<const T>(copy.data(), copy.size());
  }

  std::vector<uint64_t> words_;
  std::vector<uint8_t> bytes_;
  std::vector<uint32_t> offsets_;
  sluice::KeyBatch batch_;
};

// The id of the batch's key i, or −1; the key's offsets are checked (CoreError ERR_OUT_OF_RANGE).
inline int64_t FindKeyAt(const sluice::KeyDictionary& dictionary, const sluice::KeyBatch& batch, size_t i) {
  if (!batch.packed) return dictionary.Find(reinterpret_cast<const uint8_t*>(batch.words.data + i), 8);
  const uint32_t from = batch.offsets[i], to = batch.offsets[i + 1];
  sluice::Require(from <= to && to <= batch.bytes.size, sluice::codes::kOutOfRange, "key offsets out of range");
  return dictionary.Find(batch.bytes.data + from, to - from);
}

// held[i] = 1 when the batch's key i is a live key of the dictionary, else 0 (adds nothing).
inline void HeldKeys(const sluice::KeyDictionary& dictionary, const sluice::KeyBatch& batch, sluice::Span<uint8_t> held) {
  sluice::Require(held.size >= batch.size(), sluice::codes::kInvalidLength, "held must have one entry per key");
  for (size_t i = 0; i < batch.size(); ++i) held[i] = FindKeyAt(dictionary, batch, i) >= 0 ? 1 : 0;
}

// The ids of the batch's keys the dictionary holds, in batch order; keys it lacks are skipped (expire() by key).
inline std::vector<uint32_t> HeldIds(const sluice::KeyDictionary& dictionary, const sluice::KeyBatch& batch) {
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < batch.size(); ++i) {
    const int64_t id = FindKeyAt(dictionary, batch, i);
    if (id >= 0) ids.push_back(static_cast<uint32_t>(id));
  }
  return ids;
}

// liveIds() of the keyed classes: every live id, ascending (none without a dictionary), to rebuild lib's
// string map after a restore.
inline Napi::Value LiveIdsOf(Napi::Env env, const sluice::KeyDictionary* dictionary) {
  std::vector<uint32_t> ids;
  for (uint32_t id = 0; dictionary && id < dictionary->idCapacity(); ++id) {
    if (dictionary->IsLive(id)) ids.push_back(id);
  }
  return CopyToTypedArray(env, ids);
}

// The keys of live `ids`: a BigUint64Array / BigInt64Array (64-bit kinds) or { bytes, offsets }.
inline Napi::Value KeysOfIds(Napi::Env env, const sluice::KeyDictionary& dictionary, sluice::Span<const uint32_t> ids) {
  for (uint32_t id : ids) {
    if (!dictionary.IsLive(id)) ThrowSluiceError(env, sluice::codes::kOutOfRange, "an id is not a live key");
  }
  const sluice::KeyKind kind = dictionary.kind();
  if (kind == sluice::KeyKind::kUint64 || kind == sluice::KeyKind::kInt64) {
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, ids.size * 8);
    auto* words = static_cast<uint64_t*>(buffer.Data());
    for (size_t i = 0; i < ids.size; ++i) words[i] = dictionary.WordOf(ids[i]);
    napi_value array;
    const napi_status status = napi_create_typedarray(env, kind == sluice::KeyKind::kInt64 ? napi_bigint64_array : napi_biguint64_array,
                                                      ids.size, buffer, 0, &array);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
    return Napi::Value(env, array);
  }
  size_t total = 0;
  for (uint32_t id : ids) total += dictionary.KeyOf(id).size;
  if (total > 0xFFFFFFFFu) ThrowSluiceError(env, sluice::codes::kOutOfRange, "keys exceed 4 GiB of bytes");
  Napi::Uint8Array bytes = Napi::Uint8Array::New(env, total);
  Napi::Uint32Array offsets = Napi::Uint32Array::New(env, ids.size + 1);
  size_t at = 0;
  offsets[0] = 0;
  for (size_t i = 0; i < ids.size; ++i) {
    const sluice::Span<const uint8_t> key = dictionary.KeyOf(ids[i]);
    std::copy(key.begin(), key.end(), bytes.Data() + at);
    at += key.size;
    offsets.Data()[i + 1] = static_cast<uint32_t>(at);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytes", bytes);
  o.Set("offsets", offsets);
  return o;
}

// "string" | "bigint" | "bigint64" | "bytes" → the dictionary's kind.
inline sluice::KeyKind KeyKindArg(Napi::Env env, const Napi::Value& value, const char* argName) {
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "string") return sluice::KeyKind::kString;
  if (name == "bigint") return sluice::KeyKind::kUint64;
  if (name == "bigint64") return sluice::KeyKind::kInt64;
  if (name == "bytes") return sluice::KeyKind::kBytes;
  ThrowSluiceError(env, sluice::codes::kInvalidArgument, std::string(argName) + " must be string, bigint, bigint64 or bytes");
}

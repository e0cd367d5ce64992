// contentChunks for JS: the core's content-defined chunking and 128-bit content hash (base/content_chunks.h),
// for incremental checkpoints (lib/kafka/incremental_store.ts).
//   cut(bytes, minSize, averageSize, maxSize) → { lengths: Uint32Array, hashes: Uint8Array (16 bytes a chunk) }
//   hash(bytes)                               → Uint8Array(16)
//   hashChunks(bytes, lengths: Uint32Array)   → Uint8Array (16 bytes a chunk); ERR_INVALID_LENGTH unless the lengths cover the bytes
// Synchronous: a checkpoint chunks the snapshot it has just taken (about 1 ms per MB here, see
// bench/native/content_chunks.cc), and the caller's bytes are read in one pass while JS waits.
#include <cstring>
#include <vector>

#include "addon.h"
#include "arguments.h"
#include "base/content_chunks.h"
#include "typed_array.h"

namespace {

// A hash as 16 bytes: the low word then the high word, little-endian (the stored form, whatever the CPU).
void StoreHash(const sluice::ContentHash& hash, uint8_t* out) {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<uint8_t>(hash.low >> (8 * i));
    out[8 + i] = static_cast<uint8_t>(hash.high >> (8 * i));
  }
}

Napi::Value Cut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto bytes = ToSpan<uint8_t>(env, info[0], "bytes");
  sluice::ChunkingOptions options;
  options.minSize = SizeArg(env, info[1], "minSize");
  options.averageSize = SizeArg(env, info[2], "averageSize");
  options.maxSize = SizeArg(env, info[3], "maxSize");
  return TranslateErrors(env, [&] {
    const sluice::Chunks chunks = sluice::CutChunks(bytes.data, bytes.size, options);
    Napi::Uint8Array hashes = Napi::Uint8Array::New(env, chunks.hashes.size() * 16);
    for (size_t i = 0; i < chunks.hashes.size(); ++i) StoreHash(chunks.hashes[i], hashes.Data() + 16 * i);
    Napi::Object result = Napi::Object::New(env);
    result.Set("lengths", CopyToTypedArray(env, chunks.lengths));
    result.Set("hashes", hashes);
    return result;
  });
}

Napi::Value Hash(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto bytes = ToSpan<uint8_t>(env, info[0], "bytes");
  Napi::Uint8Array out = Napi::Uint8Array::New(env, 16);
  StoreHash(sluice::HashContent(bytes.data, bytes.size), out.Data());
  return out;
}

Napi::Value HashChunks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto bytes = ToSpan<uint8_t>(env, info[0], "bytes");
  const auto lengths = ToSpan<uint32_t>(env, info[1], "lengths");
  return TranslateErrors(env, [&] {
    const std::vector<sluice::ContentHash> hashes = sluice::HashChunks(bytes.data, bytes.size, lengths.data, lengths.size);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, hashes.size() * 16);
    for (size_t i = 0; i < hashes.size(); ++i) StoreHash(hashes[i], out.Data() + 16 * i);
    return out;
  });
}

}  // namespace

void InitContentChunks(Napi::Env env, Napi::Object exports) {
  Napi::Object chunks = Napi::Object::New(env);
  chunks.Set("cut", Napi::Function::New(env, Cut, "cut"));
  chunks.Set("hash", Napi::Function::New(env, Hash, "hash"));
  chunks.Set("hashChunks", Napi::Function::New(env, HashChunks, "hashChunks"));
  exports.Set("contentChunks", chunks);
}

// snapshotEnvelope for JS: the core's snapshot envelope (base/snapshot.h) around payloads that TypeScript
// writes (the pipeline's, the Kafka partition's), so every sluice snapshot has one layout, one checksum
// and one set of checks.
//   seal(kind, payload) → the envelope's bytes
//   open(bytes, kind)   → the payload, after the checks SnapshotReader makes (same codes and messages)
#include <cstring>
#include <optional>
#include <string>

#include "addon.h"
#include "base/snapshot.h"
#include "typed_array.h"

namespace {

using sluice::SnapshotKind;

SnapshotKind KindArg(Napi::Env env, const Napi::Value& value) {
  if (!value.IsString()) ThrowSluiceError(env, sluice::codes::kInvalidType, "kind must be a string");
  const std::string name = value.As<Napi::String>();
  const std::optional<SnapshotKind> kind = sluice::SnapshotKindFromName(name);
  if (!kind) ThrowSluiceError(env, sluice::codes::kInvalidArgument, "unknown snapshot kind '" + name + "'");
  return *kind;
}

Napi::Value Seal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SnapshotKind kind = KindArg(env, info[0]);
  const auto payload = ToSpan<uint8_t>(env, info[1], "payload");
  return TranslateErrors(env, [&] {
    sluice::SnapshotWriter writer(kind);
    writer.PutBytes(payload.data, payload.size);
    return CopyToTypedArray(env, writer.Finish());
  });
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto bytes = ToSpan<uint8_t>(env, info[0], "bytes");
  const SnapshotKind kind = KindArg(env, info[1]);
  // The caller's bytes are read once, into the buffer the payload is returned from: memory another thread
  // may write (a SharedArrayBuffer) cannot change between the checksum and the use.
  Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, bytes.size);
  auto* base = static_cast<uint8_t*>(copy.Data());
  if (bytes.size > 0) std::memcpy(base, bytes.data, bytes.size);
  return TranslateErrors(env, [&] {
    const sluice::SnapshotReader reader(sluice::Span<const uint8_t>(base, bytes.size), kind);
    const sluice::Span<const uint8_t> payload = reader.Rest();
    return Napi::Uint8Array::New(env, payload.size, copy, static_cast<size_t>(payload.data - base));
  });
}

}  // namespace

void InitSnapshotEnvelope(Napi::Env env, Napi::Object exports) {
  Napi::Object envelope = Napi::Object::New(env);
  envelope.Set("seal", Napi::Function::New(env, Seal, "seal"));
  envelope.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("snapshotEnvelope", envelope);
}

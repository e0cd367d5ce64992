#include "addon.h"

#include "errors.h"

#if !defined(_WIN32)
#include <dlfcn.h>
#endif

namespace {

// The addon's own folder, found from the address of a function inside it (dladdr), so that the CUDA
// library is looked for beside the .node file wherever the package was installed.
std::string AddonDirectory() {
#if !defined(_WIN32)
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&AddonDirectory), &info) && info.dli_fname) {
    std::string path = info.dli_fname;
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
  }
#endif
  return ".";
}

// Calls are short and often awaited one after the other: both sides spin a little (async_lane.h says why).
// The loop's 100 µs: with the threads on different CPUs, a 250 µs poll made predictAsync of 12 × 64 (H 24)
// add 224 µs over predict against 92 µs with 100 µs (the poll slowed the job on the other vCPU), while the
// short calls gained as much with either (docs/benchmarks.md, issue 18 fourth round). Training epochs are long: their lane never spins.
AsyncLane::Spin CallLaneSpin() {
  return {std::chrono::microseconds(50), std::chrono::microseconds(100)};
}

}  // namespace

SluiceAddon::SluiceAddon(Napi::Env env, Napi::Object exports)
    : directory_(AddonDirectory()),
      cuda_(std::make_unique<sluice::CudaLibrary>(directory_)),
      callLane_(env, CallLaneSpin()),
      trainingLane_(env, AsyncLane::Spin{}) {
  DefineAddon(exports, {InstanceMethod("setErrorClass", &SluiceAddon::SetErrorClass)});
  exports.Set("directory", Napi::String::New(env, directory_));
  InitBackends(env, exports);
  InitTesting(env, exports);
  InitLstmModel(env, exports);
  InitLstmState(env, exports);
  InitLstmTrainer(env, exports);
  InitEventTimeWindows(env, exports);
  InitWatermarkTracker(env, exports);
  InitSlidingWindow(env, exports);
  InitCudaLstmModel(env, exports);
  InitCudaLstmState(env, exports);
  InitLstmWindows(env, exports);
  InitSnapshotEnvelope(env, exports);
  InitContentChunks(env, exports);
  InitPipeline(env, exports);
  InitKeyDictionary(env, exports);
}

Napi::Value SluiceAddon::SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowSluiceError(info.Env(), sluice::codes::kInvalidType, "setErrorClass needs a constructor");
  errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Object TestingExports(Napi::Env env, Napi::Object exports) {
  if (!exports.Has("testing")) exports.Set("testing", Napi::Object::New(env));
  return exports.Get("testing").As<Napi::Object>();
}

NODE_API_ADDON(SluiceAddon)

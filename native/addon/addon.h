// The per-instance state of the addon. The addon is context-aware: every Node environment (main thread
// or worker) gets its own SluiceAddon, so there is no mutable global state.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "async_lane.h"
#include "handle_registry.h"
#include "lstm/cuda_library.h"

class SluiceAddon : public Napi::Addon<SluiceAddon> {
 public:
  SluiceAddon(Napi::Env env, Napi::Object exports);

  static SluiceAddon& From(Napi::Env env) { return *env.GetInstanceData<SluiceAddon>(); }

  // The JS SluiceError constructor registered by lib/native.ts; empty until then.
  Napi::FunctionReference errorClass;

  // The folder holding this .node file (and, optionally, libsluice_cuda.so).
  const std::string& directory() const { return directory_; }

  sluice::CudaLibrary& cuda() { return *cuda_; }

  // The environment's async lanes (async_work.h): one for calls, one for training epochs.
  AsyncLane& callLane() { return callLane_; }
  AsyncLane& trainingLane() { return trainingLane_; }

  // The native objects of this environment that report memory (handle_registry.h). Shared: an object
  // finalized after the instance data still finds it.
  const std::shared_ptr<HandleRegistry>& handles() const { return handles_; }

 private:
  Napi::Value SetErrorClass(const Napi::CallbackInfo& info);

  std::string directory_;
  std::unique_ptr<sluice::CudaLibrary> cuda_;
  AsyncLane callLane_;
  AsyncLane trainingLane_;
  std::shared_ptr<HandleRegistry> handles_ = std::make_shared<HandleRegistry>();
};

// The `testing` object of the exports (made by the first caller): functions for tests and benchmarks,
// not public API.
Napi::Object TestingExports(Napi::Env env, Napi::Object exports);

// Each binding file exports one initialiser that adds its functions or classes to `exports`.
void InitBackends(Napi::Env env, Napi::Object exports);
void InitTesting(Napi::Env env, Napi::Object exports);
void InitLstmModel(Napi::Env env, Napi::Object exports);
void InitLstmState(Napi::Env env, Napi::Object exports);
void InitLstmTrainer(Napi::Env env, Napi::Object exports);
void InitEventTimeWindows(Napi::Env env, Napi::Object exports);
void InitWatermarkTracker(Napi::Env env, Napi::Object exports);
void InitSlidingWindow(Napi::Env env, Napi::Object exports);
void InitCudaLstmModel(Napi::Env env, Napi::Object exports);
void InitCudaLstmState(Napi::Env env, Napi::Object exports);
void InitLstmWindows(Napi::Env env, Napi::Object exports);
void InitSnapshotEnvelope(Napi::Env env, Napi::Object exports);
void InitContentChunks(Napi::Env env, Napi::Object exports);
void InitPipeline(Napi::Env env, Napi::Object exports);
void InitKeyDictionary(Napi::Env env, Napi::Object exports);

// backends(): what this process can compute with. Never throws for an unavailable backend: the reason
// is part of the report.
#include <thread>

#include "addon.h"
#include "base/cpu_features.h"

namespace {

Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("available", true);
  cpu.Set("simd", sluice::SimdLevelName(sluice::ActiveSimdLevel()));
  cpu.Set("simdSupported", sluice::SimdLevelName(sluice::DetectSimdLevel()));
  cpu.Set("threads", static_cast<double>(std::max(1u, std::thread::hardware_concurrency())));

  const sluice::CudaStatus& status = SluiceAddon::From(env).cuda().Status();
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("available", status.available);
  cuda.Set("reason", status.available ? env.Null() : Napi::String::New(env, status.reason));
  cuda.Set("library", status.libraryPath);
  if (status.probed) {
    const SluiceCudaInfo& d = status.info;
    cuda.Set("driverVersion", d.driver_version);
    cuda.Set("runtimeVersion", d.runtime_version);
    cuda.Set("deviceCount", d.device_count);
    if (d.device_name[0] != '\0') {
      Napi::Object device = Napi::Object::New(env);
      device.Set("name", d.device_name);
      device.Set("computeCapability", std::to_string(d.compute_capability_major) + "." +
                                          std::to_string(d.compute_capability_minor));
      device.Set("totalMemory", static_cast<double>(d.total_memory));
      device.Set("freeMemory", static_cast<double>(d.free_memory));
      cuda.Set("device", device);
    }
    cuda.Set("cudnnVersion", d.cudnn_version);
    if (d.cudnn_path[0] != '\0') cuda.Set("cudnnPath", d.cudnn_path);
  }
  Napi::Object report = Napi::Object::New(env);
  report.Set("cpu", cpu);
  report.Set("cuda", cuda);
  return report;
}

}  // namespace

void InitBackends(Napi::Env env, Napi::Object exports) {
  exports.Set("backends", Napi::Function::New(env, Backends, "backends"));
}

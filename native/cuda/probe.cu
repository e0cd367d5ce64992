// sluice_cuda_probe: what the CUDA backend can use on this machine, with the exact reason when nothing.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>

#include "cudnn_loader.h"
#include "sluice_cuda_api.h"

namespace {

void SetReason(SluiceCudaInfo* info, const char* prefix, cudaError_t status) {
  std::snprintf(info->reason, sizeof(info->reason), "%s: %s (cudaError %d)", prefix, cudaGetErrorString(status),
                static_cast<int>(status));
}

}  // namespace

extern "C" int sluice_cuda_abi_version(void) { return SLUICE_CUDA_ABI_VERSION; }

extern "C" void sluice_cuda_probe(SluiceCudaInfo* info) {
  std::memset(info, 0, sizeof(*info));
  cudaRuntimeGetVersion(&info->runtime_version);
  cudaDriverGetVersion(&info->driver_version);  // 0 when no driver is installed
  if (info->driver_version == 0) {
    std::snprintf(info->reason, sizeof(info->reason), "no NVIDIA driver found (libcuda.so.1 is not loadable)");
    return;
  }
  cudaError_t status = cudaGetDeviceCount(&info->device_count);
  if (status != cudaSuccess) {
    info->device_count = 0;
    SetReason(info, status == cudaErrorInsufficientDriver ? "NVIDIA driver too old for this CUDA runtime"
                                                          : "no usable CUDA device",
              status);
    return;
  }
  if (info->device_count == 0) {
    std::snprintf(info->reason, sizeof(info->reason), "no CUDA device present");
    return;
  }
  cudaDeviceProp props{};
  status = cudaGetDeviceProperties(&props, 0);
  if (status != cudaSuccess) {
    SetReason(info, "cannot read device 0", status);
    return;
  }
  std::snprintf(info->device_name, sizeof(info->device_name), "%s", props.name);
  info->compute_capability_major = props.major;
  info->compute_capability_minor = props.minor;
  info->total_memory = props.totalGlobalMem;
  size_t freeBytes = 0, totalBytes = 0;
  if (cudaSetDevice(0) == cudaSuccess && cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess) {
    info->free_memory = freeBytes;
  }
  if (props.major < 7 || (props.major == 7 && props.minor < 5)) {
    std::snprintf(info->reason, sizeof(info->reason), "compute capability %d.%d is below the minimum 7.5",
                  props.major, props.minor);
    return;
  }
  const sluice::cuda::CudnnLibrary& cudnn = sluice::cuda::LoadCudnn();
  if (!cudnn.handle) {
    std::snprintf(info->reason, sizeof(info->reason), "%s", cudnn.reason.c_str());
    return;
  }
  info->cudnn_version = static_cast<int>(cudnn.version);
  std::snprintf(info->cudnn_path, sizeof(info->cudnn_path), "%s", cudnn.path.c_str());
  info->available = 1;
}

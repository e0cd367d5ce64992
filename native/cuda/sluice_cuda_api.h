/* The C ABI between the addon (native/core/cuda_library.cc) and the optional libsluice_cuda.so.
 * Plain C types only: no C++ exceptions or CUDA types cross it. Bump SLUICE_CUDA_ABI_VERSION on any
 * change; the addon refuses a library whose version differs. */
#ifndef SLUICE_CUDA_API_H_
#define SLUICE_CUDA_API_H_

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_CUDA_ABI_VERSION 1

typedef struct SluiceCudaInfo {
  int available;            /* 1 when a device and cuDNN are usable */
  int device_count;
  int driver_version;       /* cudaDriverGetVersion, e.g. 12040; 0 when no driver */
  int runtime_version;      /* cudaRuntimeGetVersion of the static runtime built in */
  char device_name[256];
  int compute_capability_major;
  int compute_capability_minor;
  unsigned long long total_memory;
  unsigned long long free_memory;
  int cudnn_version;        /* cudnnGetVersion(), e.g. 90100; 0 when not found */
  char cudnn_path[1024];    /* the libcudnn that was opened */
  char reason[1024];        /* why unavailable; empty when available */
} SluiceCudaInfo;

typedef int (*SluiceCudaAbiVersionFn)(void);
typedef void (*SluiceCudaProbeFn)(SluiceCudaInfo* info);

#if defined(_WIN32)
#define SLUICE_CUDA_EXPORT __declspec(dllexport)
#else
#define SLUICE_CUDA_EXPORT __attribute__((visibility("default")))
#endif

SLUICE_CUDA_EXPORT int sluice_cuda_abi_version(void);
/* Fills *info; never throws, never aborts: every failure becomes info->reason. */
SLUICE_CUDA_EXPORT void sluice_cuda_probe(SluiceCudaInfo* info);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_CUDA_API_H_ */

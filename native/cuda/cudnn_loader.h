// Finds and opens cuDNN 9 at run time, so libsluice_cuda builds without cuDNN and works with any cuDNN 9
// found on the machine (a system install, the CUDA toolkit, or PyTorch's pip wheels), and resolves the
// functions of cudnn_api.h from it.
#pragma once
#include <string>
#include <vector>

#include "cudnn_api.h"

namespace sluice::cuda {

struct CudnnLibrary {
  void* handle = nullptr;   // dlopen handle of libcudnn.so.9, null when not usable
  std::string path;         // the file that was opened
  size_t version = 0;       // cudnnGetVersion(), e.g. 90100
  std::vector<std::string> preloaded;  // cuBLAS(Lt) and cuDNN sub-libraries opened beforehand
  cudnn::Api api;           // every function resolved when handle != null
  std::string reason;       // why it was not usable
};

// The candidate files, in search order: $SLUICE_CUDNN_PATH (a file or a folder), the plain soname
// (LD_LIBRARY_PATH and the loader cache), the CUDA install, then nvidia/cudnn/lib under Python
// site-packages folders.
std::vector<std::string> CudnnCandidates();

// Python site-packages folders that may hold NVIDIA's pip wheels (nvidia/cudnn, nvidia/cublas), existing
// or not; globs are expanded by the callers.
std::vector<std::string> SitePackagePatterns();

// libcublasLt files to open before cuDNN when the loader would not find them by soname (cuDNN opens
// libcublasLt itself, by soname, on first use): from nvidia/cublas/lib beside $SLUICE_CUDNN_PATH or under a
// site-packages folder, or from the CUDA install. libcublas.so.N of the same folder follows its Lt.
std::vector<std::string> CublasCandidates();

// Opens the first candidate that loads, reports cuDNN major version 9 and has every function of
// cudnn_api.h. Process-wide and cached: dlopen handles are reference-counted by the loader and never
// closed here.
const CudnnLibrary& LoadCudnn();

}  // namespace sluice::cuda

// Finds and opens cuDNN 9 at run time, so libsluice_cuda builds without cuDNN and works with any cuDNN 9
// found on the machine (a system install, the CUDA toolkit, or PyTorch's pip wheels).
#pragma once
#include <string>
#include <vector>

namespace sluice::cuda {

struct CudnnLibrary {
  void* handle = nullptr;   // dlopen handle, null when not found
  std::string path;         // the file that was opened
  size_t version = 0;       // cudnnGetVersion()
  std::string reason;       // why it was not usable
};

// The candidate files, in search order: $SLUICE_CUDNN_PATH (a file or a folder), the plain soname
// (LD_LIBRARY_PATH and the loader cache), the CUDA install, then nvidia/cudnn/lib under Python
// site-packages folders.
std::vector<std::string> CudnnCandidates();

// Opens the first candidate that loads and reports cuDNN major version 9. Process-wide and cached:
// dlopen handles are reference-counted by the loader and never closed here.
const CudnnLibrary& LoadCudnn();

}  // namespace sluice::cuda

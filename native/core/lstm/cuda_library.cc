#include "lstm/cuda_library.h"

#include <cstdlib>
#include <cstring>

#if !defined(_WIN32)
#include <dlfcn.h>
#endif

namespace sluice {

CudaLibrary::CudaLibrary(std::string directory) : directory_(std::move(directory)) {}

CudaLibrary::~CudaLibrary() {
#if !defined(_WIN32)
  if (handle_) dlclose(handle_);
#endif
}

const char* CudaLibrary::LibraryFileName() {
#if defined(__APPLE__)
  return "libsluice_cuda.dylib";
#elif defined(_WIN32)
  return "sluice_cuda.dll";
#else
  return "libsluice_cuda.so";
#endif
}

void* CudaLibrary::Symbol(const char* name) const {
#if defined(_WIN32)
  return nullptr;
#else
  return handle_ ? dlsym(handle_, name) : nullptr;
#endif
}

const CudaStatus& CudaLibrary::Status() {
  std::call_once(once_, [this] {
    status_.libraryPath = directory_ + "/" + LibraryFileName();
    if (const char* forced = std::getenv("SLUICE_BACKEND"); forced && std::strcmp(forced, "cpu") == 0) {
      status_.reason = "disabled by SLUICE_BACKEND=cpu";
      return;
    }
#if defined(_WIN32) || defined(__APPLE__)
    status_.reason = "the CUDA backend is built for Linux only";
#else
    handle_ = dlopen(status_.libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
      const char* why = dlerror();
      const bool missing = why && std::strstr(why, "No such file");
      status_.reason = missing ? "CUDA backend library not built (" + status_.libraryPath +
                                     " is missing; rebuild from source on a machine with nvcc)"
                               : std::string("cannot load ") + status_.libraryPath + ": " + (why ? why : "");
      return;
    }
    auto abiVersion = reinterpret_cast<SluiceCudaAbiVersionFn>(dlsym(handle_, "sluice_cuda_abi_version"));
    auto probe = reinterpret_cast<SluiceCudaProbeFn>(dlsym(handle_, "sluice_cuda_probe"));
    if (!abiVersion || !probe || abiVersion() != SLUICE_CUDA_ABI_VERSION) {
      status_.reason = status_.libraryPath + " does not match this addon (ABI version mismatch); reinstall sluice";
      return;
    }
    probe(&status_.info);
    status_.probed = true;
    status_.info.reason[sizeof(status_.info.reason) - 1] = '\0';
    status_.available = status_.info.available == 1;
    if (!status_.available) status_.reason = status_.info.reason;
#endif
  });
  return status_;
}

}  // namespace sluice

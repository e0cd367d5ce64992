// Opens the optional CUDA backend library (libsluice_cuda.so, beside the addon) on first use and reports
// what it found. The core never includes CUDA headers: it speaks only the C ABI of sluice_cuda_api.h.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "../../cuda/sluice_cuda_api.h"

namespace sluice {

struct CudaStatus {
  bool available = false;
  std::string reason;        // why not available; empty when available
  std::string libraryPath;   // the libsluice_cuda that was (or would have been) opened
  SluiceCudaInfo info{};     // valid when the library was opened and probed
  bool probed = false;
};

class CudaLibrary {
 public:
  // `directory` is where the addon lives; the library is looked for there.
  explicit CudaLibrary(std::string directory);
  ~CudaLibrary();
  CudaLibrary(const CudaLibrary&) = delete;
  CudaLibrary& operator=(const CudaLibrary&) = delete;

  // Loads and probes once (thread-safe); later calls return the cached status. SLUICE_BACKEND=cpu
  // makes it report unavailable without opening anything.
  const CudaStatus& Status();

  static const char* LibraryFileName();

  // A function of the opened library (after Status() reported it available); null when absent.
  void* Symbol(const char* name) const;

 private:
  std::string directory_;
  std::once_flag once_;
  CudaStatus status_;
  void* handle_ = nullptr;
};

}  // namespace sluice

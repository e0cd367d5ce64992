#include "cudnn_loader.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <mutex>

namespace sluice::cuda {
namespace {

constexpr const char* kSoname = "libcudnn.so.9";

void AddGlob(const std::string& pattern, std::vector<std::string>* out) {
  glob_t matches{};
  if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i) out->push_back(matches.gl_pathv[i]);
  }
  globfree(&matches);
}

}  // namespace

std::vector<std::string> CudnnCandidates() {
  std::vector<std::string> candidates;
  if (const char* explicitPath = std::getenv("SLUICE_CUDNN_PATH"); explicitPath && *explicitPath) {
    const std::string p = explicitPath;
    const bool isLibraryFile = p.find(".so") != std::string::npos;
    candidates.push_back(isLibraryFile ? p : p + "/" + kSoname);
  }
  candidates.push_back(kSoname);  // LD_LIBRARY_PATH, rpath, ldconfig cache
  candidates.push_back(std::string("/usr/local/cuda/lib64/") + kSoname);
  candidates.push_back(std::string("/usr/lib/x86_64-linux-gnu/") + kSoname);
  const char* home = std::getenv("HOME");
  const std::vector<std::string> sitePackages = {
      "/usr/local/lib/python3*/dist-packages", "/usr/lib/python3*/dist-packages",
      "/usr/local/lib/python3*/site-packages", "/opt/conda/lib/python3*/site-packages",
      home ? std::string(home) + "/.local/lib/python3*/site-packages" : std::string(),
      std::getenv("VIRTUAL_ENV") ? std::string(std::getenv("VIRTUAL_ENV")) + "/lib/python3*/site-packages"
                                 : std::string(),
      std::getenv("CONDA_PREFIX") ? std::string(std::getenv("CONDA_PREFIX")) + "/lib/python3*/site-packages"
                                  : std::string(),
  };
  for (const std::string& dir : sitePackages) {
    if (!dir.empty()) AddGlob(dir + "/nvidia/cudnn/lib/" + kSoname, &candidates);
  }
  return candidates;
}

const CudnnLibrary& LoadCudnn() {
  static CudnnLibrary library;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& candidate : CudnnCandidates()) {
      void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        tried += (tried.empty() ? "" : ", ") + candidate;
        continue;
      }
      using GetVersionFn = size_t (*)();
      auto getVersion = reinterpret_cast<GetVersionFn>(dlsym(handle, "cudnnGetVersion"));
      const size_t version = getVersion ? getVersion() : 0;
      if (version / 10000 != 9) {
        tried += (tried.empty() ? "" : ", ") + candidate + " (version " + std::to_string(version) + ")";
        dlclose(handle);
        continue;
      }
      library.handle = handle;
      library.path = candidate;
      library.version = version;
      return;
    }
    library.reason = "cuDNN 9 not found (tried " + tried +
                     "); install cuDNN 9 or set SLUICE_CUDNN_PATH to the folder holding libcudnn.so.9";
  });
  return library;
}

}  // namespace sluice::cuda

#include "cudnn_loader.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace sluice::cuda {
namespace {

constexpr const char* kSoname = "libcudnn.so.9";
// cuDNN 9 splits into sub-libraries that libcudnn.so.9 opens by soname; opening them from the folder we
// chose first makes that lookup succeed even when the folder is on no search path (pip wheels).
constexpr const char* kSublibraries[] = {"libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_adv.so.9"};

void AddGlob(const std::string& pattern, std::vector<std::string>* out) {
  glob_t matches{};
  if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i) out->push_back(matches.gl_pathv[i]);
  }
  globfree(&matches);
}

std::string Folder(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string Append(const std::string& list, const std::string& item) { return list.empty() ? item : list + ", " + item; }

}  // namespace

std::vector<std::string> SitePackagePatterns() {
  const char* home = std::getenv("HOME");
  const char* venv = std::getenv("VIRTUAL_ENV");
  const char* conda = std::getenv("CONDA_PREFIX");
  std::vector<std::string> patterns = {"/usr/local/lib/python3*/dist-packages", "/usr/lib/python3*/dist-packages",
                                       "/usr/local/lib/python3*/site-packages", "/usr/lib/python3*/site-packages",
                                       "/opt/conda/lib/python3*/site-packages"};
  if (home) patterns.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  if (venv) patterns.push_back(std::string(venv) + "/lib/python3*/site-packages");
  if (conda) patterns.push_back(std::string(conda) + "/lib/python3*/site-packages");
  // SLUICE_PYTHON_SITE_PACKAGES: extra folders separated by ':' (e.g. from `python3 -m site`).
  if (const char* extra = std::getenv("SLUICE_PYTHON_SITE_PACKAGES"); extra && *extra) {
    std::string list = extra;
    size_t start = 0;
    while (start <= list.size()) {
      const size_t end = list.find(':', start);
      const std::string item = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!item.empty()) patterns.push_back(item);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return patterns;
}

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
  for (const std::string& dir : SitePackagePatterns()) AddGlob(dir + "/nvidia/cudnn/lib/" + kSoname, &candidates);
  return candidates;
}

std::vector<std::string> CublasCandidates() {
  std::vector<std::string> folders;
  // Beside an explicit cuDNN of a pip wheel: .../nvidia/cudnn/lib → .../nvidia/cublas/lib.
  if (const char* explicitPath = std::getenv("SLUICE_CUDNN_PATH"); explicitPath && *explicitPath) {
    const std::string p = explicitPath;
    const size_t at = p.find("/nvidia/cudnn");
    if (at != std::string::npos) folders.push_back(p.substr(0, at) + "/nvidia/cublas/lib");
  }
  for (const std::string& dir : SitePackagePatterns()) {
    AddGlob(dir + "/nvidia/cublas/lib", &folders);
    AddGlob(dir + "/nvidia/cu1[0-9]/lib", &folders);  // CUDA 13 wheels' layout
  }
  folders.push_back("/usr/local/cuda/lib64");
  std::vector<std::string> candidates;
  for (const std::string& folder : folders) AddGlob(folder + "/libcublasLt.so.[0-9]*", &candidates);
  return candidates;
}

const CudnnLibrary& LoadCudnn() {
  static CudnnLibrary library;
  static std::once_flag once;
  std::call_once(once, [] {
    // cuBLAS first (RTLD_GLOBAL, by full path): cuDNN's own dlopen("libcublasLt.so.N") then finds the
    // already-loaded library by its soname. Only when the plain soname would not be found anyway, and only
    // one cuBLAS (the first found: Lt, then libcublas of the same folder and version).
    for (const char* soname : {"libcublasLt.so.12", "libcublasLt.so.13"}) {
      if (dlopen(soname, RTLD_NOW | RTLD_GLOBAL)) library.preloaded.push_back(soname);  // kept open
    }
    if (library.preloaded.empty()) {
      for (const std::string& lt : CublasCandidates()) {
        if (!dlopen(lt.c_str(), RTLD_NOW | RTLD_GLOBAL)) continue;
        library.preloaded.push_back(lt);
        const size_t at = lt.rfind("libcublasLt.so.");
        const std::string cublas = lt.substr(0, at) + "libcublas.so." + lt.substr(at + std::strlen("libcublasLt.so."));
        if (dlopen(cublas.c_str(), RTLD_NOW | RTLD_GLOBAL)) library.preloaded.push_back(cublas);
        break;
      }
    }

    std::string tried;
    for (const std::string& candidate : CudnnCandidates()) {
      void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        tried = Append(tried, candidate);
        continue;
      }
      using GetVersionFn = size_t (*)();
      auto getVersion = reinterpret_cast<GetVersionFn>(dlsym(handle, "cudnnGetVersion"));
      const size_t version = getVersion ? getVersion() : 0;
      if (version / 10000 != 9) {
        tried = Append(tried, candidate + " (version " + std::to_string(version) +
                                  (version > 0 && version < 90000 ? ", too old: sluice needs cuDNN 9)" : ")"));
        dlclose(handle);
        continue;
      }
      std::vector<void*> handles = {handle};
      const std::string folder = Folder(candidate);
      for (const char* sub : kSublibraries) {
        // From the chosen folder when we know it; else by soname (the same search that found libcudnn).
        const std::string subPath = folder.empty() ? std::string(sub) : folder + "/" + sub;
        if (void* subHandle = dlopen(subPath.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
          handles.push_back(subHandle);
          library.preloaded.push_back(subPath);
        }
      }
      std::string missing;
      if (!cudnn::ResolveApi(handles.data(), handles.size(), &library.api, &missing)) {
        tried = Append(tried, candidate + " (lacks " + missing + ")");
        library.api = cudnn::Api{};
        continue;  // the handles stay open: harmless, and closing sub-libraries cuDNN may use is not
      }
      library.handle = handle;
      library.path = candidate;
      library.version = version;
      return;
    }
    library.reason = "cuDNN 9 not found (tried " + tried +
                     "); install cuDNN 9 (e.g. pip install nvidia-cudnn-cu12) or set SLUICE_CUDNN_PATH to the "
                     "folder holding libcudnn.so.9";
  });
  return library;
}

}  // namespace sluice::cuda

namespace sluice::cudnn {

bool ResolveApi(void* const* handles, size_t handleCount, Api* api, std::string* missing) {
  auto find = [&](const char* symbol) -> void* {
    for (size_t i = 0; i < handleCount; ++i) {
      if (void* p = dlsym(handles[i], symbol)) return p;
    }
    return nullptr;
  };
  missing->clear();
#define SLUICE_CUDNN_RESOLVE(member, symbol)                                         \
  api->member = reinterpret_cast<member##Fn>(find(#symbol));                         \
  if (!api->member) *missing += (missing->empty() ? "" : " ") + std::string(#symbol);
  SLUICE_CUDNN_FUNCTIONS(SLUICE_CUDNN_RESOLVE)
#undef SLUICE_CUDNN_RESOLVE
  return missing->empty();
}

}  // namespace sluice::cudnn

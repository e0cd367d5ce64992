#include <cstdlib>

#include "tests/check.h"
#include "lstm/cuda_library.h"

using namespace sluice;

SLUICE_TEST(cuda_library_missing_is_reported_not_fatal) {
  CudaLibrary library("/nonexistent-sluice-dir");
  const CudaStatus& status = library.Status();
  CHECK(!status.available);
  CHECK(!status.reason.empty());
  // Either forced off by the environment or reported as not built; never empty, never a crash.
  const bool forced = std::getenv("SLUICE_BACKEND") != nullptr;
  CHECK(forced || status.reason.find("not built") != std::string::npos);
  CHECK(&library.Status() == &status);  // cached
}

// The CUDA LSTM wrapper without a usable GPU (this is what CI and CPU-only machines run): construction
// validates like the CPU model, then refuses with ERR_NOT_SUPPORTED naming the library's reason.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "tests/check.h"
#include "lstm/cuda_lstm.h"
#include "lstm/lstm_model.h"
#include "tests/lstm/lstm_reference.h"

using namespace sluice;

namespace {

std::string CodeOf(const LstmModelSpec& spec, bool cuda, CudaLibrary* library) {
  try {
    if (cuda) CudaLstmModel model(*library, spec);
    else LstmModel model(spec, 1);
  } catch (const CoreError& e) {
    return e.code();
  }
  return "none";
}

std::string MessageOf(CudaLibrary& library, const LstmModelSpec& spec) {
  try {
    CudaLstmModel model(library, spec);
  } catch (const CoreError& e) {
    CHECK_EQ(std::string(e.code()), std::string(codes::kNotSupported));
    return e.what();
  }
  return "";
}

}  // namespace

SLUICE_TEST(cuda_lstm_without_library_is_not_supported_with_reason) {
  CudaLibrary library("/nonexistent-sluice-dir");
  test::RandomLstm weights(2, 3, 5, 2, 11);
  const std::string message = MessageOf(library, weights.Spec());
  CHECK(message.find("the CUDA backend is unavailable: ") == 0);
  CHECK(message.find(library.Status().reason) != std::string::npos);
  const bool forced = std::getenv("SLUICE_BACKEND") != nullptr;
  CHECK(forced || message.find("/nonexistent-sluice-dir/libsluice_cuda.so is missing") != std::string::npos);
  CHECK(library.Symbol("sluice_cuda_lstm_create") == nullptr);
}

SLUICE_TEST(cuda_lstm_backend_forced_to_cpu_is_explained) {
  const char* previous = std::getenv("SLUICE_BACKEND");
  const std::string saved = previous ? previous : "";
  setenv("SLUICE_BACKEND", "cpu", 1);
  CudaLibrary library("/nonexistent-sluice-dir");
  test::RandomLstm weights(1, 2, 4, 0, 3);
  const std::string message = MessageOf(library, weights.Spec());
  if (previous) setenv("SLUICE_BACKEND", saved.c_str(), 1);
  else unsetenv("SLUICE_BACKEND");
  CHECK(message == "the CUDA backend is unavailable: disabled by SLUICE_BACKEND=cpu");
}

SLUICE_TEST(cuda_lstm_validates_like_the_cpu_model_before_looking_for_a_gpu) {
  CudaLibrary library("/nonexistent-sluice-dir");
  test::RandomLstm weights(2, 3, 5, 2, 7);
  auto expectSame = [&](const LstmModelSpec& spec, const char* expected) {
    CHECK_EQ(CodeOf(spec, false, &library), std::string(expected));
    CHECK_EQ(CodeOf(spec, true, &library), std::string(expected));
  };
  {
    LstmModelSpec spec = weights.Spec();
    spec.layers[1].weightIh.size -= 1;
    expectSame(spec, codes::kInvalidLength);
  }
  {
    LstmModelSpec spec = weights.Spec();
    spec.layers[0].biasHh.size = 3;
    expectSame(spec, codes::kInvalidLength);
  }
  {
    LstmModelSpec spec = weights.Spec();
    spec.headBias.size = 1;
    expectSame(spec, codes::kInvalidLength);
  }
  {
    test::RandomLstm bad(1, 2, 3, 0, 5);
    bad.whh[0][4] = std::numeric_limits<float>::quiet_NaN();
    expectSame(bad.Spec(), codes::kInvalidArgument);
    bad.whh[0][4] = 0.f;
    bad.bih[0][1] = std::numeric_limits<float>::infinity();
    expectSame(bad.Spec(), codes::kInvalidArgument);
  }
  {
    LstmModelSpec spec = weights.Spec();
    spec.layers.clear();
    expectSame(spec, codes::kInvalidArgument);
  }
  {
    LstmModelSpec spec = weights.Spec();
    spec.hiddenSize = 0;
    expectSame(spec, codes::kInvalidArgument);
  }
  // A valid spec passes validation and fails only for want of a GPU.
  CHECK_EQ(CodeOf(weights.Spec(), true, &library), std::string(codes::kNotSupported));
}

SLUICE_TEST(cuda_lstm_algorithm_names) {
  for (CudaLstmAlgorithm a : {CudaLstmAlgorithm::kAuto, CudaLstmAlgorithm::kStandard, CudaLstmAlgorithm::kPersistStatic}) {
    CHECK(ParseCudaLstmAlgorithm(CudaLstmAlgorithmName(a)) == a);
  }
  CHECK_THROWS_CODE(ParseCudaLstmAlgorithm("persist"), codes::kInvalidArgument);
  CHECK_THROWS_CODE(ParseCudaLstmAlgorithm(""), codes::kInvalidArgument);
}

// With SLUICE_TEST_CUDA_DIR naming the folder of a built libsluice_cuda.so (npm test sets it when the
// build has one), the real library is opened and probed: on a machine without a GPU it must say why.
SLUICE_TEST(cuda_lstm_real_library_reports_a_reason_or_runs) {
  const char* dir = std::getenv("SLUICE_TEST_CUDA_DIR");
  if (!dir || !*dir || std::getenv("SLUICE_BACKEND")) return;
  CudaLibrary library(dir);
  const CudaStatus& status = library.Status();
  test::RandomLstm weights(1, 3, 4, 0, 9);
  if (!status.available) {
    CHECK(!status.reason.empty());
    CHECK(status.probed);  // the library itself loaded and matched the ABI
    CHECK(MessageOf(library, weights.Spec()).find(status.reason) != std::string::npos);
    return;
  }
  // A GPU: one tiny prediction against the CPU model.
  auto model = std::make_shared<CudaLstmModel>(library, weights.Spec());
  LstmModel cpu(weights.Spec(), 1);
  const std::vector<float> x = test::RandomInput(3 * 2 * 3, 21);
  std::vector<float> gpuOut(2 * 4), cpuOut(2 * 4);
  LstmRunShape shape;
  shape.steps = 3;
  shape.batch = 2;
  model->Predict({x.data(), x.size()}, shape, {gpuOut.data(), gpuOut.size()});
  cpu.Predict({x.data(), x.size()}, shape, {cpuOut.data(), cpuOut.size()});
  for (size_t i = 0; i < gpuOut.size(); ++i) CHECK_NEAR(gpuOut[i], cpuOut[i], 1e-4);
}

// LstmTrainer (and LstmModel::ExportWeights) against the float64 reference: the gradient of every
// parameter against central finite differences of the reference loss, on every SIMD level this CPU has;
// training reduces the loss deterministically; bad data is refused before any update.
#include <cmath>
#include <cstring>

#include "tests/check.h"
#include "tests/lstm/lstm_reference.h"
#include "tests/simd_levels.h"
#include "lstm/lstm_training.h"

using namespace sluice;
using sluice::test::RandomInput;
using sluice::test::RandomLstm;
using sluice::test::SupportedLevels;

namespace {

// Mean squared error of the reference's last-step head output, in double.
double ReferenceLoss(const RandomLstm& ref, const std::vector<float>& x, const std::vector<float>& y, size_t T, size_t B) {
  double sum = 0;
  for (size_t b = 0; b < B; ++b) {
    auto state = ref.Zero();
    std::vector<double> out;
    for (size_t t = 0; t < T; ++t) out = ref.StepOne(state, x.data() + (t * B + b) * ref.inputSize);
    for (size_t o = 0; o < ref.outputs; ++o) sum += (out[o] - y[b * ref.outputs + o]) * (out[o] - y[b * ref.outputs + o]);
  }
  return sum / static_cast<double>(B * ref.outputs);
}

// The reference's tensors in LstmTensors order, as pointers to perturb.
std::vector<std::vector<float>*> Tensors(RandomLstm& ref) {
  std::vector<std::vector<float>*> list;
  for (size_t l = 0; l < ref.wih.size(); ++l) {
    list.push_back(&ref.wih[l]);
    list.push_back(&ref.whh[l]);
    list.push_back(&ref.bih[l]);
    list.push_back(&ref.bhh[l]);
  }
  list.push_back(&ref.headW);
  list.push_back(&ref.headB);
  return list;
}

}  // namespace

SLUICE_TEST(LstmModelExportsTheWeightsItWasBuiltFrom) {
  for (SimdLevel level : SupportedLevels()) {
    RandomLstm ref(2, 5, 21, 3, 17);
    LstmModel model(ref.Spec(), 1, level);
    const auto tensors = model.ExportWeights();
    RandomLstm copy = ref;
    const auto expected = Tensors(copy);
    CHECK_EQ(tensors.size(), expected.size());
    for (size_t i = 0; i < tensors.size(); ++i) CHECK(tensors[i] == *expected[i]);
  }
}

SLUICE_TEST(LstmTrainerGradientMatchesFiniteDifferences) {
  const size_t T = 3, B = 2;
  for (SimdLevel level : SupportedLevels()) {
    RandomLstm ref(2, 3, 9, 2, 23, 0.5f);
    const std::vector<float> x = RandomInput(T * B * 3, 5, 1.5f);
    const std::vector<float> y = RandomInput(B * 2, 6, 1.0f);
    LstmTrainer trainer(ref.Spec(), 1, level, LstmTrainerOptions{});
    LstmTensors gradient;
    const double loss = trainer.LossAndGradient({{x.data(), x.size()}, {y.data(), y.size()}, T, B}, &gradient);
    CHECK_NEAR(loss, ReferenceLoss(ref, x, y, T, B), 1e-5);
    auto tensors = Tensors(ref);
    for (size_t k = 0; k < tensors.size(); ++k) {
      std::vector<float>& w = *tensors[k];
      double diff = 0, norm = 0;
      for (size_t i = 0; i < w.size(); ++i) {
        const float v = w[i];
        w[i] = v + 1e-2f;
        const float up = w[i];
        const double plus = ReferenceLoss(ref, x, y, T, B);
        w[i] = v - 1e-2f;
        const float down = w[i];
        const double minus = ReferenceLoss(ref, x, y, T, B);
        w[i] = v;
        const double fd = (plus - minus) / (static_cast<double>(up) - down);
        diff += (gradient[k][i] - fd) * (gradient[k][i] - fd);
        norm += fd * fd;
      }
      // Central differences with a step of 1e-2 are exact to O(h²) ≈ 1e-4 relative here.
      if (!(std::sqrt(diff) <= 2e-3 * std::sqrt(norm) + 1e-7)) {
        ::sluice::test::Fail(__FILE__, __LINE__, std::string("gradient of tensor ") + std::to_string(k) + " at " +
                                                     SimdLevelName(level) + ": relative error " +
                                                     std::to_string(std::sqrt(diff / norm)));
      }
    }
  }
}

SLUICE_TEST(LstmTrainerReducesTheLossDeterministically) {
  const size_t T = 6, N = 40;
  RandomLstm ref(1, 2, 8, 1, 3);
  const std::vector<float> x = RandomInput(T * N * 2, 9, 1.0f);
  std::vector<float> y(N);
  for (size_t e = 0; e < N; ++e) y[e] = 0.5f * x[((T - 1) * N + e) * 2] - 0.25f * x[((T - 2) * N + e) * 2 + 1];
  const LstmDataset data{{x.data(), x.size()}, {y.data(), y.size()}, T, N};
  std::vector<uint32_t> order(N);
  for (size_t e = 0; e < N; ++e) order[e] = static_cast<uint32_t>((e * 7) % N);
  LstmTrainerOptions options;
  options.learningRate = 0.01;
  LstmTrainer a(ref.Spec(), 2, ActiveSimdLevel(), options), b(ref.Spec(), 2, ActiveSimdLevel(), options);
  const double before = a.Evaluate(data, 0, N).Mse();
  for (int epoch = 0; epoch < 30; ++epoch) {
    a.TrainEpoch(data, {order.data(), order.size()}, 16);
    b.TrainEpoch(data, {order.data(), order.size()}, 16);
  }
  const double after = a.Evaluate(data, 0, N).Mse();
  CHECK(after < 0.5 * before);
  CHECK(a.Weights() == b.Weights());
}

SLUICE_TEST(LstmTrainerRefusesBadDataBeforeAnyUpdate) {
  RandomLstm ref(1, 2, 4, 1, 8);
  LstmTrainer trainer(ref.Spec(), 1, ActiveSimdLevel(), LstmTrainerOptions{});
  const auto weights = trainer.Weights();
  std::vector<float> x(3 * 4 * 2, 0.5f), y(4, 1.0f);
  std::vector<uint32_t> order{0, 1, 2, 4};
  const LstmDataset data{{x.data(), x.size()}, {y.data(), y.size()}, 3, 4};
  CHECK_THROWS_CODE(trainer.TrainEpoch(data, {order.data(), order.size()}, 2), codes::kOutOfRange);
  const LstmDataset shortX{{x.data(), x.size() - 1}, {y.data(), y.size()}, 3, 4};
  order[3] = 3;
  CHECK_THROWS_CODE(trainer.TrainEpoch(shortX, {order.data(), order.size()}, 2), codes::kInvalidLength);
  CHECK_THROWS_CODE(trainer.TrainEpoch(data, {order.data(), order.size()}, 0), codes::kOutOfRange);
  CHECK(trainer.Weights() == weights);
  LstmTrainerOptions bad;
  bad.learningRate = 0;
  CHECK_THROWS_CODE(LstmTrainer(ref.Spec(), 1, ActiveSimdLevel(), bad), codes::kInvalidArgument);
  RandomLstm headless(1, 2, 4, 0, 8);
  CHECK_THROWS_CODE(LstmTrainer(headless.Spec(), 1, ActiveSimdLevel(), LstmTrainerOptions{}), codes::kInvalidArgument);
}

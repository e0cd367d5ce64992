// LstmModel and LstmState against the naive float64 reference, on every SIMD level this CPU has.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "tests/check.h"
#include "tests/lstm/lstm_reference.h"
#include "tests/simd_levels.h"
#include "lstm/lstm_state.h"
#include "base/snapshot.h"

using namespace sluice;
using sluice::test::RandomInput;
using sluice::test::RandomLstm;
using sluice::test::SupportedLevels;

namespace {

// Runs predict and compares with the reference for every sequence (and every step when `sequence`).
void CheckPredict(const RandomLstm& ref, LstmModel& model, size_t T, size_t B, bool batchFirst, bool sequence,
                  float inputScale, double tolerance) {
  const size_t I = ref.inputSize, O = model.outputSize();
  const std::vector<float> x = RandomInput(T * B * I, static_cast<uint32_t>(T * 31 + B), inputScale);
  LstmRunShape shape{T, B, batchFirst, sequence};
  std::vector<float> out(model.OutputLength(shape) + 1, -7.0f);
  model.Predict({x.data(), x.size()}, shape, {out.data(), out.size() - 1});
  CHECK_EQ(out.back(), -7.0f);  // nothing written past the output
  double worst = 0;
  for (size_t b = 0; b < B; ++b) {
    auto state = ref.Zero();
    std::vector<double> y;
    for (size_t t = 0; t < T; ++t) {
      const float* xt = x.data() + (batchFirst ? (b * T + t) * I : (t * B + b) * I);
      y = ref.StepOne(state, xt);
      if (sequence) {
        const float* row = out.data() + (batchFirst ? (b * T + t) * O : (t * B + b) * O);
        for (size_t o = 0; o < O; ++o) worst = std::max(worst, std::fabs(row[o] - y[o]));
      }
    }
    if (!sequence) {
      for (size_t o = 0; o < O; ++o) worst = std::max(worst, std::fabs(out[b * O + o] - y[o]));
    }
  }
  if (!(worst <= tolerance)) {
    std::ostringstream os;
    os << "max abs error " << worst << " at level " << SimdLevelName(model.simdLevel()) << " T" << T << " B" << B
       << " I" << I << " H" << ref.hiddenSize << " O" << O;
    ::sluice::test::Fail(__FILE__, __LINE__, os.str());
  }
}

}  // namespace

SLUICE_TEST(LstmMatchesTheFloat64ReferenceOnEverySimdLevel) {
  struct Case {
    size_t layers, I, H, O, T, B;
  };
  const Case cases[] = {{1, 1, 1, 0, 1, 1},   {1, 3, 5, 2, 4, 3},    {2, 5, 20, 3, 7, 11},
                        {3, 8, 16, 0, 5, 13}, {1, 17, 33, 1, 9, 7},  {2, 4, 64, 70, 3, 19}};
  for (SimdLevel level : SupportedLevels()) {
    for (const Case& c : cases) {
      RandomLstm ref(c.layers, c.I, c.H, c.O, static_cast<uint32_t>(c.H * 7 + c.I));
      for (size_t threads : {1, 2}) {
        LstmModel model(ref.Spec(), threads, level);
        CHECK(model.simdLevel() == level);
        for (bool batchFirst : {false, true})
          for (bool sequence : {false, true}) CheckPredict(ref, model, c.T, c.B, batchFirst, sequence, 1.0f, 1e-5);
      }
    }
  }
}

SLUICE_TEST(LstmWideLayersFuseTheInputProjection) {
  // Hp · rows large enough that a time chunk holds one step: the fused (input projection in the recurrent
  // tile) path, with two layers alternating buffers, over several steps.
  for (SimdLevel level : SupportedLevels()) {
    RandomLstm ref(2, 4, 576, 3, 21, 0.05f);
    LstmModel model(ref.Spec(), 1, level);
    CheckPredict(ref, model, 2, 24, false, true, 1.0f, 1e-5);
  }
}

SLUICE_TEST(LstmActivationsStayAccurateWhenSaturated) {
  // Large weights and inputs push gates far into saturation (|x| up to hundreds): exp must neither overflow
  // to NaN nor lose the tails.
  for (SimdLevel level : SupportedLevels()) {
    RandomLstm ref(2, 6, 24, 0, 99, 3.0f);
    LstmModel model(ref.Spec(), 1, level);
    CheckPredict(ref, model, 6, 5, false, true, 40.0f, 1e-5);
  }
}

SLUICE_TEST(LstmFlushesDenormalsOnlyInsideItsCalls) {
  // The kernels run with denormals flushed (saturated gates would otherwise take microcode assists); the
  // caller's mode comes back after Predict and Step, on the calling thread and with a pool.
  RandomLstm ref(1, 2, 24, 2, 5, 3.0f);
  for (size_t threads : {1, 2}) {
    auto model = std::make_shared<LstmModel>(ref.Spec(), threads);
    const auto x = RandomInput(4 * 2, 3, 200.0f);  // far into saturation
    std::vector<float> out(4 * 2);
    model->Predict({x.data(), x.size()}, {1, 4, false, false}, {out.data(), out.size()});
    LstmState state(model, 4);
    const uint32_t keys[] = {0, 1, 2, 3};
    state.Step({keys, 4}, {x.data(), x.size()}, {out.data(), out.size()});
    for (float v : out) CHECK(std::isfinite(v));
    volatile float tiny = std::numeric_limits<float>::min();
    CHECK(tiny / 4.0f > 0.0f);  // a denormal result is still a denormal here, not zero
  }
}

SLUICE_TEST(LstmNanInputSpoilsOnlyItsOwnSequence) {
  for (SimdLevel level : SupportedLevels()) {
    RandomLstm ref(2, 3, 20, 2, 4);
    LstmModel model(ref.Spec(), 2, level);
    const size_t T = 3, B = 14;
    auto x = RandomInput(T * B * 3, 8);
    std::vector<float> clean(B * 2), dirty(B * 2);
    model.Predict({x.data(), x.size()}, {T, B, false, false}, {clean.data(), clean.size()});
    x[(1 * B + 9) * 3 + 1] = std::numeric_limits<float>::quiet_NaN();
    model.Predict({x.data(), x.size()}, {T, B, false, false}, {dirty.data(), dirty.size()});
    for (size_t b = 0; b < B; ++b)
      for (size_t o = 0; o < 2; ++o) {
        if (b == 9) CHECK(std::isnan(dirty[b * 2 + o]));
        else CHECK_EQ(dirty[b * 2 + o], clean[b * 2 + o]);
      }
  }
}

SLUICE_TEST(LstmThreadCountDoesNotChangeResults) {
  RandomLstm ref(2, 7, 40, 3, 5);
  LstmModel one(ref.Spec(), 1), two(ref.Spec(), 2), five(ref.Spec(), 5);
  const size_t T = 6, B = 45;
  const auto x = RandomInput(T * B * 7, 3);
  LstmRunShape shape{T, B, false, true};
  std::vector<float> a(one.OutputLength(shape)), b(a.size()), c(a.size());
  one.Predict({x.data(), x.size()}, shape, {a.data(), a.size()});
  two.Predict({x.data(), x.size()}, shape, {b.data(), b.size()});
  five.Predict({x.data(), x.size()}, shape, {c.data(), c.size()});
  CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
  CHECK(std::memcmp(a.data(), c.data(), a.size() * 4) == 0);
}

SLUICE_TEST(LstmSmallAndLargeStepsGiveTheSameResultsOnAnyThreadCount) {
  // A small step (64 keys at H 24: below the work that splits a call over threads) runs on the calling
  // thread, a large one (600 keys) on the pool: both must equal the one-thread model's, bit for bit.
  RandomLstm ref(1, 2, 24, 2, 8);
  for (size_t keys : {64, 600}) {
    std::vector<float> results[2];
    for (size_t t = 0; t < 2; ++t) {
      auto model = std::make_shared<LstmModel>(ref.Spec(), t == 0 ? 1 : 2);
      LstmState state(model, keys);
      std::vector<uint32_t> ids(keys);
      for (size_t k = 0; k < keys; ++k) ids[k] = static_cast<uint32_t>(keys - 1 - k);
      std::vector<float> out(keys * 2);
      for (uint32_t step = 0; step < 3; ++step) {
        const auto x = RandomInput(keys * 2, 40 + step, 30.0f);
        state.Step({ids.data(), keys}, {x.data(), x.size()}, {out.data(), out.size()});
        results[t].insert(results[t].end(), out.begin(), out.end());
      }
    }
    CHECK(std::memcmp(results[0].data(), results[1].data(), results[0].size() * 4) == 0);
  }
}

SLUICE_TEST(LstmRejectsBadWeightsNamingThem) {
  RandomLstm ref(2, 3, 4, 2, 1);
  auto spec = ref.Spec();
  spec.layers[1].weightHh.size -= 1;
  try {
    LstmModel model(spec, 1);
    CHECK(false);
  } catch (const CoreError& e) {
    CHECK_EQ(std::string(e.code()), std::string(codes::kInvalidLength));
    CHECK(std::string(e.what()).find("layers[1].weightHh") != std::string::npos);
  }
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    RandomLstm broken(1, 3, 4, 2, 2);
    broken.headW[5] = bad;
    CHECK_THROWS_CODE(LstmModel(broken.Spec(), 1), codes::kInvalidArgument);
    RandomLstm broken2(1, 3, 4, 0, 2);
    broken2.bhh[0][3] = bad;
    CHECK_THROWS_CODE(LstmModel(broken2.Spec(), 1), codes::kInvalidArgument);
  }
  CHECK_THROWS_CODE(LstmModel(ref.Spec(), 5000), codes::kOutOfRange);
  auto noLayers = ref.Spec();
  noLayers.layers.clear();
  CHECK_THROWS_CODE(LstmModel(noLayers, 1), codes::kInvalidArgument);
  auto badHead = ref.Spec();
  badHead.headBias.size = 1;
  CHECK_THROWS_CODE(LstmModel(badHead, 1), codes::kInvalidLength);
}

SLUICE_TEST(LstmPredictChecksShapes) {
  RandomLstm ref(1, 3, 4, 0, 1);
  LstmModel model(ref.Spec(), 1);
  std::vector<float> x(2 * 5 * 3), out(5 * 4);
  CHECK_THROWS_CODE(model.Predict({x.data(), x.size() - 1}, {2, 5, false, false}, {out.data(), out.size()}),
                    codes::kInvalidLength);
  CHECK_THROWS_CODE(model.Predict({x.data(), x.size()}, {2, 5, false, false}, {out.data(), out.size() - 1}),
                    codes::kInvalidLength);
  CHECK_THROWS_CODE(model.Predict({x.data(), x.size()}, {0, 5, false, false}, {out.data(), out.size()}),
                    codes::kOutOfRange);
  CHECK_THROWS_CODE(model.Predict({x.data(), x.size()}, {size_t(1) << 40, size_t(1) << 40, false, false},
                                  {out.data(), out.size()}),
                    codes::kOutOfRange);
}

SLUICE_TEST(LstmStateStepsEqualTheWholeSequence) {
  for (SimdLevel level : SupportedLevels()) {
    RandomLstm ref(2, 5, 20, 3, 11);
    auto model = std::make_shared<LstmModel>(ref.Spec(), 2, level);
    const size_t T = 6, B = 21, I = 5, O = 3;
    const auto x = RandomInput(T * B * I, 17);
    std::vector<float> whole(T * B * O);
    model->Predict({x.data(), x.size()}, {T, B, false, true}, {whole.data(), whole.size()});
    LstmState state(model, 100);
    // Keys in a scrambled order, and in a different order each step.
    std::vector<uint32_t> keys(B);
    std::vector<float> xs(B * I), out(B * O);
    for (size_t t = 0; t < T; ++t) {
      for (size_t j = 0; j < B; ++j) {
        const size_t b = (j * 5 + t * 3) % B;
        keys[j] = static_cast<uint32_t>(90 - 4 * b);
        std::memcpy(&xs[j * I], &x[(t * B + b) * I], I * 4);
      }
      state.Step({keys.data(), B}, {xs.data(), xs.size()}, {out.data(), out.size()});
      for (size_t j = 0; j < B; ++j) {
        const size_t b = (j * 5 + t * 3) % B;
        for (size_t o = 0; o < O; ++o) CHECK_EQ(out[j * O + o], whole[(t * B + b) * O + o]);
      }
    }
  }
}

SLUICE_TEST(LstmStateRejectsBadKeysBeforeAnyChange) {
  RandomLstm ref(1, 2, 4, 0, 3);
  auto model = std::make_shared<LstmModel>(ref.Spec(), 1);
  LstmState state(model, 8);
  std::vector<uint32_t> keys = {1, 2};
  std::vector<float> x = {0.5f, -1, 2, 0.25f}, out(12);
  state.Step({keys.data(), 2}, {x.data(), 4}, {out.data(), 8});
  const auto before = state.Snapshot();
  std::vector<uint32_t> beyond = {1, 8}, twice = {3, 1, 3};
  std::vector<float> x3(6, 1.0f);
  CHECK_THROWS_CODE(state.Step({beyond.data(), 2}, {x.data(), 4}, {out.data(), 8}), codes::kOutOfRange);
  CHECK_THROWS_CODE(state.Step({twice.data(), 3}, {x3.data(), 6}, {out.data(), 12}), codes::kInvalidArgument);
  CHECK_THROWS_CODE(state.Step({keys.data(), 2}, {x.data(), 3}, {out.data(), 8}), codes::kInvalidLength);
  CHECK_THROWS_CODE(state.Step({keys.data(), 2}, {x.data(), 4}, {out.data(), 7}), codes::kInvalidLength);
  CHECK_THROWS_CODE(state.Reset({beyond.data(), 2}), codes::kOutOfRange);
  // CheckStep (stepAsync's checks on the JS thread) refuses the same calls with the same codes.
  CHECK_THROWS_CODE(state.CheckStep({beyond.data(), 2}, {x.data(), 4}, {out.data(), 8}), codes::kOutOfRange);
  CHECK_THROWS_CODE(state.CheckStep({twice.data(), 3}, {x3.data(), 6}, {out.data(), 12}), codes::kInvalidArgument);
  CHECK_THROWS_CODE(state.CheckStep({keys.data(), 2}, {x.data(), 3}, {out.data(), 8}), codes::kInvalidLength);
  CHECK_THROWS_CODE(state.CheckStep({keys.data(), 2}, {x.data(), 4}, {out.data(), 7}), codes::kInvalidLength);
  std::vector<float> untouched(8, -7.0f);
  state.CheckStep({keys.data(), 2}, {x.data(), 4}, {untouched.data(), 8});  // a good call: checked, nothing written
  CHECK(untouched == std::vector<float>(8, -7.0f));
  CHECK(state.Snapshot() == before);
  CHECK_THROWS_CODE(LstmState(model, 0), codes::kOutOfRange);
}

SLUICE_TEST(LstmStateResetAndSnapshotRestore) {
  RandomLstm ref(2, 3, 18, 2, 8);
  auto model = std::make_shared<LstmModel>(ref.Spec(), 2);
  const size_t n = 10, I = 3, O = 2;
  std::vector<uint32_t> keys(n);
  for (size_t j = 0; j < n; ++j) keys[j] = static_cast<uint32_t>(j * 3);
  LstmState a(model, 40), b(model, 40);
  std::vector<float> outA(n * O), outB(n * O);
  for (int t = 0; t < 3; ++t) {
    const auto x = RandomInput(n * I, 50 + t);
    a.Step({keys.data(), n}, {x.data(), x.size()}, {outA.data(), outA.size()});
  }
  const auto bytes = a.Snapshot();
  b.Restore({bytes.data(), bytes.size()});
  for (int t = 3; t < 6; ++t) {
    const auto x = RandomInput(n * I, 50 + t);
    a.Step({keys.data(), n}, {x.data(), x.size()}, {outA.data(), outA.size()});
    b.Step({keys.data(), n}, {x.data(), x.size()}, {outB.data(), outB.size()});
    CHECK(outA == outB);
  }
  // Reset of some keys: they restart from zero state, the others carry on.
  std::vector<uint32_t> some = {keys[2], keys[5]};
  a.Reset({some.data(), some.size()});
  CHECK_EQ(a.Hidden(keys[2], 1)[0], 0.0f);
  CHECK(a.Hidden(keys[3], 1)[0] != 0.0f);
  LstmState fresh(model, 40);
  const auto x = RandomInput(n * I, 99);
  a.Step({keys.data(), n}, {x.data(), x.size()}, {outA.data(), outA.size()});
  fresh.Step({keys.data(), n}, {x.data(), x.size()}, {outB.data(), outB.size()});
  for (size_t j : {2, 5})
    for (size_t o = 0; o < O; ++o) CHECK_EQ(outA[j * O + o], outB[j * O + o]);
  CHECK(outA[3 * O] != outB[3 * O]);
  a.ResetAll();
  CHECK_EQ(a.Hidden(keys[3], 0)[1], 0.0f);

  // Corrupt, other kind, other shape or capacity: ERR_MALFORMED_DATA, state untouched.
  auto corrupt = bytes;
  corrupt[40] ^= 1;
  CHECK_THROWS_CODE(b.Restore({corrupt.data(), corrupt.size()}), codes::kMalformedData);
  LstmState small(model, 39);
  CHECK_THROWS_CODE(small.Restore({bytes.data(), bytes.size()}), codes::kMalformedData);
  RandomLstm other(2, 3, 17, 2, 8);
  LstmState otherState(std::make_shared<LstmModel>(other.Spec(), 1), 40);
  CHECK_THROWS_CODE(otherState.Restore({bytes.data(), bytes.size()}), codes::kMalformedData);
  SnapshotWriter wrongKind(SnapshotKind::kSlidingWindow);
  const auto wrong = wrongKind.Finish();
  CHECK_THROWS_CODE(b.Restore({wrong.data(), wrong.size()}), codes::kMalformedData);
}

SLUICE_TEST(LstmFmaProbeRunsOnEveryLevel) {
  for (SimdLevel level : SupportedLevels()) {
    const LstmKernels& k = LstmKernelsFor(level);
    CHECK(k.level == level);
    CHECK(std::isfinite(k.fmaProbe(1000)));
    CHECK(k.fmaProbeFlops == 2 * 12 * k.width);
  }
}

// LstmWindows against a naive reference: every key's whole history kept, its last `steps` rows (zeros in
// front while shorter) run through the same model as one sequence.
#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "tests/check.h"
#include "tests/lstm/lstm_reference.h"
#include "lstm/lstm_windows.h"

using namespace sluice;

SLUICE_TEST(lstm_windows_match_a_naive_per_key_history) {
  test::RandomLstm weights(2, 3, 9, 2, 41);
  auto model = std::make_shared<LstmModel>(weights.Spec(), 1);
  const size_t I = 3, O = 2, T = 4, capacity = 50;
  LstmWindows windows(model, capacity, T);
  std::map<uint32_t, std::vector<float>> history;
  std::mt19937 rng(5);
  for (int batchIndex = 0; batchIndex < 12; ++batchIndex) {
    // Few distinct keys, often repeated within a batch (more than T times for some: overwritten in-batch).
    const size_t n = 1 + rng() % 30;
    std::vector<uint32_t> keys(n);
    for (uint32_t& k : keys) k = static_cast<uint32_t>(rng() % (batchIndex < 6 ? 5 : capacity));
    const std::vector<float> x = test::RandomInput(n * I, 100 + batchIndex);
    std::vector<uint32_t> outKeys(n);
    std::vector<float> out(n * O);
    const size_t k = windows.Push({keys.data(), n}, {x.data(), x.size()}, {outKeys.data(), n}, {out.data(), out.size()});
    std::vector<uint32_t> expectedKeys;
    for (size_t i = 0; i < n; ++i) {
      auto& h = history[keys[i]];
      h.insert(h.end(), x.begin() + i * I, x.begin() + (i + 1) * I);
      if (std::find(expectedKeys.begin(), expectedKeys.end(), keys[i]) == expectedKeys.end()) expectedKeys.push_back(keys[i]);
    }
    CHECK_EQ(k, expectedKeys.size());
    for (size_t b = 0; b < k; ++b) {
      CHECK_EQ(outKeys[b], expectedKeys[b]);
      const std::vector<float>& h = history[outKeys[b]];
      std::vector<float> window(T * I, 0.f);
      const size_t rows = h.size() / I;
      for (size_t t = 0; t < T; ++t) {
        const long row = long(rows) - long(T) + long(t);
        if (row >= 0) std::copy(h.begin() + row * I, h.begin() + (row + 1) * I, window.begin() + t * I);
      }
      std::vector<float> expected(O);
      LstmRunShape shape;
      shape.steps = T;
      shape.batch = 1;
      model->Predict({window.data(), window.size()}, shape, {expected.data(), O});
      for (size_t o = 0; o < O; ++o) CHECK_NEAR(out[b * O + o], expected[o], 1e-5);
    }
  }
}

SLUICE_TEST(lstm_windows_refuse_bad_calls_before_any_change) {
  test::RandomLstm weights(1, 2, 4, 0, 3);
  auto model = std::make_shared<LstmModel>(weights.Spec(), 1);
  CHECK_THROWS_CODE(LstmWindows(model, 0, 4), codes::kOutOfRange);
  CHECK_THROWS_CODE(LstmWindows(model, 10, 0), codes::kOutOfRange);
  LstmWindows windows(model, 10, 3);
  std::vector<uint32_t> keys = {1, 2}, outKeys(2);
  std::vector<float> x = {1, 2, 3, 4}, out(8), first(8);
  windows.Push({keys.data(), 2}, {x.data(), 4}, {outKeys.data(), 2}, {first.data(), 8});
  std::vector<uint32_t> bad = {1, 10};
  CHECK_THROWS_CODE(windows.Push({bad.data(), 2}, {x.data(), 4}, {outKeys.data(), 2}, {out.data(), 8}), codes::kOutOfRange);
  CHECK_THROWS_CODE(windows.Push({keys.data(), 2}, {x.data(), 3}, {outKeys.data(), 2}, {out.data(), 8}), codes::kInvalidLength);
  CHECK_THROWS_CODE(windows.Push({keys.data(), 2}, {x.data(), 4}, {outKeys.data(), 1}, {out.data(), 8}), codes::kInvalidLength);
  // Nothing changed: a reset twin fed the same first batch then this one agrees.
  LstmWindows twin(model, 10, 3);
  std::vector<float> a(8), b(8);
  twin.Push({keys.data(), 2}, {x.data(), 4}, {outKeys.data(), 2}, {a.data(), 8});
  twin.Push({keys.data(), 2}, {x.data(), 4}, {outKeys.data(), 2}, {a.data(), 8});
  windows.Push({keys.data(), 2}, {x.data(), 4}, {outKeys.data(), 2}, {b.data(), 8});
  for (size_t i = 0; i < 8; ++i) CHECK_EQ(a[i], b[i]);
  windows.Reset();
  windows.Push({keys.data(), 2}, {x.data(), 4}, {outKeys.data(), 2}, {b.data(), 8});
  for (size_t i = 0; i < 8; ++i) CHECK_EQ(first[i], b[i]);
}

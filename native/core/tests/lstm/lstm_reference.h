// A naive float64 LSTM (PyTorch semantics) and random models, shared by the LSTM core tests.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "lstm/lstm_model.h"

namespace sluice::test {

struct RandomLstm {
  size_t inputSize, hiddenSize, outputs;  // outputs 0: no head
  std::vector<std::vector<float>> wih, whh, bih, bhh;
  std::vector<float> headW, headB;

  RandomLstm(size_t layers, size_t I, size_t H, size_t O, uint32_t seed, float scale = 0.3f)
      : inputSize(I), hiddenSize(H), outputs(O) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    auto fill = [&](size_t n) {
      std::vector<float> v(n);
      for (float& x : v) x = u(rng);
      return v;
    };
    for (size_t l = 0; l < layers; ++l) {
      wih.push_back(fill(4 * H * (l == 0 ? I : H)));
      whh.push_back(fill(4 * H * H));
      bih.push_back(fill(4 * H));
      bhh.push_back(fill(4 * H));
    }
    if (O) {
      headW = fill(O * H);
      headB = fill(O);
    }
  }

  LstmModelSpec Spec() const {
    LstmModelSpec spec;
    spec.inputSize = inputSize;
    spec.hiddenSize = hiddenSize;
    for (size_t l = 0; l < wih.size(); ++l) {
      spec.layers.push_back({{wih[l].data(), wih[l].size()}, {whh[l].data(), whh[l].size()},
                             {bih[l].data(), bih[l].size()}, {bhh[l].data(), bhh[l].size()}});
    }
    if (outputs) {
      spec.hasHead = true;
      spec.headOutputs = outputs;
      spec.headWeight = {headW.data(), headW.size()};
      spec.headBias = {headB.data(), headB.size()};
    }
    return spec;
  }

  // State of one sequence: h and c per layer.
  struct SeqState {
    std::vector<std::vector<double>> h, c;
  };
  SeqState Zero() const {
    SeqState s;
    s.h.assign(wih.size(), std::vector<double>(hiddenSize, 0.0));
    s.c = s.h;
    return s;
  }
  // Advances one sequence by one step; returns the output row (head or top h).
  std::vector<double> StepOne(SeqState& s, const float* x) const {
    const size_t H = hiddenSize;
    std::vector<double> input(x, x + inputSize);
    for (size_t l = 0; l < wih.size(); ++l) {
      const size_t in = input.size();
      std::vector<double> g(4 * H);
      for (size_t r = 0; r < 4 * H; ++r) {
        double acc = double(bih[l][r]) + double(bhh[l][r]);
        for (size_t k = 0; k < in; ++k) acc += double(wih[l][r * in + k]) * input[k];
        for (size_t k = 0; k < H; ++k) acc += double(whh[l][r * H + k]) * s.h[l][k];
        g[r] = acc;
      }
      auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
      for (size_t u = 0; u < H; ++u) {
        const double i = sig(g[u]), f = sig(g[H + u]), gg = std::tanh(g[2 * H + u]), o = sig(g[3 * H + u]);
        s.c[l][u] = f * s.c[l][u] + i * gg;
        s.h[l][u] = o * std::tanh(s.c[l][u]);
      }
      input = s.h[l];
    }
    if (!outputs) return input;
    std::vector<double> y(outputs);
    for (size_t o = 0; o < outputs; ++o) {
      double acc = headB[o];
      for (size_t k = 0; k < H; ++k) acc += double(headW[o * H + k]) * input[k];
      y[o] = acc;
    }
    return y;
  }
};

inline std::vector<float> RandomInput(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace sluice::test

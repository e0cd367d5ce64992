// LstmModel::ExportWeights: the inverse of the packing in lstm_model.cc (PackGatePanels / PackPanels), so
// a model's current weights can be read back (model.weights(), toSafetensors) without keeping a second copy.
#include <algorithm>

#include "lstm/lstm_model.h"

namespace sluice {

std::vector<std::vector<float>> LstmModel::ExportWeights() const {
  const size_t H = hidden_, Hp = paddedHidden_, W = kernels_->width, nr = 4 * W;
  // Inverse of PackGatePanels: w[(g·H + unit)·k + kk] = packed[column's panel][kk][column % 4W] / scale
  // (the scale is 1 or 2: exact).
  auto unpackGates = [&](const std::vector<float>& packed, size_t k, size_t kPadded) {
    std::vector<float> w(4 * H * k);
    for (size_t g = 0; g < 4; ++g)
      for (size_t unit = 0; unit < H; ++unit) {
        const GateSlot slot = GateSlotOf(g, unit, H, W);
        const float* panel = packed.data() + slot.column / nr * kPadded * nr + slot.column % nr;
        for (size_t kk = 0; kk < k; ++kk) w[(g * H + unit) * k + kk] = panel[kk * nr] / slot.scale;
      }
    return w;
  };
  std::vector<std::vector<float>> tensors;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const PackedLayer& layer = layers_[l];
    tensors.push_back(unpackGates(layer.wih, l == 0 ? inputSize_ : H, layer.inputSize));
    tensors.push_back(unpackGates(layer.whh, H, Hp));
    for (size_t b = 0; b < 2; ++b) {
      const std::vector<float>& given = layerBiases_[2 * l + b];
      tensors.push_back(given.empty() ? std::vector<float>(4 * H, 0.0f) : given);
    }
  }
  if (hasHead()) {
    // Inverse of PackPanels: w[c·H + kk] = out[c0·Hp + kk·4W + (c − c0)] with c0 = c − c % 4W.
    std::vector<float> w(headOutputs_ * H);
    for (size_t c = 0; c < headOutputs_; ++c)
      for (size_t kk = 0; kk < H; ++kk) w[c * H + kk] = headWeight_[(c - c % nr) * Hp + kk * nr + c % nr];
    tensors.push_back(std::move(w));
    tensors.emplace_back(headBias_.begin(), headBias_.begin() + static_cast<std::ptrdiff_t>(headOutputs_));
  }
  return tensors;
}

}  // namespace sluice

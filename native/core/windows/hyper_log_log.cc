#include "windows/hyper_log_log.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/snapshot.h"

namespace sluice {

HyperLogLog::HyperLogLog(uint32_t precision) : precision_(precision) {
  Require(precision >= kMinPrecision && precision <= kMaxPrecision, codes::kOutOfRange, "precision must be in [4, 18]");
  registers_.assign(size_t{1} << precision, 0);
}

void HyperLogLog::Clear() { std::fill(registers_.begin(), registers_.end(), uint8_t{0}); }

void HyperLogLog::Merge(const HyperLogLog& other) {
  Require(other.precision_ == precision_, codes::kInvalidArgument, "only sketches of the same precision merge");
  for (size_t i = 0; i < registers_.size(); ++i) registers_[i] = std::max(registers_[i], other.registers_[i]);
}

double HyperLogLog::StandardError() const { return 1.04 / std::sqrt(static_cast<double>(registers_.size())); }

namespace {
// Ertl's σ(x) = x + Σ_{k≥1} x^(2^k)·2^(k−1), for x in [0, 1] (σ(1) = ∞).
double Sigma(double x) {
  if (x == 1) return std::numeric_limits<double>::infinity();
  double y = 1, z = x;
  for (;;) {
    x *= x;
    const double previous = z;
    z += x * y;
    y += y;
    if (z == previous) return z;
  }
}

// Ertl's τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))²·2^−k)/3, for x in [0, 1].
double Tau(double x) {
  if (x == 0 || x == 1) return 0;
  double y = 1, z = 1 - x;
  for (;;) {
    x = std::sqrt(x);
    const double previous = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
    if (z == previous) return z / 3;
  }
}
}  // namespace

// Ertl's improved estimator: with C[k] registers holding k (k = 0 … q + 1, q = 64 − p),
// m²·α∞ / (m·τ(1 − C[q+1]/m)·2^−q + Σ_{k=1..q} C[k]·2^−k + m·σ(C[0]/m)), α∞ = 1/(2 ln 2).
double HyperLogLog::Estimate() const {
  const int q = 64 - static_cast<int>(precision_);
  std::vector<double> histogram(static_cast<size_t>(q) + 2, 0.0);
  for (const uint8_t r : registers_) histogram[r] += 1;
  const double m = static_cast<double>(registers_.size());
  double z = m * Tau(1 - histogram[static_cast<size_t>(q) + 1] / m);
  for (int k = q; k >= 1; --k) {
    z += histogram[static_cast<size_t>(k)];
    z *= 0.5;
  }
  z += m * Sigma(histogram[0] / m);
  return m * m / (2 * std::log(2.0)) / z;
}

void HyperLogLog::Write(SnapshotWriter& w) const { w.PutVector(registers_); }

void HyperLogLog::Read(SnapshotReader& r) {
  std::vector<uint8_t> registers(registers_.size());
  r.GetArray(registers.data(), registers.size());
  const uint8_t maxRank = static_cast<uint8_t>(64 - precision_ + 1);
  CheckField(std::all_of(registers.begin(), registers.end(), [maxRank](uint8_t rank) { return rank <= maxRank; }),
             "distinct sketch register (rank above 65 − precision)");
  registers_ = std::move(registers);
}

}  // namespace sluice

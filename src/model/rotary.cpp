#include "model/rotary.h"

#include <cmath>

namespace cpm {

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config, int64_t context_length)
    : rope_dim_(config.qk_rope_head_dim) {
  const int64_t half = rope_dim_ / 2;
  const RopeScaling& scaling = config.rope_scaling;
  std::vector<double> factors(half, 1.0);
  if (scaling.longrope) {
    const double original = static_cast<double>(scaling.original_max_position_embeddings);
    uses_long_factors_ = static_cast<double>(context_length) > original;
    const std::vector<float>& chosen = uses_long_factors_ ? scaling.long_factor : scaling.short_factor;
    for (int64_t i = 0; i < half; ++i) factors[i] = chosen[i];
    const double max_positions = static_cast<double>(config.max_position_embeddings);
    if (scaling.attention_factor > 0) {
      attention_factor_ = scaling.attention_factor;
    } else if (max_positions > original) {
      attention_factor_ = std::sqrt(1.0 + std::log(max_positions / original) / std::log(original));
    }
  }
  inverse_frequencies_.resize(half);
  for (int64_t i = 0; i < half; ++i) {
    const double exponent = static_cast<double>(2 * i) / static_cast<double>(rope_dim_);
    inverse_frequencies_[i] = 1.0 / (factors[i] * std::pow(config.rope_theta, exponent));
  }
}

void RotaryEmbedding::apply(int64_t position, float* x, int64_t count, int64_t stride) const {
  const int64_t half = rope_dim_ / 2;
  // cos and sin in double, then rounded once: angles reach 1e4+ radians at long contexts.
  constexpr int64_t kMaxHalf = 256;
  float cosines[kMaxHalf], sines[kMaxHalf];
  for (int64_t i = 0; i < half && i < kMaxHalf; ++i) {
    const double angle = static_cast<double>(position) * inverse_frequencies_[i];
    cosines[i] = static_cast<float>(std::cos(angle) * attention_factor_);
    sines[i] = static_cast<float>(std::sin(angle) * attention_factor_);
  }
  for (int64_t v = 0; v < count; ++v) {
    float* row = x + v * stride;
    for (int64_t i = 0; i < half; ++i) {
      const float first = row[i], second = row[i + half];
      row[i] = first * cosines[i] - second * sines[i];
      row[i + half] = second * cosines[i] + first * sines[i];
    }
  }
}

}  // namespace cpm

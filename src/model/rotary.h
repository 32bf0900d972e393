// Rotary position embedding on the qk_rope_head_dim part of queries and keys, rotate-half pairing
// (i, i + half) as Llama in Hugging Face, with LongRoPE's per-frequency factors and attention factor.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace cpm {

class RotaryEmbedding {
 public:
  // The LongRoPE factor list is fixed here, from the serving context length: long factors when it
  // exceeds original_max_position_embeddings, else short ones (MiniCPM's own code and llama.cpp).
  RotaryEmbedding(const ModelConfig& config, int64_t context_length);

  // Rotates `count` vectors of rope_dim floats, `stride` floats apart, all at `position`.
  void apply(int64_t position, float* x, int64_t count, int64_t stride) const;

  bool uses_long_factors() const { return uses_long_factors_; }
  double attention_factor() const { return attention_factor_; }
  const std::vector<double>& inverse_frequencies() const { return inverse_frequencies_; }

 private:
  int64_t rope_dim_;
  std::vector<double> inverse_frequencies_;
  double attention_factor_ = 1.0;
  bool uses_long_factors_ = false;
};

}  // namespace cpm

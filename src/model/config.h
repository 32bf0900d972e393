// MiniCPM3 hyper-parameters, read from a Hugging Face config.json and validated. Nothing about
// MiniCPM3-4B is assumed: every constant the forward pass uses comes from here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cpm {

struct RopeScaling {
  bool longrope = false;
  std::vector<float> short_factor;
  std::vector<float> long_factor;
  int64_t original_max_position_embeddings = 0;
  double attention_factor = 0.0;  // 0: derived from the context lengths
};

struct ModelConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t intermediate_size = 0;
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  double scale_emb = 1.0;
  double scale_depth = 1.0;
  double dim_model_base = 1.0;
  bool tie_word_embeddings = true;
  RopeScaling rope_scaling;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // Per-layer multiplier of each residual branch.
  double residual_scale() const;
  // Divisor of the final hidden state before lm_head.
  double logit_divisor() const { return static_cast<double>(hidden_size) / dim_model_base; }

  // Parses and validates; `source` names the file in error messages.
  static ModelConfig from_json_text(const std::string& text, const std::string& source);
  static ModelConfig from_file(const std::string& path);
};

}  // namespace cpm

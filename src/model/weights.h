// The weights of a MiniCPM3 checkpoint, validated against its config. Matrices point into the
// memory-mapped safetensors files; only norm vectors (tiny) are widened to f32 copies.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace cpm {

struct LayerWeights {
  std::vector<float> input_layernorm;
  MatrixView q_a_proj;  // [q_lora_rank, hidden]
  std::vector<float> q_a_layernorm;
  MatrixView q_b_proj;            // [heads * (nope + rope), q_lora_rank]
  MatrixView kv_a_proj_with_mqa;  // [kv_lora_rank + rope, hidden]
  std::vector<float> kv_a_layernorm;
  MatrixView kv_b_proj;  // [heads * (nope + v), kv_lora_rank]
  MatrixView o_proj;     // [hidden, heads * v]
  std::vector<float> post_attention_layernorm;
  MatrixView gate_proj;  // [intermediate, hidden]
  MatrixView up_proj;    // [intermediate, hidden]
  MatrixView down_proj;  // [hidden, intermediate]
};

class ModelWeights {
 public:
  // Reads DIR/config.json and the safetensors files; throws cpm::Error naming the file and problem.
  static std::shared_ptr<ModelWeights> load(const std::string& model_dir);

  const ModelConfig& config() const { return config_; }
  const std::string& model_dir() const { return model_dir_; }
  const MatrixView& embed_tokens() const { return embed_tokens_; }
  const MatrixView& lm_head() const { return lm_head_; }  // the embedding when tied
  const std::vector<float>& norm() const { return norm_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  // Warnings about tensors that were present but deliberately not used.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Bytes of weights a decode step reads (every matrix once; the embedding row is negligible).
  int64_t weight_bytes_per_token() const;

 private:
  ModelWeights() = default;
  void bind_tensors();
  MatrixView matrix(const std::string& name, int64_t rows, int64_t cols);
  std::vector<float> vector(const std::string& name, int64_t size);

  std::string model_dir_;
  ModelConfig config_;
  std::unique_ptr<CheckpointFiles> files_;
  std::vector<std::string> used_;
  MatrixView embed_tokens_;
  MatrixView lm_head_;
  std::vector<float> norm_;
  std::vector<LayerWeights> layers_;
  std::vector<std::string> warnings_;
};

}  // namespace cpm

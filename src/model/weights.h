// The weights of a MiniCPM3 checkpoint, validated against its config. Matrices point into the
// memory-mapped safetensors files; only norm vectors (tiny) are widened to f32 copies.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/large_buffer.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "model/tensor_shard.h"

namespace cpm {

struct LayerWeights {
  std::vector<float> input_layernorm;
  MatrixView q_a_proj;  // [q_lora_rank, hidden]
  std::vector<float> q_a_layernorm;
  // Under tensor parallelism, `heads` and `intermediate` below count this rank's part only.
  MatrixView q_b_proj;            // [heads * (nope + rope), q_lora_rank]
  MatrixView kv_a_proj_with_mqa;  // [kv_lora_rank + rope, hidden]
  std::vector<float> kv_a_layernorm;
  MatrixView kv_b_proj;  // [heads * (nope + v), kv_lora_rank]
  // Under the block formats, decode's q8_0 copies of kv_b_proj (WeightLoadOptions::decode_kv_b_q8_0):
  // W_uk with each head's block transposed, [heads * kv_lora_rank, nope], and W_uv, [heads * v,
  // kv_lora_rank]. Decode takes every head's query and output through them each token, in integer
  // dot products over half of bf16's bytes. Empty (0 rows) otherwise; kv_b_proj serves prefill.
  MatrixView kv_b_absorb;
  MatrixView kv_b_expand;
  MatrixView o_proj;  // [hidden, heads * v]
  std::vector<float> post_attention_layernorm;
  MatrixView gate_proj;  // [intermediate, hidden]
  MatrixView up_proj;    // [intermediate, hidden]
  MatrixView down_proj;  // [hidden, intermediate]
};

struct WeightLoadOptions {
  // Storage of the projection matrices: kept as in the checkpoint when unset, else converted at load
  // (f32, bf16, q8_0, q4_0). Embeddings and norms stay as stored, and so does kv_b_proj under the
  // block formats; lm_head becomes q8_0 for the 4-bit format (logits are sensitive to it) and
  // follows the format otherwise.
  std::optional<DType> dtype;
  ThreadPool* pool = nullptr;  // for conversion; a private one when null
  bool show_progress = false;  // a progress bar on a terminal
  // Tensor parallelism: keep only this rank's slices (see TensorShard); conversion, if any, then
  // touches only those.
  int tp_rank = 0;
  int tp_size = 1;
  // Data-parallel attention: every rank keeps all attention heads (the MLP and vocabulary are split).
  bool dp_attention = false;
  // Every matrix moves into memory of huge pages, off the mapped checkpoint (whose pages are then
  // dropped); block-quantized matrices that only matmul reads are grouped by eight rows on the way
  // where the kernels run faster so (kernels/row_groups.h). Writers of checkpoints, which read each
  // matrix once, turn this off: named_matrices() refuses grouped matrices.
  bool place_matrices = true;
  // Under the block formats, q8_0 copies of kv_b_proj for decode (LayerWeights::kv_b_absorb), where
  // the shapes allow whole blocks (nope and kv_lora_rank multiples of 32, v of 8). Writers turn it off.
  bool decode_kv_b_q8_0 = true;
};

class ModelWeights {
 public:
  // Reads DIR/config.json and the safetensors files; throws cpm::Error naming the file and problem.
  static std::shared_ptr<ModelWeights> load(const std::string& model_dir,
                                            const WeightLoadOptions& options = {});

  // The whole model's config, also when the matrices are one rank's slices.
  const ModelConfig& config() const { return config_; }
  const TensorShard& shard() const { return shard_; }
  const std::string& model_dir() const { return model_dir_; }
  // Rows shard().vocab of the vocabulary.
  const MatrixView& embed_tokens() const { return embed_tokens_; }
  const MatrixView& lm_head() const { return lm_head_; }  // the embedding when tied
  const std::vector<float>& norm() const { return norm_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  // Warnings about tensors that were present but deliberately not used.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Bytes of weights a decode step reads (every matrix once; the embedding row is negligible).
  int64_t weight_bytes_per_token() const;
  // Bytes of the matrices placed in huge-page memory at load (0 with WeightLoadOptions::place_matrices
  // off), and how many of them the kernel backs with huge pages now (-1 where it cannot tell).
  int64_t placed_bytes() const { return static_cast<int64_t>(placed_.size()); }
  int64_t placed_huge_page_bytes() const { return placed_.huge_page_bytes(); }
  // The storage type of the projection matrices ("mixed" is not possible: one type for all).
  DType matrix_dtype() const { return layers_.empty() ? embed_tokens_.dtype : layers_[0].q_a_proj.dtype; }
  // Every matrix with its checkpoint name, for writers (quantize, export-gguf); needs
  // WeightLoadOptions::place_matrices off.
  std::vector<std::pair<std::string, const MatrixView*>> named_matrices() const;
  std::vector<std::pair<std::string, const std::vector<float>*>> named_vectors() const;

 private:
  ModelWeights() = default;
  void bind_tensors();
  void keep_shard();
  void convert(const WeightLoadOptions& options, ThreadPool& pool);
  void place_matrices(const std::function<ThreadPool&()>& pool);
  void release(const MatrixView& replaced);
  void quantize_kv_b_for_decode(const std::function<ThreadPool&()>& pool);
  MatrixView matrix(const std::string& name, int64_t rows, int64_t cols);
  std::vector<float> vector(const std::string& name, int64_t size);

  std::string model_dir_;
  ModelConfig config_;
  TensorShard shard_;
  std::unique_ptr<CheckpointFiles> files_;
  std::vector<std::string> used_;
  MatrixView embed_tokens_;
  MatrixView lm_head_;
  std::vector<float> norm_;
  std::vector<LayerWeights> layers_;
  std::vector<std::string> warnings_;
  std::vector<std::vector<uint8_t>> converted_;  // storage of matrices converted at load
  LargeBuffer placed_;                           // storage of the matrices (place_matrices)
  LargeBuffer decode_kv_b_;                      // storage of kv_b_absorb and kv_b_expand
};

}  // namespace cpm

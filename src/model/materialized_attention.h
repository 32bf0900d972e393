// The plain MLA path: kv_b_proj expands each new token's latent into per-head keys and values, which
// the cache keeps (heads * (nope + rope) + heads * v numbers per token per layer); then causal
// scaled-dot-product attention per sequence.
#pragma once

#include "model/attention_backend.h"

namespace cpm {

class MaterializedAttention : public AttentionBackend {
 public:
  MaterializedAttention(const ModelConfig& config, ThreadPool& pool);
  const char* name() const override { return "materialized"; }
  int64_t cache_row_width() const override;
  int64_t flops_per_cached_token() const override {
    return 2 * config_.num_attention_heads *
           (config_.qk_nope_head_dim + config_.qk_rope_head_dim + config_.v_head_dim);
  }
  void attend(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
              const AttentionInputs& inputs, KvCache& cache, float* out) override;

 private:
  void store_new_rows(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
                      const AttentionInputs& inputs, KvCache& cache);

  const ModelConfig& config_;
  ThreadPool& pool_;
  AlignedVector<float> expanded_;  // [rows, heads * (nope + v)]
  ThreadScratch scratch_;
};

}  // namespace cpm

// The absorbed MLA path. The cache keeps, per token and layer, only the normalized KV latent
// (kv_lora_rank numbers) and the rotated shared rope key (qk_rope_head_dim numbers). kv_b_proj's
// key half W_uk is folded into each head's query (q_nope · W_uk lives in latent space) and its value
// half W_uv into the output (attention-weighted latents · W_uvᵀ), so per-head K and V are never
// built. Every token, prompt or generated, takes this path: one numeric path is what makes a
// token's result independent of chunking, batching and preemption.
#pragma once

#include "model/attention_backend.h"

namespace cpm {

class LatentAttention : public AttentionBackend {
 public:
  LatentAttention(const ModelConfig& config, ThreadPool& pool);
  const char* name() const override { return "latent"; }
  int64_t cache_row_width() const override { return config_.kv_lora_rank + config_.qk_rope_head_dim; }
  // Every head scores the whole cache row and sums its latent part.
  int64_t flops_per_cached_token() const override {
    return 2 * config_.num_attention_heads * (cache_row_width() + config_.kv_lora_rank);
  }
  void attend(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
              const AttentionInputs& inputs, KvCache& cache, float* out) override;

 private:
  // Tokens per work item of a prefill: their queries and outputs pass kv_b_proj together.
  static constexpr int64_t kTokensPerItem = 4;

  // Heads [first_head, first_head + num_heads) of tasks[0 .. count).
  void attend_heads(int64_t layer, const LayerWeights& weights, const AttentionTask* tasks, int64_t count,
                    int64_t first_head, int64_t num_heads, const AttentionInputs& inputs,
                    const KvCache& cache, float* scratch, float* out) const;

  const ModelConfig& config_;
  ThreadPool& pool_;
  ThreadScratch scratch_;
};

}  // namespace cpm

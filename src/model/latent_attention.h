// The absorbed MLA path. The cache keeps, per token and layer, only the normalized KV latent
// (kv_lora_rank numbers) and the rotated shared rope key (qk_rope_head_dim numbers). kv_b_proj's
// key half W_uk is folded into each head's query (q_nope · W_uk lives in latent space) and its value
// half W_uv into the output (attention-weighted latents · W_uvᵀ), so per-head K and V are never
// built for decode.
//
// With materialized prefill (the default; sglang's split for MLA), a prefill chunk whose arithmetic
// favors it instead expands its sequence's cached latents into per-head K and V (kv_b_proj as one
// matmul) and attends per head like the plain path: about half the FLOPs of the absorbed form at 512
// tokens. The cache still keeps only the latent, but a token's bits then depend on whether it was
// computed in a prefill chunk or a decode step, so results follow chunking and preemption (within
// float rounding). Deterministic inference turns it off: every token, prompt or generated, takes the
// absorbed path, and one numeric path makes a token's result independent of chunking, batching and
// preemption.
#pragma once

#include <vector>

#include "model/attention_backend.h"

namespace cpm {

class LatentAttention : public AttentionBackend {
 public:
  // Context rows up to which a prefill chunk may be expanded (the expansion's scratch is about 36 KB
  // per row with MiniCPM3-4B's 40 heads).
  static constexpr int64_t kMaxExpandedRows = 4096;

  LatentAttention(const ModelConfig& config, ThreadPool& pool, bool materialized_prefill = false);
  const char* name() const override { return "latent"; }
  int64_t cache_row_width() const override { return config_.kv_lora_rank + config_.qk_rope_head_dim; }
  // Every head scores the whole cache row and sums its latent part.
  int64_t flops_per_cached_token() const override {
    return 2 * config_.num_attention_heads * (cache_row_width() + config_.kv_lora_rank);
  }
  void attend(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
              const AttentionInputs& inputs, KvCache& cache, float* out) override;
  // With materialized prefill: true when expanding this sequence's context costs fewer multiply-adds
  // than absorbing its new tokens' queries (never for one token, nor past kMaxExpandedRows).
  bool prefers_materialized(const SequenceSpan& sequence) const;

 private:
  // Tokens per work item of a prefill: their queries and outputs pass kv_b_proj together.
  static constexpr int64_t kTokensPerItem = 4;

  // New tokens per pass of the materialized kernels: a cached key or value row is read once for all.
  static constexpr int64_t kQueriesPerPass = 8;

  // The sequences of `batch` that take the absorbed path, all in parallel.
  void attend_absorbed(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
                       const AttentionInputs& inputs, const KvCache& cache, float* out);
  // One sequence's new tokens through per-head K and V expanded from its cached latents.
  void attend_materialized(int64_t layer, const LayerWeights& weights, const SequenceSpan& sequence,
                           const AttentionInputs& inputs, const KvCache& cache, float* out);
  // Heads [first_head, first_head + num_heads) of tasks[0 .. count).
  void attend_heads(int64_t layer, const LayerWeights& weights, const AttentionTask* tasks, int64_t count,
                    int64_t first_head, int64_t num_heads, const AttentionInputs& inputs,
                    const KvCache& cache, float* scratch, float* out) const;

  const ModelConfig& config_;
  ThreadPool& pool_;
  const bool materialized_prefill_;
  ThreadScratch scratch_;
  std::vector<float> latents_;   // [context, rank + rope]: the cached rows as f32
  std::vector<float> expanded_;  // [context, heads * (nope + v)]: kv_b_proj of the latents
  std::vector<float> keys_;      // [heads, context, nope + rope]: each head's keys, contiguous
};

}  // namespace cpm

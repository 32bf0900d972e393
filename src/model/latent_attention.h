// The absorbed MLA path. The cache keeps, per token and layer, only the normalized KV latent
// (kv_lora_rank numbers) and the rotated shared rope key (qk_rope_head_dim numbers). kv_b_proj's
// key half W_uk is folded into each head's query (q_nope · W_uk lives in latent space) and its value
// half W_uv into the output (attention-weighted latents · W_uvᵀ), so per-head K and V are never
// built for decode.
//
// With materialized prefill (the default; sglang's split for MLA), a prefill chunk whose arithmetic
// favors it instead expands its sequence's cached latents into per-head K and V (kv_b_proj as one
// matmul per group of heads, as many as a scratch budget holds) and attends per head like the plain
// path, 64 new tokens per pass: at 512 tokens about half the FLOPs of the absorbed form, and far
// fewer for a chunk after a long cached prefix. The cache still keeps only the latent, but a token's
// bits then depend on whether it was computed in a prefill chunk or a decode step, so results follow
// chunking and preemption (within float rounding). Deterministic inference turns it off: every
// token, prompt or generated, takes the absorbed path, and one numeric path makes a token's result
// independent of chunking, batching and preemption.
#pragma once

#include <vector>

#include "model/attention_backend.h"

namespace cpm {

class LatentAttention : public AttentionBackend {
 public:
  // Scratch for one expansion's per-head K and V: heads are expanded in groups that fit (1,152 bytes
  // per head and context row with MiniCPM3-4B's shapes: all 40 heads at once up to 2,912 rows, one
  // at a time past 116,000).
  static constexpr int64_t kExpansionBudgetBytes = int64_t{128} << 20;
  // Decode against a context of at most this many cached bytes (per layer) runs in one parallel
  // region, the threads splitting the heads; longer ones split the cached rows for the scores, so
  // each thread reads its part once, at the cost of two more waits. With q4_0 MiniCPM3-4B on 2 threads
  // one region was 3-5% faster per step up to 2,048 rows (2.4 MB), 3% slower at 4,096
  // (docs/PERFORMANCE.md).
  static constexpr int64_t kOnePassCacheBytes = int64_t{3} << 20;

  LatentAttention(const ModelConfig& config, ThreadPool& pool, bool materialized_prefill = false,
                  int64_t expansion_budget_bytes = kExpansionBudgetBytes,
                  int64_t one_pass_cache_bytes = kOnePassCacheBytes);
  const char* name() const override { return "latent"; }
  int64_t cache_row_width() const override { return config_.kv_lora_rank + config_.qk_rope_head_dim; }
  // Every head scores the whole cache row and sums its latent part.
  int64_t flops_per_cached_token() const override {
    return 2 * config_.num_attention_heads * (cache_row_width() + config_.kv_lora_rank);
  }
  void attend(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
              const AttentionInputs& inputs, KvCache& cache, float* out) override;
  const MatrixView& first_weights(const LayerWeights& weights) const override {
    return weights.kv_b_absorb.rows > 0 ? weights.kv_b_absorb : weights.kv_b_proj;
  }
  // With materialized prefill: true when expanding this sequence's context costs fewer multiply-adds
  // than absorbing its new tokens' queries (never for one token).
  bool prefers_materialized(const SequenceSpan& sequence) const;
  // Heads whose K and V one expansion builds for a context of this many rows (at least one).
  int64_t heads_per_expansion(int64_t context) const;

 private:
  // Tokens per work item of a prefill: their queries and outputs pass kv_b_proj together.
  static constexpr int64_t kTokensPerItem = 4;

  // New tokens per pass of the materialized kernels: a cached key or value row is read once for all.
  static constexpr int64_t kQueriesPerPass = 64;

  // The sequences of `batch` that take the absorbed path, all in parallel.
  void attend_absorbed(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
                       const AttentionInputs& inputs, const KvCache& cache, float* out);
  // One sequence's new tokens through per-head K and V expanded from its cached latents.
  void attend_materialized(int64_t layer, const LayerWeights& weights, const SequenceSpan& sequence,
                           const AttentionInputs& inputs, const KvCache& cache, float* out);
  // Heads [first_head, first_head + num_heads) of the sequence's new tokens, from expanded_ (those
  // heads' K nope and V for every context row) and latents_ (the shared rope key).
  void attend_expanded_heads(const SequenceSpan& sequence, int64_t first_head, int64_t num_heads,
                             const AttentionInputs& inputs, float* out);
  // Fewer tasks than threads (decode): the threads split each task's heads, and for a context past
  // one_pass_cache_bytes_ they split its cached rows for the scores in between (the same bits).
  void attend_few(int64_t layer, const LayerWeights& weights, const std::vector<AttentionTask>& tasks,
                  const AttentionInputs& inputs, const KvCache& cache, float* out);
  // Head `head`'s q_nope · W_uk for each of `tokens` queries (kv_lora_rank numbers each), and its
  // attention-weighted latents · W_uvᵀ (v numbers each): through kv_b_proj's q8_0 copies where the
  // weights have them, else its rows. A token's bits do not depend on the others'.
  void absorb_queries(const LayerWeights& weights, int64_t head, const float* const* queries,
                      float* const* absorbed, int64_t tokens) const;
  void expand_outputs(const LayerWeights& weights, int64_t head, const float* const* latents,
                      float* const* outputs, int64_t tokens) const;
  // Every head of tasks[0 .. count), on one thread.
  void attend_heads(int64_t layer, const LayerWeights& weights, const AttentionTask* tasks, int64_t count,
                    const AttentionInputs& inputs, const KvCache& cache, float* scratch, float* out) const;

  const ModelConfig& config_;
  ThreadPool& pool_;
  const bool materialized_prefill_;
  const int64_t expansion_budget_bytes_;
  const int64_t one_pass_cache_bytes_;
  ThreadScratch scratch_;
  AlignedVector<float> latents_;   // [context, rank + rope]: the cached rows as f32
  AlignedVector<float> expanded_;  // [context, group * (nope + v)]: kv_b_proj of the latents, a head group
  AlignedVector<float> keys_;      // [group, nope + rope, context]: the group's keys, transposed per head
  AlignedVector<float> values_;    // [group, context, v]: the group's values, each head contiguous
  // attend_few's buffers, shared by the threads, per task: cached row pointers [context], scores
  // [heads, context], absorbed queries [heads, rank + rope] and attention-weighted latents [heads, rank].
  std::vector<const uint8_t*> few_rows_;
  AlignedVector<float> few_scores_, few_absorbed_, few_latent_out_;
};

}  // namespace cpm

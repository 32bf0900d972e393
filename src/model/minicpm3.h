// The MiniCPM3 forward pass over a batch of sequences: muP-scaled embedding, L decoder layers of
// multi-head latent attention and a SiLU-gated MLP with scaled residuals, the final norm, and lm_head
// on the hidden state divided by hidden_size / dim_model_base.
//
// Under tensor parallelism every rank runs forward() with the same batch on its slices: it owns some
// attention heads (o_proj then gives a partial sum), some MLP channels (down_proj likewise) and some
// vocabulary rows. Three sums over the group (embedding, after o_proj, after down_proj) and one
// gather of the logits make every rank's hidden state and logits those of the whole model.
//
// Under data-parallel attention (ModelOptions::dp_attention) each rank of the group is also a DP
// rank with requests and a KV cache of its own: it holds every attention head and runs attention
// only for its own batch, then the attention outputs of all ranks are gathered so that every rank
// holds the hidden states of all rows for the split MLP, embedding and lm_head.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_vector.h"
#include "core/communicator.h"
#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "model/attention_backend.h"
#include "model/forward_batch.h"
#include "model/kv_cache.h"
#include "model/rotary.h"
#include "model/weights.h"

namespace cpm {

struct ModelOptions {
  int64_t context_length = 0;  // 0: max_position_embeddings
  std::string attention_backend = "latent";
  // Tensor parallelism: the group whose ranks hold the other slices of the weights (their
  // TensorShard). Required when the weights are a shard; null for the whole model.
  Communicator* tensor_group = nullptr;
  // Data-parallel attention over tensor_group: the weights must then keep all heads
  // (WeightLoadOptions::dp_attention).
  bool dp_attention = false;
  // Every token takes one numeric path (the latent backend's absorbed one), so a request's logits are
  // bitwise the same alone or batched, chunked or not, with a cached prefix or after preemption.
  // Without it the latent backend computes long prefill chunks with per-head K and V where that is
  // cheaper (latent_attention.h), and float weights multiply batches of 48 rows or more in
  // SummationOrder::kFastest (kernels/matmul.h): faster prefill, with bits that depend on where chunks
  // start and how many rows share a step.
  bool deterministic_inference = false;
  // Prefill products with bf16 weights round the activations to bf16 (SummationOrder::kFastestBf16),
  // where the CPU has AVX512_BF16: faster bf16 prefill, logits moved by the rounding. Not with
  // deterministic_inference.
  bool bf16_prefill = false;
};

class MiniCPM3 {
 public:
  MiniCPM3(std::shared_ptr<const ModelWeights> weights, const ModelOptions& options, ThreadPool& pool);

  // The whole model's config (also under tensor parallelism).
  const ModelConfig& config() const { return weights_->config(); }
  const TensorShard& shard() const { return weights_->shard(); }
  const ModelWeights& weights() const { return *weights_; }
  int64_t context_length() const { return context_length_; }
  const AttentionBackend& attention() const { return *attention_; }
  const RotaryEmbedding& rotary() const { return rotary_; }
  ThreadPool& pool() const { return pool_; }

  // A cache for this model's attention backend holding `num_slots` tokens.
  std::unique_ptr<KvCache> make_cache(int64_t num_slots, DType dtype) const;

  // Runs one step. logits receives [batch.logit_rows.size(), vocab_size]. Throws cpm::Error when the
  // batch is inconsistent (token ids out of range, positions past the context length). Under
  // data-parallel attention the batch is DP rank 0's and the other DP ranks have none.
  void forward(const ForwardBatch& batch, KvCache& cache, std::vector<float>* logits);

  // Data-parallel attention: DP ranks in the group (1 without it).
  int data_parallel_size() const { return dp_attention_ ? group_->size() : 1; }
  bool deterministic_inference() const { return deterministic_inference_; }
  bool bf16_prefill() const { return matmul_order_ == SummationOrder::kFastestBf16; }
  // One data-parallel step: batches[r] is DP rank r's (empty ones allowed), caches[r] its cache. This
  // rank runs attention for batches[rank] on *caches[rank] (null only when that batch has no
  // sequences); caches of other ranks, when given, are only checked against their slots. logits
  // receives every batch's logit rows, batch after batch. Every rank must call it with the same
  // batches.
  void forward_data_parallel(const std::vector<ForwardBatch>& batches, const std::vector<KvCache*>& caches,
                             std::vector<float>* logits);

  // Called by forward() and forward_data_parallel() with every step once it is validated, before any
  // computation: how the leader of a tensor-parallel group tells the other ranks which step to run.
  // Plain tensor parallelism passes one batch and its cache; data-parallel attention one per DP rank.
  using StepListener = std::function<void(const std::vector<const ForwardBatch*>& batches,
                                          const std::vector<const KvCache*>& caches)>;
  void set_step_listener(StepListener listener) { step_listener_ = std::move(listener); }

 private:
  void validate(const ForwardBatch& batch, const KvCache* cache) const;
  void embed(const std::vector<int32_t>& token_ids);
  // Attention of `batch`'s rows, whose hidden states start at `input`; o_proj's (partial, under
  // plain tensor parallelism) output goes to `out`, [rows, hidden_size].
  void attention_rows(int64_t layer, const ForwardBatch& batch, KvCache& cache, const float* input,
                      float* out);
  void attention_block(int64_t layer, const ForwardBatch& batch, KvCache& cache);
  void mlp_block(int64_t layer, int64_t rows);
  void apply_rotary(const ForwardBatch& batch);
  void compute_logits(const std::vector<int64_t>& logit_rows, std::vector<float>* logits);
  void compute(const ForwardBatch& batch, KvCache& cache, std::vector<float>* logits);
  void compute_data_parallel(const std::vector<ForwardBatch>& batches, KvCache* cache,
                             std::vector<float>* logits);
  // Sizes the activation buffers: `rows` through the MLP, `attention_rows` through attention.
  void reserve_activations(int64_t rows, int64_t attention_rows, int64_t logit_rows);
  // Gathers every DP rank's attention output (this rank's `rows` rows in local_rows_) and adds each
  // to its rows of the residual stream.
  void gather_attention(const std::vector<int64_t>& first_rows, float residual_scale);
  // Runs `work`; an exception inside a step of a group aborts the group.
  template <typename Work>
  void run_step(const Work& work);
  // Sums partial results over the tensor-parallel group (nothing to do for the whole model).
  void sum_over_group(AlignedVector<float>& values, int64_t count);

  std::shared_ptr<const ModelWeights> weights_;
  // config() with this rank's number of heads and intermediate channels: the shapes of its slices.
  ModelConfig local_config_;
  Communicator* group_;
  StepListener step_listener_;
  int64_t context_length_;
  ThreadPool& pool_;
  RotaryEmbedding rotary_;
  std::unique_ptr<AttentionBackend> attention_;
  // Activations of the current step, reused across steps.
  AlignedVector<float> hidden_, normed_, q_low_rank_, queries_, compressed_, attention_out_, projected_;
  AlignedVector<float> gate_, up_;
  AlignedVector<float> local_logits_, gathered_logits_;  // tensor parallelism only
  AlignedVector<float> local_rows_, gathered_rows_;      // data-parallel attention only
  bool dp_attention_ = false;
  bool deterministic_inference_ = false;
  SummationOrder matmul_order_ = SummationOrder::kBatchInvariant;  // kFastest(Bf16) unless deterministic
};

}  // namespace cpm

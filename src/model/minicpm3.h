// The MiniCPM3 forward pass over a batch of sequences: muP-scaled embedding, L decoder layers of
// multi-head latent attention and a SiLU-gated MLP with scaled residuals, the final norm, and lm_head
// on the hidden state divided by hidden_size / dim_model_base.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/attention_backend.h"
#include "model/forward_batch.h"
#include "model/kv_cache.h"
#include "model/rotary.h"
#include "model/weights.h"

namespace cpm {

struct ModelOptions {
  int64_t context_length = 0;  // 0: max_position_embeddings
  std::string attention_backend = "latent";
};

class MiniCPM3 {
 public:
  MiniCPM3(std::shared_ptr<const ModelWeights> weights, const ModelOptions& options, ThreadPool& pool);

  const ModelConfig& config() const { return weights_->config(); }
  const ModelWeights& weights() const { return *weights_; }
  int64_t context_length() const { return context_length_; }
  const AttentionBackend& attention() const { return *attention_; }
  const RotaryEmbedding& rotary() const { return rotary_; }
  ThreadPool& pool() const { return pool_; }

  // A cache for this model's attention backend holding `num_slots` tokens.
  std::unique_ptr<KvCache> make_cache(int64_t num_slots, DType dtype) const;

  // Runs one step. logits receives [batch.logit_rows.size(), vocab_size]. Throws cpm::Error when the
  // batch is inconsistent (token ids out of range, positions past the context length).
  void forward(const ForwardBatch& batch, KvCache& cache, std::vector<float>* logits);

 private:
  void validate(const ForwardBatch& batch, const KvCache& cache) const;
  void embed(const ForwardBatch& batch);
  void attention_block(int64_t layer, const ForwardBatch& batch, KvCache& cache);
  void mlp_block(int64_t layer, int64_t rows);
  void apply_rotary(const ForwardBatch& batch);
  void compute_logits(const ForwardBatch& batch, std::vector<float>* logits);

  std::shared_ptr<const ModelWeights> weights_;
  int64_t context_length_;
  ThreadPool& pool_;
  RotaryEmbedding rotary_;
  std::unique_ptr<AttentionBackend> attention_;
  // Activations of the current step, reused across steps.
  std::vector<float> hidden_, normed_, q_low_rank_, queries_, compressed_, attention_out_, projected_;
  std::vector<float> gate_, up_;
};

}  // namespace cpm

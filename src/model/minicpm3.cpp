#include "model/minicpm3.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <iostream>

#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/vector_ops.h"

namespace cpm {

namespace {
// MiniCPM's modeling code and transformers build q_a_layernorm and kv_a_layernorm with the RMSNorm
// default epsilon, not rms_norm_eps.
constexpr float kLatentNormEps = 1e-6f;

void rms_norm_rows(const float* x, int64_t rows, int64_t stride, const std::vector<float>& weight, float eps,
                   float* out, int64_t out_stride) {
  const int64_t n = static_cast<int64_t>(weight.size());
  for (int64_t r = 0; r < rows; ++r) rms_norm(x + r * stride, weight.data(), eps, n, out + r * out_stride);
}

// The config as seen by one shard: its heads and MLP channels only (vocab_size stays whole).
ModelConfig shard_config(const ModelConfig& config, const TensorShard& shard) {
  ModelConfig local = config;
  local.num_attention_heads = shard.heads.size();
  local.intermediate_size = shard.intermediate.size();
  return local;
}
}  // namespace

MiniCPM3::MiniCPM3(std::shared_ptr<const ModelWeights> weights, const ModelOptions& options, ThreadPool& pool)
    : weights_(std::move(weights)),
      local_config_(shard_config(weights_->config(), weights_->shard())),
      group_(options.tensor_group),
      context_length_(options.context_length > 0 ? options.context_length
                                                 : weights_->config().max_position_embeddings),
      pool_(pool),
      rotary_(weights_->config(), context_length_),
      attention_(make_attention_backend(options.attention_backend, local_config_, pool)) {
  if (options.context_length < 0) fail("--context-length must be positive, got ", options.context_length);
  const TensorShard& shard = weights_->shard();
  if (group_ != nullptr && (group_->size() != shard.size || group_->rank() != shard.rank)) {
    fail("internal: weights are shard ", shard.rank, " of ", shard.size, " but the group is rank ",
         group_->rank(), " of ", group_->size());
  }
  if (group_ == nullptr && !shard.is_whole()) fail("internal: sharded weights need a tensor-parallel group");
  // A single-rank group has nothing to exchange: skip the calls and keep the plain path.
  if (group_ != nullptr && group_->size() == 1) group_ = nullptr;
}

std::unique_ptr<KvCache> MiniCPM3::make_cache(int64_t num_slots, DType dtype) const {
  return std::make_unique<KvCache>(config().num_hidden_layers, num_slots, attention_->cache_row_width(),
                                   dtype);
}

void MiniCPM3::validate(const ForwardBatch& batch, const KvCache& cache) const {
  const int64_t rows = batch.num_rows();
  int64_t expected_row = 0;
  for (const SequenceSpan& sequence : batch.sequences) {
    if (sequence.first_row != expected_row || sequence.num_new < 0 || sequence.num_cached < 0) {
      fail("internal: forward batch sequences are not laid out back to back");
    }
    expected_row += sequence.num_new;
    if (sequence.num_cached + sequence.num_new > context_length_) {
      fail("sequence of ", sequence.num_cached + sequence.num_new, " tokens exceeds the context length ",
           context_length_);
    }
    for (int64_t i = 0; i < sequence.num_cached + sequence.num_new; ++i) {
      if (sequence.slots[i] < 0 || sequence.slots[i] >= cache.num_slots())
        fail("internal: cache slot out of range");
    }
  }
  if (expected_row != rows)
    fail("internal: forward batch has ", rows, " tokens but its sequences cover ", expected_row);
  for (int32_t id : batch.token_ids) {
    if (id < 0 || id >= config().vocab_size)
      fail("token id ", id, " is outside the vocabulary [0, ", config().vocab_size, ")");
  }
  for (int64_t row : batch.logit_rows) {
    if (row < 0 || row >= rows) fail("internal: logit row ", row, " outside the batch");
  }
}

void MiniCPM3::embed(const ForwardBatch& batch) {
  const int64_t d = config().hidden_size, rows = batch.num_rows();
  const float scale = static_cast<float>(config().scale_emb);
  const IndexRange vocab = shard().vocab;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = hidden_.data() + r * d;
    // A token outside this rank's vocabulary rows contributes zeros to the sum over the group.
    if (!vocab.contains(batch.token_ids[r])) {
      std::fill(row, row + d, 0.0f);
      continue;
    }
    load_row(weights_->embed_tokens(), batch.token_ids[r] - vocab.begin, row);
    for (int64_t i = 0; i < d; ++i) row[i] *= scale;
  }
  sum_over_group(hidden_, rows * d);
}

void MiniCPM3::sum_over_group(std::vector<float>& values, int64_t count) {
  if (group_ != nullptr) group_->all_reduce_sum(values.data(), count);
}

void MiniCPM3::apply_rotary(const ForwardBatch& batch) {
  const ModelConfig& c = local_config_;
  const int64_t heads = c.num_attention_heads, qk = c.qk_head_dim(),
                width = c.kv_lora_rank + c.qk_rope_head_dim;
  for (const SequenceSpan& sequence : batch.sequences) {
    for (int64_t i = 0; i < sequence.num_new; ++i) {
      const int64_t r = sequence.first_row + i, position = sequence.num_cached + i;
      rotary_.apply(position, queries_.data() + r * heads * qk + c.qk_nope_head_dim, heads, qk);
      rotary_.apply(position, compressed_.data() + r * width + c.kv_lora_rank, 1, width);
    }
  }
}

void MiniCPM3::attention_block(int64_t layer, const ForwardBatch& batch, KvCache& cache) {
  const ModelConfig& c = config();
  const LayerWeights& w = weights_->layers()[layer];
  const int64_t rows = batch.num_rows(), d = c.hidden_size;
  const int64_t width = c.kv_lora_rank + c.qk_rope_head_dim;
  const float eps = static_cast<float>(c.rms_norm_eps);
  rms_norm_rows(hidden_.data(), rows, d, w.input_layernorm, eps, normed_.data(), d);
  matmul(pool_, normed_.data(), rows, w.q_a_proj, q_low_rank_.data());
  rms_norm_rows(q_low_rank_.data(), rows, c.q_lora_rank, w.q_a_layernorm, kLatentNormEps, q_low_rank_.data(),
                c.q_lora_rank);
  matmul(pool_, q_low_rank_.data(), rows, w.q_b_proj, queries_.data());
  matmul(pool_, normed_.data(), rows, w.kv_a_proj_with_mqa, compressed_.data());
  rms_norm_rows(compressed_.data(), rows, width, w.kv_a_layernorm, kLatentNormEps, compressed_.data(), width);
  apply_rotary(batch);
  attention_->attend(layer, w, batch, AttentionInputs{queries_.data(), compressed_.data(), width}, cache,
                     attention_out_.data());
  matmul(pool_, attention_out_.data(), rows, w.o_proj, projected_.data());
  sum_over_group(projected_, rows * d);
  scale_add(projected_.data(), static_cast<float>(c.residual_scale()), hidden_.data(), rows * d);
}

void MiniCPM3::mlp_block(int64_t layer, int64_t rows) {
  const ModelConfig& c = local_config_;
  const LayerWeights& w = weights_->layers()[layer];
  const int64_t d = c.hidden_size;
  rms_norm_rows(hidden_.data(), rows, d, w.post_attention_layernorm, static_cast<float>(c.rms_norm_eps),
                normed_.data(), d);
  matmul(pool_, normed_.data(), rows, w.gate_proj, gate_.data());
  matmul(pool_, normed_.data(), rows, w.up_proj, up_.data());
  silu_mul(gate_.data(), up_.data(), rows * c.intermediate_size);
  matmul(pool_, gate_.data(), rows, w.down_proj, projected_.data());
  sum_over_group(projected_, rows * d);
  scale_add(projected_.data(), static_cast<float>(c.residual_scale()), hidden_.data(), rows * d);
}

void MiniCPM3::compute_logits(const ForwardBatch& batch, std::vector<float>* logits) {
  const ModelConfig& c = config();
  const int64_t d = c.hidden_size, count = static_cast<int64_t>(batch.logit_rows.size());
  const float inverse_divisor = static_cast<float>(1.0 / c.logit_divisor());
  for (int64_t i = 0; i < count; ++i) {
    float* out = normed_.data() + i * d;
    rms_norm(hidden_.data() + batch.logit_rows[i] * d, weights_->norm().data(),
             static_cast<float>(c.rms_norm_eps), d, out);
    for (int64_t k = 0; k < d; ++k) out[k] *= inverse_divisor;
  }
  logits->resize(count * c.vocab_size);
  if (group_ == nullptr) {
    matmul(pool_, normed_.data(), count, weights_->lm_head(), logits->data());
    return;
  }
  // Each rank computes its vocabulary columns; the gather returns them rank after rank, so they
  // are interleaved back into whole rows.
  const int64_t part = shard().vocab.size(), ranks = shard().size;
  local_logits_.resize(count * part);
  gathered_logits_.resize(ranks * count * part);
  matmul(pool_, normed_.data(), count, weights_->lm_head(), local_logits_.data());
  group_->all_gather(local_logits_.data(), count * part * static_cast<int64_t>(sizeof(float)),
                     gathered_logits_.data());
  for (int64_t rank = 0; rank < ranks; ++rank) {
    for (int64_t i = 0; i < count; ++i) {
      std::memcpy(logits->data() + i * c.vocab_size + rank * part,
                  gathered_logits_.data() + (rank * count + i) * part, part * sizeof(float));
    }
  }
}

void MiniCPM3::forward(const ForwardBatch& batch, KvCache& cache, std::vector<float>* logits) {
  validate(batch, cache);
  if (step_listener_) step_listener_(batch, cache);
  if (group_ == nullptr) {
    compute(batch, cache, logits);
    return;
  }
  try {
    compute(batch, cache, logits);
  } catch (const std::exception& error) {
    // The other ranks are inside this step's collectives and would wait for this one forever.
    std::cerr << str_cat("error (rank ", group_->rank(), ", inside a tensor-parallel step): ", error.what(),
                         "\n")
              << std::flush;
    group_->abort(1);
  }
}

void MiniCPM3::compute(const ForwardBatch& batch, KvCache& cache, std::vector<float>* logits) {
  const ModelConfig& c = local_config_;
  const int64_t rows = batch.num_rows();
  const int64_t heads = c.num_attention_heads;
  // normed_ also holds the final-norm rows for logits, hence the max.
  hidden_.resize(rows * c.hidden_size);
  normed_.resize(std::max(rows, static_cast<int64_t>(batch.logit_rows.size())) * c.hidden_size);
  q_low_rank_.resize(rows * c.q_lora_rank);
  queries_.resize(rows * heads * c.qk_head_dim());
  compressed_.resize(rows * (c.kv_lora_rank + c.qk_rope_head_dim));
  attention_out_.resize(rows * heads * c.v_head_dim);
  projected_.resize(rows * c.hidden_size);
  gate_.resize(rows * c.intermediate_size);
  up_.resize(rows * c.intermediate_size);
  embed(batch);
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    attention_block(layer, batch, cache);
    mlp_block(layer, rows);
  }
  compute_logits(batch, logits);
}

}  // namespace cpm

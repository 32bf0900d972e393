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
      attention_(make_attention_backend(options.attention_backend, local_config_, pool,
                                        !options.deterministic_inference)) {
  if (options.context_length < 0) fail("--context-length must be positive, got ", options.context_length);
  const TensorShard& shard = weights_->shard();
  if (group_ != nullptr && (group_->size() != shard.size || group_->rank() != shard.rank)) {
    fail("internal: weights are shard ", shard.rank, " of ", shard.size, " but the group is rank ",
         group_->rank(), " of ", group_->size());
  }
  if (group_ == nullptr && !shard.is_whole()) fail("internal: sharded weights need a tensor-parallel group");
  // A single-rank group has nothing to exchange: skip the calls and keep the plain path.
  if (group_ != nullptr && group_->size() == 1) group_ = nullptr;
  dp_attention_ = options.dp_attention && group_ != nullptr;
  deterministic_inference_ = options.deterministic_inference;
  if (options.bf16_prefill && deterministic_inference_) {
    fail(
        "bf16 prefill rounds activations only in the fast summation order: it cannot be combined with "
        "deterministic inference");
  }
  matmul_order_ = deterministic_inference_ ? SummationOrder::kBatchInvariant
                  : options.bf16_prefill   ? SummationOrder::kFastestBf16
                                           : SummationOrder::kFastest;
  if (dp_attention_ && shard.heads.size() != config().num_attention_heads)
    fail("internal: data-parallel attention needs every attention head on every rank");
}

std::unique_ptr<KvCache> MiniCPM3::make_cache(int64_t num_slots, DType dtype) const {
  return std::make_unique<KvCache>(config().num_hidden_layers, num_slots, attention_->cache_row_width(),
                                   dtype);
}

// Without a cache (another DP rank's batch on a follower) the slots are not checked.
void MiniCPM3::validate(const ForwardBatch& batch, const KvCache* cache) const {
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
    for (int64_t i = 0; cache != nullptr && i < sequence.num_cached + sequence.num_new; ++i) {
      if (sequence.slots[i] < 0 || sequence.slots[i] >= cache->num_slots())
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

void MiniCPM3::embed(const std::vector<int32_t>& token_ids) {
  const int64_t d = config().hidden_size, rows = static_cast<int64_t>(token_ids.size());
  const float scale = static_cast<float>(config().scale_emb);
  const IndexRange vocab = shard().vocab;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = hidden_.data() + r * d;
    // A token outside this rank's vocabulary rows contributes zeros to the sum over the group.
    if (!vocab.contains(token_ids[r])) {
      std::fill(row, row + d, 0.0f);
      continue;
    }
    load_row(weights_->embed_tokens(), token_ids[r] - vocab.begin, row);
    for (int64_t i = 0; i < d; ++i) row[i] *= scale;
  }
  sum_over_group(hidden_, rows * d);
}

void MiniCPM3::sum_over_group(AlignedVector<float>& values, int64_t count) {
  // Every rank has the same count (the same batches), so with none they all skip the call.
  if (group_ != nullptr && count > 0) group_->all_reduce_sum(values.data(), count);
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

void MiniCPM3::attention_rows(int64_t layer, const ForwardBatch& batch, KvCache& cache, const float* input,
                              float* out) {
  const ModelConfig& c = config();
  const LayerWeights& w = weights_->layers()[layer];
  const int64_t rows = batch.num_rows(), d = c.hidden_size;
  const int64_t width = c.kv_lora_rank + c.qk_rope_head_dim;
  const float eps = static_cast<float>(c.rms_norm_eps);
  rms_norm_rows(input, rows, d, w.input_layernorm, eps, normed_.data(), d);
  matmul_same_input(pool_, normed_.data(), rows, d,
                    {{&w.q_a_proj, q_low_rank_.data(), w.q_a_proj.rows},
                     {&w.kv_a_proj_with_mqa, compressed_.data(), w.kv_a_proj_with_mqa.rows}},
                    matmul_order_, {&w.q_b_proj});
  rms_norm_rows(q_low_rank_.data(), rows, c.q_lora_rank, w.q_a_layernorm, kLatentNormEps, q_low_rank_.data(),
                c.q_lora_rank);
  matmul(pool_, q_low_rank_.data(), rows, w.q_b_proj, queries_.data(), matmul_order_,
         {&attention_->first_weights(w)});
  rms_norm_rows(compressed_.data(), rows, width, w.kv_a_layernorm, kLatentNormEps, compressed_.data(), width);
  apply_rotary(batch);
  attention_->attend(layer, w, batch,
                     AttentionInputs{queries_.data(), compressed_.data(), width, matmul_order_, &w.o_proj},
                     cache, attention_out_.data());
  matmul(pool_, attention_out_.data(), rows, w.o_proj, out, matmul_order_, {&w.gate_proj, &w.up_proj});
}

void MiniCPM3::attention_block(int64_t layer, const ForwardBatch& batch, KvCache& cache) {
  const int64_t rows = batch.num_rows(), d = config().hidden_size;
  attention_rows(layer, batch, cache, hidden_.data(), projected_.data());
  sum_over_group(projected_, rows * d);
  scale_add(projected_.data(), static_cast<float>(config().residual_scale()), hidden_.data(), rows * d);
}

void MiniCPM3::mlp_block(int64_t layer, int64_t rows) {
  const ModelConfig& c = local_config_;
  const LayerWeights& w = weights_->layers()[layer];
  const int64_t d = c.hidden_size;
  rms_norm_rows(hidden_.data(), rows, d, w.post_attention_layernorm, static_cast<float>(c.rms_norm_eps),
                normed_.data(), d);
  matmul_same_input(
      pool_, normed_.data(), rows, d,
      {{&w.gate_proj, gate_.data(), w.gate_proj.rows}, {&w.up_proj, up_.data(), w.up_proj.rows}},
      matmul_order_, {&w.down_proj});
  silu_mul(gate_.data(), up_.data(), rows * c.intermediate_size);
  // Next: the next layer's first product, or lm_head after the last.
  if (layer + 1 < c.num_hidden_layers) {
    const LayerWeights& next = weights_->layers()[layer + 1];
    matmul(pool_, gate_.data(), rows, w.down_proj, projected_.data(), matmul_order_,
           {&next.q_a_proj, &next.kv_a_proj_with_mqa});
  } else {
    matmul(pool_, gate_.data(), rows, w.down_proj, projected_.data(), matmul_order_, {&weights_->lm_head()});
  }
  sum_over_group(projected_, rows * d);
  scale_add(projected_.data(), static_cast<float>(c.residual_scale()), hidden_.data(), rows * d);
}

void MiniCPM3::compute_logits(const std::vector<int64_t>& logit_rows, std::vector<float>* logits) {
  const ModelConfig& c = config();
  const int64_t d = c.hidden_size, count = static_cast<int64_t>(logit_rows.size());
  const float inverse_divisor = static_cast<float>(1.0 / c.logit_divisor());
  for (int64_t i = 0; i < count; ++i) {
    float* out = normed_.data() + i * d;
    rms_norm(hidden_.data() + logit_rows[i] * d, weights_->norm().data(), static_cast<float>(c.rms_norm_eps),
             d, out);
    for (int64_t k = 0; k < d; ++k) out[k] *= inverse_divisor;
  }
  logits->resize(count * c.vocab_size);
  const LayerWeights& first = weights_->layers().front();  // the next step's first product
  if (group_ == nullptr) {
    matmul(pool_, normed_.data(), count, weights_->lm_head(), logits->data(), matmul_order_,
           {&first.q_a_proj, &first.kv_a_proj_with_mqa});
    return;
  }
  if (count == 0) return;  // every rank sees the same count, so all of them skip the gather
  // Each rank computes its vocabulary columns; the gather returns them rank after rank, so they
  // are interleaved back into whole rows.
  const int64_t part = shard().vocab.size(), ranks = shard().size;
  local_logits_.resize(count * part);
  gathered_logits_.resize(ranks * count * part);
  matmul(pool_, normed_.data(), count, weights_->lm_head(), local_logits_.data(), matmul_order_,
         {&first.q_a_proj, &first.kv_a_proj_with_mqa});
  group_->all_gather(local_logits_.data(), count * part * static_cast<int64_t>(sizeof(float)),
                     gathered_logits_.data());
  for (int64_t rank = 0; rank < ranks; ++rank) {
    for (int64_t i = 0; i < count; ++i) {
      std::memcpy(logits->data() + i * c.vocab_size + rank * part,
                  gathered_logits_.data() + (rank * count + i) * part, part * sizeof(float));
    }
  }
}

template <typename Work>
void MiniCPM3::run_step(const Work& work) {
  if (group_ == nullptr) {
    work();
    return;
  }
  try {
    work();
  } catch (const std::exception& error) {
    // The other ranks are inside this step's collectives and would wait for this one forever.
    std::cerr << str_cat("error (rank ", group_->rank(), ", inside a tensor-parallel step): ", error.what(),
                         "\n")
              << std::flush;
    group_->abort(1);
  }
}

void MiniCPM3::forward(const ForwardBatch& batch, KvCache& cache, std::vector<float>* logits) {
  if (dp_attention_) {
    // DP rank 0's batch; the other DP ranks take part with none.
    std::vector<ForwardBatch> batches(group_->size());
    batches[0] = batch;
    std::vector<KvCache*> caches(group_->size(), nullptr);
    caches[0] = &cache;
    forward_data_parallel(batches, caches, logits);
    return;
  }
  validate(batch, &cache);
  if (step_listener_) step_listener_({&batch}, {&cache});
  run_step([&] { compute(batch, cache, logits); });
}

void MiniCPM3::forward_data_parallel(const std::vector<ForwardBatch>& batches,
                                     const std::vector<KvCache*>& caches, std::vector<float>* logits) {
  if (!dp_attention_) fail("internal: forward_data_parallel without data-parallel attention");
  const int ranks = group_->size(), rank = group_->rank();
  if (static_cast<int>(batches.size()) != ranks || static_cast<int>(caches.size()) != ranks)
    fail("internal: a data-parallel step needs one batch and one cache entry per DP rank");
  for (int r = 0; r < ranks; ++r) validate(batches[r], caches[r]);
  if (caches[rank] == nullptr && !batches[rank].sequences.empty())
    fail("internal: DP rank ", rank, " has a batch but no KV cache");
  if (step_listener_) {
    std::vector<const ForwardBatch*> batch_list;
    for (const ForwardBatch& batch : batches) batch_list.push_back(&batch);
    step_listener_(batch_list, std::vector<const KvCache*>(caches.begin(), caches.end()));
  }
  run_step([&] { compute_data_parallel(batches, caches[rank], logits); });
}

void MiniCPM3::reserve_activations(int64_t rows, int64_t attention_rows, int64_t logit_rows) {
  const ModelConfig& c = local_config_;
  const int64_t heads = c.num_attention_heads;
  hidden_.resize(rows * c.hidden_size);
  // normed_ also holds the final-norm rows for logits, hence the max.
  normed_.resize(std::max(rows, logit_rows) * c.hidden_size);
  q_low_rank_.resize(attention_rows * c.q_lora_rank);
  queries_.resize(attention_rows * heads * c.qk_head_dim());
  compressed_.resize(attention_rows * (c.kv_lora_rank + c.qk_rope_head_dim));
  attention_out_.resize(attention_rows * heads * c.v_head_dim);
  projected_.resize(rows * c.hidden_size);
  gate_.resize(rows * c.intermediate_size);
  up_.resize(rows * c.intermediate_size);
}

void MiniCPM3::compute(const ForwardBatch& batch, KvCache& cache, std::vector<float>* logits) {
  const int64_t rows = batch.num_rows();
  reserve_activations(rows, rows, static_cast<int64_t>(batch.logit_rows.size()));
  embed(batch.token_ids);
  for (int64_t layer = 0; layer < local_config_.num_hidden_layers; ++layer) {
    attention_block(layer, batch, cache);
    mlp_block(layer, rows);
  }
  compute_logits(batch.logit_rows, logits);
}

// Every rank holds the residual stream of all ranks' rows (the batches laid out rank after rank):
// embedding, MLP and lm_head run over all of them split by channels as under tensor parallelism,
// and attention runs over this rank's rows only, with its own cache and every head.
void MiniCPM3::compute_data_parallel(const std::vector<ForwardBatch>& batches, KvCache* cache,
                                     std::vector<float>* logits) {
  const int rank = group_->rank();
  std::vector<int64_t> first_rows = {0};
  std::vector<int32_t> token_ids;
  std::vector<int64_t> logit_rows;
  for (const ForwardBatch& batch : batches) {
    token_ids.insert(token_ids.end(), batch.token_ids.begin(), batch.token_ids.end());
    for (int64_t row : batch.logit_rows) logit_rows.push_back(first_rows.back() + row);
    first_rows.push_back(first_rows.back() + batch.num_rows());
  }
  const ForwardBatch& own = batches[rank];
  const int64_t rows = first_rows.back(), d = local_config_.hidden_size;
  reserve_activations(rows, own.num_rows(), static_cast<int64_t>(logit_rows.size()));
  embed(token_ids);
  const float residual_scale = static_cast<float>(local_config_.residual_scale());
  for (int64_t layer = 0; layer < local_config_.num_hidden_layers; ++layer) {
    // A rank without a cache has no sequences, so no rows: its attention output is empty.
    if (cache != nullptr) {
      local_rows_.resize(std::max<int64_t>(own.num_rows(), 1) * d);
      attention_rows(layer, own, *cache, hidden_.data() + first_rows[rank] * d, local_rows_.data());
    }
    gather_attention(first_rows, residual_scale);
    mlp_block(layer, rows);
  }
  compute_logits(logit_rows, logits);
}

// An all-gather of equal parts, so each rank's rows are padded to the largest rank's. All ranks
// know every batch, so they agree on the padding, including when no rank has any rows.
void MiniCPM3::gather_attention(const std::vector<int64_t>& first_rows, float residual_scale) {
  const int ranks = group_->size();
  const int64_t d = local_config_.hidden_size;
  int64_t widest = 0;
  for (int r = 0; r < ranks; ++r) widest = std::max(widest, first_rows[r + 1] - first_rows[r]);
  if (widest == 0) return;
  local_rows_.resize(widest * d);
  gathered_rows_.resize(ranks * widest * d);
  group_->all_gather(local_rows_.data(), widest * d * static_cast<int64_t>(sizeof(float)),
                     gathered_rows_.data());
  for (int r = 0; r < ranks; ++r) {
    scale_add(gathered_rows_.data() + r * widest * d, residual_scale, hidden_.data() + first_rows[r] * d,
              (first_rows[r + 1] - first_rows[r]) * d);
  }
}

}  // namespace cpm

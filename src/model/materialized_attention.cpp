#include "model/materialized_attention.h"

#include <cmath>
#include <cstring>

#include "kernels/matmul.h"
#include "kernels/vector_ops.h"

namespace cpm {

MaterializedAttention::MaterializedAttention(const ModelConfig& config, ThreadPool& pool)
    : config_(config), pool_(pool) {}

// Row layout: keys of every head ([nope | rope] each), then values of every head.
int64_t MaterializedAttention::cache_row_width() const {
  return config_.num_attention_heads * (config_.qk_head_dim() + config_.v_head_dim);
}

void MaterializedAttention::store_new_rows(int64_t layer, const LayerWeights& weights,
                                           const ForwardBatch& batch, const AttentionInputs& inputs,
                                           KvCache& cache) {
  const int64_t rows = batch.num_rows(), heads = config_.num_attention_heads;
  const int64_t nope = config_.qk_nope_head_dim, rope = config_.qk_rope_head_dim, v = config_.v_head_dim;
  const int64_t rank = config_.kv_lora_rank, qk = config_.qk_head_dim();
  expanded_.resize(rows * heads * (nope + v));
  matmul(pool_, inputs.compressed, rows, inputs.compressed_stride, weights.kv_b_proj, expanded_.data(),
         heads * (nope + v));
  std::vector<float> row(cache_row_width());
  for (const SequenceSpan& sequence : batch.sequences) {
    for (int64_t i = 0; i < sequence.num_new; ++i) {
      const int64_t r = sequence.first_row + i;
      const float* kv = expanded_.data() + r * heads * (nope + v);
      const float* k_pe = inputs.compressed + r * inputs.compressed_stride + rank;
      for (int64_t j = 0; j < heads; ++j) {
        std::memcpy(row.data() + j * qk, kv + j * (nope + v), nope * sizeof(float));
        std::memcpy(row.data() + j * qk + nope, k_pe, rope * sizeof(float));
        std::memcpy(row.data() + heads * qk + j * v, kv + j * (nope + v) + nope, v * sizeof(float));
      }
      cache.write_row(layer, sequence.slots[sequence.num_cached + i], row.data());
    }
  }
}

void MaterializedAttention::attend(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
                                   const AttentionInputs& inputs, KvCache& cache, float* out) {
  store_new_rows(layer, weights, batch, inputs, cache);
  const int64_t heads = config_.num_attention_heads, qk = config_.qk_head_dim(), v = config_.v_head_dim;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(qk)));
  const std::vector<AttentionTask> tasks = attention_tasks(batch);
  int64_t longest = 0;
  for (const AttentionTask& task : tasks) longest = std::max(longest, task.position + 1);
  // Per thread: scores of one head over the context, plus one widened cache row.
  scratch_.reserve(pool_.num_threads(), longest + cache_row_width());
  pool_.parallel_for(static_cast<int64_t>(tasks.size()) * heads, 1,
                     [&](int thread, int64_t begin, int64_t end) {
                       float* scores = scratch_.get(thread);
                       float* row_buffer = scores + longest;
                       for (int64_t item = begin; item < end; ++item) {
                         const AttentionTask& task = tasks[item / heads];
                         const int64_t j = item % heads;
                         const float* query = inputs.queries + task.row * heads * qk + j * qk;
                         const int64_t context = task.position + 1;
                         for (int64_t s = 0; s < context; ++s) {
                           const float* cached = cache.read_row(layer, task.sequence->slots[s], row_buffer);
                           scores[s] = dot_f32(query, cached + j * qk, qk) * scale;
                         }
                         softmax(scores, context);
                         float* head_out = out + task.row * heads * v + j * v;
                         std::memset(head_out, 0, v * sizeof(float));
                         for (int64_t s = 0; s < context; ++s) {
                           const float* cached = cache.read_row(layer, task.sequence->slots[s], row_buffer);
                           scale_add(cached + heads * qk + j * v, scores[s], head_out, v);
                         }
                       }
                     });
}

}  // namespace cpm

#include "model/latent_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/attention_kernels.h"
#include "kernels/matmul.h"
#include "kernels/vector_ops.h"

namespace cpm {

LatentAttention::LatentAttention(const ModelConfig& config, ThreadPool& pool)
    : config_(config), pool_(pool) {}

void LatentAttention::attend(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
                             const AttentionInputs& inputs, KvCache& cache, float* out) {
  const int64_t width = cache_row_width();
  for (const SequenceSpan& sequence : batch.sequences) {
    for (int64_t i = 0; i < sequence.num_new; ++i) {
      const float* compressed = inputs.compressed + (sequence.first_row + i) * inputs.compressed_stride;
      cache.write_row(layer, sequence.slots[sequence.num_cached + i], compressed);
    }
  }
  const std::vector<AttentionTask> tasks = attention_tasks(batch);
  int64_t longest = 0;
  for (const AttentionTask& task : tasks) longest = std::max(longest, task.position + 1);
  // Few tokens (decode): split each token's heads over the threads; many: a few tokens per work item,
  // whose queries and outputs go through kv_b_proj together (each weight row widened once for all).
  // Either way every head's numbers are computed the same way.
  const int64_t heads = config_.num_attention_heads;
  const int64_t threads = pool_.num_threads();
  const int64_t count = static_cast<int64_t>(tasks.size());
  int64_t chunk = heads, group = std::min<int64_t>(kTokensPerItem, std::max<int64_t>(1, count / threads));
  if (count < threads) chunk = std::min(heads, ((heads + threads - 1) / threads + 3) / 4 * 4);
  const int64_t chunks_per_item = (heads + chunk - 1) / chunk;
  const int64_t items = (count + group - 1) / group * chunks_per_item;
  // Per thread: absorbed queries and latent outputs of its tokens and heads, one token's scores, and
  // the row pointers (+1: they start at the next pointer-aligned float).
  const int64_t pointers = longest + 2 * group;
  const int64_t pointer_floats = (pointers * static_cast<int64_t>(sizeof(void*)) + sizeof(float) - 1) /
                                     static_cast<int64_t>(sizeof(float)) +
                                 1;
  scratch_.reserve(pool_.num_threads(),
                   group * chunk * (width + config_.kv_lora_rank) + chunk * longest + pointer_floats);
  pool_.parallel_for_balanced(items, 1, [&](int thread, int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t first_head = (item % chunks_per_item) * chunk;
      const int64_t first_task = item / chunks_per_item * group;
      attend_heads(layer, weights, tasks.data() + first_task, std::min(group, count - first_task), first_head,
                   std::min(chunk, heads - first_head), inputs, cache, scratch_.get(thread), out);
    }
  });
}

void LatentAttention::attend_heads(int64_t layer, const LayerWeights& weights, const AttentionTask* tasks,
                                   int64_t count, int64_t first_head, int64_t num_heads,
                                   const AttentionInputs& inputs, const KvCache& cache, float* scratch,
                                   float* out) const {
  const int64_t heads = config_.num_attention_heads, nope = config_.qk_nope_head_dim;
  const int64_t rope = config_.qk_rope_head_dim, v = config_.v_head_dim, rank = config_.kv_lora_rank;
  const int64_t qk = nope + rope, width = rank + rope;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(qk)));
  int64_t longest = 0;
  for (int64_t t = 0; t < count; ++t) longest = std::max(longest, tasks[t].position + 1);
  float* absorbed = scratch;                                 // [count, num_heads, width]
  float* latent_out = absorbed + count * num_heads * width;  // [count, num_heads, rank]
  float* scores = latent_out + count * num_heads * rank;     // [num_heads, context]
  // The float count so far may be odd (a tensor-parallel rank may have 5 heads), so round up to where
  // a pointer may be stored.
  constexpr int64_t kFloatsPerPointer = sizeof(void*) / sizeof(float);
  const int64_t floats_before_pointers = (scores + num_heads * longest - scratch + kFloatsPerPointer - 1) /
                                         kFloatsPerPointer * kFloatsPerPointer;
  float* pointers = scratch + floats_before_pointers;
  const uint8_t** rows = reinterpret_cast<const uint8_t**>(pointers);  // [longest]
  const float** inputs_of =
      reinterpret_cast<const float**>(pointers + longest * kFloatsPerPointer);  // [count]
  float** outputs_of =
      reinterpret_cast<float**>(pointers + (longest + count) * kFloatsPerPointer);  // [count]

  // q_nope · W_uk puts each head's query in latent space; the rope part is used as is.
  for (int64_t g = 0; g < num_heads; ++g) {
    const int64_t j = first_head + g;
    for (int64_t t = 0; t < count; ++t) {
      inputs_of[t] = inputs.queries + tasks[t].row * heads * qk + j * qk;
      outputs_of[t] = absorbed + (t * num_heads + g) * width;
      std::memcpy(outputs_of[t] + rank, inputs_of[t] + nope, rope * sizeof(float));
    }
    combine_rows(weights.kv_b_proj, j * (nope + v), nope, inputs_of, outputs_of, count);
  }
  for (int64_t t = 0; t < count; ++t) {
    const int64_t context = tasks[t].position + 1;
    for (int64_t s = 0; s < context; ++s) rows[s] = cache.row_data(layer, tasks[t].sequence->slots[s]);
    const CachedRows cached{rows, context, cache.dtype()};
    attention_scores(absorbed + t * num_heads * width, num_heads, width, cached, scale, scores);
    for (int64_t g = 0; g < num_heads; ++g) softmax(scores + g * context, context);
    attention_weighted_sum(scores, num_heads, cached, rank, latent_out + t * num_heads * rank);
  }
  // Attention-weighted latents · W_uvᵀ give each head's value output.
  for (int64_t g = 0; g < num_heads; ++g) {
    const int64_t j = first_head + g;
    for (int64_t t = 0; t < count; ++t) {
      inputs_of[t] = latent_out + (t * num_heads + g) * rank;
      outputs_of[t] = out + tasks[t].row * heads * v + j * v;
    }
    dot_rows(weights.kv_b_proj, j * (nope + v) + nope, v, inputs_of, outputs_of, count);
  }
}

}  // namespace cpm

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
  // Few tokens (decode): split each token's heads over the threads; many: one token per work item.
  // Either way every head's numbers are computed the same way.
  const int64_t heads = config_.num_attention_heads;
  const int64_t threads = pool_.num_threads();
  int64_t chunk = heads;
  if (static_cast<int64_t>(tasks.size()) < threads)
    chunk = std::min(heads, ((heads + threads - 1) / threads + 3) / 4 * 4);
  const int64_t chunks_per_task = (heads + chunk - 1) / chunk;
  // Per thread: absorbed queries, scores and latent outputs of its heads, and the row pointers.
  // (+1: the pointers start at the next pointer-aligned float.)
  const int64_t pointer_floats =
      (longest * static_cast<int64_t>(sizeof(void*)) + sizeof(float) - 1) / sizeof(float) + 1;
  scratch_.reserve(pool_.num_threads(), chunk * (width + longest + config_.kv_lora_rank) + pointer_floats);
  pool_.parallel_for(
      static_cast<int64_t>(tasks.size()) * chunks_per_task, 1, [&](int thread, int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
          const int64_t first_head = (item % chunks_per_task) * chunk;
          attend_heads(layer, weights, tasks[item / chunks_per_task], first_head,
                       std::min(chunk, heads - first_head), inputs, cache, scratch_.get(thread), out);
        }
      });
}

void LatentAttention::attend_heads(int64_t layer, const LayerWeights& weights, const AttentionTask& task,
                                   int64_t first_head, int64_t num_heads, const AttentionInputs& inputs,
                                   const KvCache& cache, float* scratch, float* out) const {
  const int64_t heads = config_.num_attention_heads, nope = config_.qk_nope_head_dim;
  const int64_t rope = config_.qk_rope_head_dim, v = config_.v_head_dim, rank = config_.kv_lora_rank;
  const int64_t qk = nope + rope, width = rank + rope, context = task.position + 1;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(qk)));
  float* absorbed = scratch;                         // [num_heads, width]
  float* scores = absorbed + num_heads * width;      // [num_heads, context]
  float* latent_out = scores + num_heads * context;  // [num_heads, rank]
  // The float count so far is odd for an odd number of heads (a tensor-parallel rank may have 5), so
  // round up to where a pointer may be stored.
  constexpr int64_t kFloatsPerPointer = sizeof(void*) / sizeof(float);
  const int64_t floats_before_rows = (latent_out + num_heads * rank - scratch + kFloatsPerPointer - 1) /
                                     kFloatsPerPointer * kFloatsPerPointer;
  const uint8_t** rows = reinterpret_cast<const uint8_t**>(scratch + floats_before_rows);

  // q_nope · W_uk puts each head's query in latent space; the rope part is used as is.
  for (int64_t g = 0; g < num_heads; ++g) {
    const int64_t j = first_head + g;
    const float* query = inputs.queries + task.row * heads * qk + j * qk;
    float* q = absorbed + g * width;
    std::memset(q, 0, rank * sizeof(float));
    for (int64_t i = 0; i < nope; ++i) axpy_row(weights.kv_b_proj, j * (nope + v) + i, query[i], q);
    std::memcpy(q + rank, query + nope, rope * sizeof(float));
  }
  for (int64_t s = 0; s < context; ++s) rows[s] = cache.row_data(layer, task.sequence->slots[s]);
  const CachedRows cached{rows, context, cache.dtype()};
  attention_scores(absorbed, num_heads, width, cached, scale, scores);
  for (int64_t g = 0; g < num_heads; ++g) softmax(scores + g * context, context);
  attention_weighted_sum(scores, num_heads, cached, rank, latent_out);
  // Attention-weighted latents · W_uvᵀ give each head's value output.
  for (int64_t g = 0; g < num_heads; ++g) {
    const int64_t j = first_head + g;
    float* head_out = out + task.row * heads * v + j * v;
    for (int64_t i = 0; i < v; ++i)
      head_out[i] = dot_row(weights.kv_b_proj, j * (nope + v) + nope + i, latent_out + g * rank);
  }
}

}  // namespace cpm

#include "model/latent_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/attention_kernels.h"
#include "kernels/matmul.h"
#include "kernels/vector_ops.h"

namespace cpm {

LatentAttention::LatentAttention(const ModelConfig& config, ThreadPool& pool, bool materialized_prefill,
                                 int64_t expansion_budget_bytes, int64_t one_pass_cache_bytes)
    : config_(config),
      pool_(pool),
      materialized_prefill_(materialized_prefill),
      expansion_budget_bytes_(expansion_budget_bytes),
      one_pass_cache_bytes_(one_pass_cache_bytes) {}

void LatentAttention::attend(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
                             const AttentionInputs& inputs, KvCache& cache, float* out) {
  for (const SequenceSpan& sequence : batch.sequences) {
    for (int64_t i = 0; i < sequence.num_new; ++i) {
      const float* compressed = inputs.compressed + (sequence.first_row + i) * inputs.compressed_stride;
      cache.write_row(layer, sequence.slots[sequence.num_cached + i], compressed);
    }
  }
  ForwardBatch absorbed;  // only its sequences are read
  for (const SequenceSpan& sequence : batch.sequences) {
    if (materialized_prefill_ && prefers_materialized(sequence)) {
      attend_materialized(layer, weights, sequence, inputs, cache, out);
    } else {
      absorbed.sequences.push_back(sequence);
    }
  }
  attend_absorbed(layer, weights, absorbed, inputs, cache, out);
}

void LatentAttention::attend_absorbed(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
                                      const AttentionInputs& inputs, const KvCache& cache, float* out) {
  const int64_t width = cache_row_width();
  const std::vector<AttentionTask> tasks = attention_tasks(batch);
  if (tasks.empty()) return;
  int64_t longest = 0;
  for (const AttentionTask& task : tasks) longest = std::max(longest, task.position + 1);
  // Fewer tokens than threads (decode): attend_few. Many: a few tokens per work item, whose queries
  // and outputs go through kv_b_proj together (each weight row widened once for all). Either way
  // every head's numbers are computed the same way.
  const int64_t heads = config_.num_attention_heads;
  const int64_t threads = pool_.num_threads();
  const int64_t count = static_cast<int64_t>(tasks.size());
  if (count < threads) return attend_few(layer, weights, tasks, inputs, cache, out);
  const int64_t group = std::min<int64_t>(kTokensPerItem, std::max<int64_t>(1, count / threads));
  const int64_t items = (count + group - 1) / group;
  // Per thread: absorbed queries and latent outputs of its tokens' heads, one token's scores, and the
  // row pointers (+1: they start at the next pointer-aligned float).
  const int64_t pointers = longest + 2 * group;
  const int64_t pointer_floats = (pointers * static_cast<int64_t>(sizeof(void*)) + sizeof(float) - 1) /
                                     static_cast<int64_t>(sizeof(float)) +
                                 1;
  scratch_.reserve(pool_.num_threads(),
                   group * heads * (width + config_.kv_lora_rank) + heads * longest + pointer_floats);
  pool_.parallel_for_balanced(items, 1, [&](int thread, int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t first_task = item * group;
      attend_heads(layer, weights, tasks.data() + first_task, std::min(group, count - first_task), inputs,
                   cache, scratch_.get(thread), out);
    }
  });
}

void LatentAttention::attend_heads(int64_t layer, const LayerWeights& weights, const AttentionTask* tasks,
                                   int64_t count, const AttentionInputs& inputs, const KvCache& cache,
                                   float* scratch, float* out) const {
  const int64_t heads = config_.num_attention_heads, nope = config_.qk_nope_head_dim;
  const int64_t rope = config_.qk_rope_head_dim, v = config_.v_head_dim, rank = config_.kv_lora_rank;
  const int64_t qk = nope + rope, width = rank + rope;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(qk)));
  int64_t longest = 0;
  for (int64_t t = 0; t < count; ++t) longest = std::max(longest, tasks[t].position + 1);
  float* absorbed = scratch;                             // [count, heads, width]
  float* latent_out = absorbed + count * heads * width;  // [count, heads, rank]
  float* scores = latent_out + count * heads * rank;     // [heads, context]
  // The float count so far may be odd (a tensor-parallel rank may have 5 heads), so round up to where
  // a pointer may be stored.
  constexpr int64_t kFloatsPerPointer = sizeof(void*) / sizeof(float);
  const int64_t floats_before_pointers =
      (scores + heads * longest - scratch + kFloatsPerPointer - 1) / kFloatsPerPointer * kFloatsPerPointer;
  float* pointers = scratch + floats_before_pointers;
  const uint8_t** rows = reinterpret_cast<const uint8_t**>(pointers);  // [longest]
  const float** inputs_of =
      reinterpret_cast<const float**>(pointers + longest * kFloatsPerPointer);  // [count]
  float** outputs_of =
      reinterpret_cast<float**>(pointers + (longest + count) * kFloatsPerPointer);  // [count]

  // q_nope · W_uk puts each head's query in latent space; the rope part is used as is.
  for (int64_t j = 0; j < heads; ++j) {
    for (int64_t t = 0; t < count; ++t) {
      inputs_of[t] = inputs.queries + tasks[t].row * heads * qk + j * qk;
      outputs_of[t] = absorbed + (t * heads + j) * width;
      std::memcpy(outputs_of[t] + rank, inputs_of[t] + nope, rope * sizeof(float));
    }
    absorb_queries(weights, j, inputs_of, outputs_of, count);
  }
  for (int64_t t = 0; t < count; ++t) {
    const int64_t context = tasks[t].position + 1;
    for (int64_t s = 0; s < context; ++s) rows[s] = cache.row_data(layer, tasks[t].sequence->slots[s]);
    const CachedRows cached{rows, context, cache.dtype()};
    attention_scores(absorbed + t * heads * width, heads, width, cached, scale, scores);
    for (int64_t g = 0; g < heads; ++g) softmax(scores + g * context, context);
    attention_weighted_sum(scores, heads, cached, rank, latent_out + t * heads * rank);
  }
  // Attention-weighted latents · W_uvᵀ give each head's value output.
  for (int64_t j = 0; j < heads; ++j) {
    for (int64_t t = 0; t < count; ++t) {
      inputs_of[t] = latent_out + (t * heads + j) * rank;
      outputs_of[t] = out + tasks[t].row * heads * v + j * v;
    }
    expand_outputs(weights, j, inputs_of, outputs_of, count);
  }
}

void LatentAttention::attend_few(int64_t layer, const LayerWeights& weights,
                                 const std::vector<AttentionTask>& tasks, const AttentionInputs& inputs,
                                 const KvCache& cache, float* out) {
  const int64_t heads = config_.num_attention_heads, nope = config_.qk_nope_head_dim;
  const int64_t rope = config_.qk_rope_head_dim, v = config_.v_head_dim, rank = config_.kv_lora_rank;
  const int64_t qk = nope + rope, width = rank + rope;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(qk)));
  const int64_t count = static_cast<int64_t>(tasks.size()), threads = pool_.num_threads();
  // Each token's heads split in runs of whole 4-head groups, and its cached rows in equal parts.
  const int64_t chunk = std::min(heads, ((heads + threads - 1) / threads + 3) / 4 * 4);
  const int64_t chunks = (heads + chunk - 1) / chunk;
  std::vector<int64_t> first_row(count + 1, 0);  // into few_rows_; scores start at heads times that
  for (int64_t t = 0; t < count; ++t) first_row[t + 1] = first_row[t] + tasks[t].position + 1;
  few_rows_.resize(first_row[count]);
  few_scores_.resize(heads * first_row[count]);
  few_absorbed_.resize(count * heads * width);
  few_latent_out_.resize(count * heads * rank);
  for (int64_t t = 0; t < count; ++t)
    for (int64_t s = 0; s <= tasks[t].position; ++s)
      few_rows_[first_row[t] + s] = cache.row_data(layer, tasks[t].sequence->slots[s]);
  const auto cached_rows = [&](int64_t t) {
    return CachedRows{few_rows_.data() + first_row[t], tasks[t].position + 1, cache.dtype()};
  };
  // q_nope · W_uk puts each head's query in latent space; the rope part is used as is.
  const auto absorb = [&](int64_t t, int64_t first_head, int64_t num_heads) {
    for (int64_t j = first_head; j < first_head + num_heads; ++j) {
      const float* query = inputs.queries + tasks[t].row * heads * qk + j * qk;
      float* absorbed = few_absorbed_.data() + (t * heads + j) * width;
      std::memcpy(absorbed + rank, query + nope, rope * sizeof(float));
      absorb_queries(weights, j, &query, &absorbed, 1);
    }
  };
  // Softmax, attention-weighted latents and their product with W_uvᵀ.
  const auto finish = [&](int64_t t, int64_t first_head, int64_t num_heads) {
    const int64_t context = tasks[t].position + 1;
    float* scores = few_scores_.data() + heads * first_row[t] + first_head * context;
    float* latent_out = few_latent_out_.data() + (t * heads + first_head) * rank;
    for (int64_t g = 0; g < num_heads; ++g) softmax(scores + g * context, context);
    attention_weighted_sum(scores, num_heads, cached_rows(t), rank, latent_out);
    for (int64_t g = 0; g < num_heads; ++g) {
      const float* input = latent_out + g * rank;
      float* output = out + tasks[t].row * heads * v + (first_head + g) * v;
      expand_outputs(weights, first_head + g, &input, &output, 1);
    }
  };
  // fn(t, first_head, num_heads) for every token's runs of heads, in one parallel region; the last
  // one has the threads ask for the next weights while they wait.
  const PrefetchPlan next = [&](int index) {
    return prefetch_share({inputs.next_weights}, static_cast<int>(threads), index);
  };
  const auto for_head_runs = [&](const auto& fn, bool last = false) {
    pool_.parallel_for(
        count * chunks, 1,
        [&](int, int64_t begin, int64_t end) {
          for (int64_t item = begin; item < end; ++item) {
            const int64_t first_head = item % chunks * chunk;
            fn(item / chunks, first_head, std::min(chunk, heads - first_head));
          }
        },
        last && inputs.next_weights != nullptr ? &next : nullptr);
  };
  int64_t longest = 0;
  for (const AttentionTask& task : tasks) longest = std::max(longest, task.position + 1);
  const int64_t row_bytes = dtype_bytes(cache.dtype(), width);
  if (longest * row_bytes <= one_pass_cache_bytes_) {
    // A short context: each thread reads all of it for its heads, in one parallel region.
    for_head_runs(
        [&](int64_t t, int64_t first_head, int64_t num_heads) {
          const int64_t context = tasks[t].position + 1;
          absorb(t, first_head, num_heads);
          attention_scores(few_absorbed_.data() + (t * heads + first_head) * width, num_heads, width,
                           cached_rows(t), scale,
                           few_scores_.data() + heads * first_row[t] + first_head * context);
          finish(t, first_head, num_heads);
        },
        true);
    return;
  }
  for_head_runs(absorb);
  // Scores: every head against a part of the rows, so each thread reads its part of the cold cache
  // once. A score is one dot product: the same bits whichever part computes it.
  scratch_.reserve(pool_.num_threads(), heads * ((longest + threads - 1) / threads));  // one part's scores
  pool_.parallel_for(count * threads, 1, [&](int thread, int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / threads, context = tasks[t].position + 1;
      int64_t row_begin = 0, row_end = 0;
      ThreadPool::split_range(context, 1, static_cast<int>(threads), static_cast<int>(item % threads),
                              &row_begin, &row_end);
      if (row_begin == row_end) continue;
      const CachedRows all = cached_rows(t);
      const CachedRows part{all.rows + row_begin, row_end - row_begin, all.dtype};
      float* part_scores = scratch_.get(thread);
      attention_scores(few_absorbed_.data() + t * heads * width, heads, width, part, scale, part_scores);
      float* scores = few_scores_.data() + heads * first_row[t];
      for (int64_t h = 0; h < heads; ++h)
        std::memcpy(scores + h * context + row_begin, part_scores + h * part.count,
                    part.count * sizeof(float));
    }
  });
  for_head_runs(finish, true);
}

void LatentAttention::absorb_queries(const LayerWeights& weights, int64_t head, const float* const* queries,
                                     float* const* absorbed, int64_t tokens) const {
  const int64_t nope = config_.qk_nope_head_dim, kv = nope + config_.v_head_dim, rank = config_.kv_lora_rank;
  if (weights.kv_b_absorb.rows == 0) {
    // Rows of W_uk widened once for all tokens; the next head's asked for into L2 meanwhile.
    return combine_rows(weights.kv_b_proj, head * kv, nope, queries, absorbed, tokens, (head + 1) * kv);
  }
  for (int64_t t = 0; t < tokens; ++t)
    matvec_rows(weights.kv_b_absorb, head * rank, rank, queries[t], absorbed[t]);
}

void LatentAttention::expand_outputs(const LayerWeights& weights, int64_t head, const float* const* latents,
                                     float* const* outputs, int64_t tokens) const {
  const int64_t nope = config_.qk_nope_head_dim, v = config_.v_head_dim, kv = nope + v;
  if (weights.kv_b_expand.rows == 0) {
    const int64_t first = head * kv + nope;
    return dot_rows(weights.kv_b_proj, first, v, latents, outputs, tokens, first + kv);
  }
  for (int64_t t = 0; t < tokens; ++t) matvec_rows(weights.kv_b_expand, head * v, v, latents[t], outputs[t]);
}

bool LatentAttention::prefers_materialized(const SequenceSpan& sequence) const {
  const int64_t context = sequence.num_cached + sequence.num_new, n = sequence.num_new;
  if (n < 2) return false;
  const int64_t heads = config_.num_attention_heads, nope = config_.qk_nope_head_dim;
  const int64_t rope = config_.qk_rope_head_dim, v = config_.v_head_dim, rank = config_.kv_lora_rank;
  // Multiply-adds. Absorbed: W_uk into each query and W_uv out of each output, then every (query,
  // cached row) pair scores the whole row and sums its latent. Materialized: kv_b_proj over the
  // context, then pairs score nope + rope numbers and sum v.
  const int64_t pairs = n * sequence.num_cached + n * (n + 1) / 2;
  const int64_t absorbed = n * heads * (nope + v) * rank + pairs * heads * (rank + rope + rank);
  const int64_t materialized = context * heads * (nope + v) * rank + pairs * heads * (nope + rope + v);
  return materialized < absorbed;
}

int64_t LatentAttention::heads_per_expansion(int64_t context) const {
  // expanded_, keys_ and values_ per head and context row.
  const int64_t per_head =
      context * (config_.qk_nope_head_dim + config_.v_head_dim + config_.qk_head_dim() + config_.v_head_dim) *
      static_cast<int64_t>(sizeof(float));
  return std::clamp<int64_t>(expansion_budget_bytes_ / per_head, 1, config_.num_attention_heads);
}

void LatentAttention::attend_materialized(int64_t layer, const LayerWeights& weights,
                                          const SequenceSpan& sequence, const AttentionInputs& inputs,
                                          const KvCache& cache, float* out) {
  const int64_t heads = config_.num_attention_heads, kv = config_.qk_nope_head_dim + config_.v_head_dim;
  const int64_t width = cache_row_width(), context = sequence.num_cached + sequence.num_new;
  // The cached rows (the new ones included, as the cache rounded them) as f32.
  latents_.resize(context * width);
  for (int64_t s = 0; s < context; ++s) {
    float* row = latents_.data() + s * width;
    const float* cached = cache.read_row(layer, sequence.slots[s], row);
    if (cached != row) std::memcpy(row, cached, width * sizeof(float));
  }
  // Heads in groups whose K and V fit the budget; a head's numbers do not depend on its group.
  const int64_t group = heads_per_expansion(context);
  for (int64_t first = 0; first < heads; first += group) {
    const int64_t count = std::min(group, heads - first);
    expanded_.resize(context * count * kv);
    // Only without deterministic inference, so the fastest order costs no guarantee.
    matmul(pool_, latents_.data(), context, width, weights.kv_b_proj.row_slice(first * kv, count * kv),
           expanded_.data(), count * kv, inputs.matmul_order);
    attend_expanded_heads(sequence, first, count, inputs, out);
  }
}

void LatentAttention::attend_expanded_heads(const SequenceSpan& sequence, int64_t first_head,
                                            int64_t num_heads, const AttentionInputs& inputs, float* out) {
  const int64_t heads = config_.num_attention_heads, nope = config_.qk_nope_head_dim;
  const int64_t rope = config_.qk_rope_head_dim, v = config_.v_head_dim, rank = config_.kv_lora_rank;
  const int64_t qk = nope + rope, width = rank + rope, kv = nope + v;
  const int64_t context = sequence.num_cached + sequence.num_new;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(qk)));
  // Per head: its keys transposed ([qk, context]: nope from the expansion, rope shared), so a query
  // block's scores come out of the weighted-sum kernel (queries as weights over key dimensions, no
  // horizontal sums), and its values contiguous ([context, v]). The transposed rows are padded so
  // consecutive ones fall in different L1 sets (an odd number of cache lines apart): the kernel reads
  // 64 of them side by side.
  const int64_t key_stride = (context + 255) / 256 * 256 + 16;
  keys_.resize(num_heads * qk * key_stride);
  values_.resize(num_heads * context * v);
  pool_.parallel_for(num_heads, 1, [&](int, int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      float* keys = keys_.data() + g * qk * key_stride;
      for (int64_t s = 0; s < context; ++s) {
        const float* expanded = expanded_.data() + (s * num_heads + g) * kv;
        const float* shared = latents_.data() + s * width + rank;
        for (int64_t i = 0; i < nope; ++i) keys[i * key_stride + s] = expanded[i];
        for (int64_t i = 0; i < rope; ++i) keys[(nope + i) * key_stride + s] = shared[i];
        std::memcpy(values_.data() + (g * context + s) * v, expanded + nope, v * sizeof(float));
      }
    }
  });
  // Work items: one head for up to kQueriesPerPass new tokens, which attend to positions up to the
  // last one's (a shorter context gets zero weights past its own end).
  const int64_t passes = (sequence.num_new + kQueriesPerPass - 1) / kQueriesPerPass;
  // Per thread: scaled queries, scores and sums of a pass, then one row pointer per position (or per
  // key dimension), starting where a pointer may be stored.
  constexpr int64_t kFloatsPerPointer = sizeof(void*) / sizeof(float);
  const int64_t pointers_at =
      (kQueriesPerPass * (qk + context + v) + kFloatsPerPointer - 1) / kFloatsPerPointer * kFloatsPerPointer;
  scratch_.reserve(pool_.num_threads(), pointers_at + std::max(context, qk) * kFloatsPerPointer);
  pool_.parallel_for_balanced(passes * num_heads, 1, [&](int thread, int64_t begin, int64_t end) {
    float* scratch = scratch_.get(thread);
    float* queries = scratch;                                                // [count, qk]
    float* scores = queries + kQueriesPerPass * qk;                          // [count, visible]
    float* sums = scores + kQueriesPerPass * context;                        // [count, v]
    auto** rows = reinterpret_cast<const uint8_t**>(scratch + pointers_at);  // [visible] or [qk]
    for (int64_t item = begin; item < end; ++item) {
      const int64_t g = item % num_heads, j = first_head + g, first = item / num_heads * kQueriesPerPass;
      const int64_t count = std::min(kQueriesPerPass, sequence.num_new - first);
      const int64_t visible = sequence.num_cached + first + count;  // the last token's context
      for (int64_t t = 0; t < count; ++t) {
        const float* query = inputs.queries + (sequence.first_row + first + t) * heads * qk + j * qk;
        for (int64_t i = 0; i < qk; ++i) queries[t * qk + i] = query[i] * scale;
      }
      for (int64_t i = 0; i < qk; ++i)
        rows[i] = reinterpret_cast<const uint8_t*>(keys_.data() + (g * qk + i) * key_stride);
      attention_weighted_sum(queries, count, CachedRows{rows, qk, DType::kF32}, visible, scores);
      for (int64_t t = 0; t < count; ++t) {
        const int64_t own = sequence.num_cached + first + t + 1;
        softmax(scores + t * visible, own);
        std::fill(scores + t * visible + own, scores + (t + 1) * visible, 0.0f);
      }
      for (int64_t s = 0; s < visible; ++s)
        rows[s] = reinterpret_cast<const uint8_t*>(values_.data() + (g * context + s) * v);
      attention_weighted_sum(scores, count, CachedRows{rows, visible, DType::kF32}, v, sums);
      for (int64_t t = 0; t < count; ++t) {
        const int64_t row = sequence.first_row + first + t;
        std::memcpy(out + row * heads * v + j * v, sums + t * v, v * sizeof(float));
      }
    }
  });
}

}  // namespace cpm

// Multi-head latent attention behind one interface, so the model can keep either per-head K and V
// ("materialized") or only the compressed latent ("latent", absorbed) in its cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_vector.h"
#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "model/config.h"
#include "model/forward_batch.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace cpm {

// The inputs of one layer's attention for all rows of a batch.
struct AttentionInputs {
  const float* queries;     // [rows, heads * (nope + rope)], rope part already rotated
  const float* compressed;  // [rows, kv_lora_rank + rope]: normalized latent, then the rotated rope key
  int64_t compressed_stride;
  // The model's order for its products; the latent backend's kv_b_proj expansion of prefill chunks
  // takes it too (that expansion runs only without deterministic inference).
  SummationOrder matmul_order = SummationOrder::kFastest;
  // The weights the model multiplies after attention (o_proj): decode asks for them while its threads
  // wait at the end (kernels/matmul.h, NextWeights). May be null.
  const MatrixView* next_weights = nullptr;
};

class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  virtual const char* name() const = 0;
  // Numbers per token per layer in the cache.
  virtual int64_t cache_row_width() const = 0;
  // Floating-point operations one new token spends per cached token per layer (scores and weighted
  // sum over all heads): what makes attention at a long context compute-bound.
  virtual int64_t flops_per_cached_token() const = 0;
  // Stores the new tokens' cache rows, then writes out [rows, heads * v_head_dim].
  virtual void attend(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
                      const AttentionInputs& inputs, KvCache& cache, float* out) = 0;
  // The weights a decode step's attention reads first, for the product before it to ask for
  // (kernels/matmul.h, NextWeights).
  virtual const MatrixView& first_weights(const LayerWeights& weights) const { return weights.kv_b_proj; }
};

// name: "latent" or "materialized"; throws cpm::Error for anything else. materialized_prefill lets the
// latent backend expand K and V for prefill chunks (see latent_attention.h); the materialized backend
// always does.
std::unique_ptr<AttentionBackend> make_attention_backend(const std::string& name, const ModelConfig& config,
                                                         ThreadPool& pool, bool materialized_prefill = false);

// Scratch memory per thread, grown between steps only (never inside the parallel region).
class ThreadScratch {
 public:
  void reserve(int num_threads, int64_t floats_per_thread);
  float* get(int thread_index) { return buffers_[thread_index].data(); }

 private:
  std::vector<AlignedVector<float>> buffers_;
};

// Visits every (row, head group) pair of a batch in parallel, with the row's sequence and position.
struct AttentionTask {
  const SequenceSpan* sequence;
  int64_t row;       // batch row
  int64_t position;  // position of the row's token; it attends to positions 0 .. position
};
// The batch's rows, ordered so that contiguous ranges of tasks cost about the same.
std::vector<AttentionTask> attention_tasks(const ForwardBatch& batch);

}  // namespace cpm

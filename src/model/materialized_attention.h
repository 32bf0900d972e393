// The plain MLA path: kv_b_proj expands each new token's latent into per-head keys and values, which
// the cache keeps (heads * (nope + rope) + heads * v numbers per token per layer); then causal
// scaled-dot-product attention per sequence.
#pragma once

#include "model/attention_backend.h"

namespace cpm {

class MaterializedAttention : public AttentionBackend {
 public:
  MaterializedAttention(const ModelConfig& config, ThreadPool& pool);
  const char* name() const override { return "materialized"; }
  int64_t cache_row_width() const override;
  void attend(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
              const AttentionInputs& inputs, KvCache& cache, float* out) override;

 private:
  void store_new_rows(int64_t layer, const LayerWeights& weights, const ForwardBatch& batch,
                      const AttentionInputs& inputs, KvCache& cache);

  const ModelConfig& config_;
  ThreadPool& pool_;
  std::vector<float> expanded_;  // [rows, heads * (nope + v)]
  ThreadScratch scratch_;
};

}  // namespace cpm

#include "model/attention_backend.h"

#include "core/error.h"
#include "model/latent_attention.h"
#include "model/materialized_attention.h"

namespace cpm {

std::unique_ptr<AttentionBackend> make_attention_backend(const std::string& name, const ModelConfig& config,
                                                         ThreadPool& pool) {
  if (name == "latent") return std::make_unique<LatentAttention>(config, pool);
  if (name == "materialized") return std::make_unique<MaterializedAttention>(config, pool);
  fail("unknown attention backend \"", name, "\" (choose latent or materialized)");
}

void ThreadScratch::reserve(int num_threads, int64_t floats_per_thread) {
  if (static_cast<int>(buffers_.size()) < num_threads) buffers_.resize(num_threads);
  for (std::vector<float>& buffer : buffers_) {
    if (static_cast<int64_t>(buffer.size()) < floats_per_thread) buffer.resize(floats_per_thread);
  }
}

std::vector<AttentionTask> attention_tasks(const ForwardBatch& batch) {
  std::vector<AttentionTask> tasks;
  tasks.reserve(batch.token_ids.size());
  for (const SequenceSpan& sequence : batch.sequences) {
    for (int64_t i = 0; i < sequence.num_new; ++i) {
      tasks.push_back({&sequence, sequence.first_row + i, sequence.num_cached + i});
    }
  }
  return tasks;
}

}  // namespace cpm

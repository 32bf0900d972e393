#include "model/attention_backend.h"

#include "core/error.h"
#include "model/latent_attention.h"
#include "model/materialized_attention.h"

namespace cpm {

std::unique_ptr<AttentionBackend> make_attention_backend(const std::string& name, const ModelConfig& config,
                                                         ThreadPool& pool, bool materialized_prefill) {
  if (name == "latent") return std::make_unique<LatentAttention>(config, pool, materialized_prefill);
  if (name == "materialized") return std::make_unique<MaterializedAttention>(config, pool);
  fail("unknown attention backend \"", name, "\" (choose latent or materialized)");
}

void ThreadScratch::reserve(int num_threads, int64_t floats_per_thread) {
  if (static_cast<int>(buffers_.size()) < num_threads) buffers_.resize(num_threads);
  for (AlignedVector<float>& buffer : buffers_) {
    if (static_cast<int64_t>(buffer.size()) < floats_per_thread) buffer.resize(floats_per_thread);
  }
}

std::vector<AttentionTask> attention_tasks(const ForwardBatch& batch) {
  std::vector<AttentionTask> in_order;
  in_order.reserve(batch.token_ids.size());
  for (const SequenceSpan& sequence : batch.sequences) {
    for (int64_t i = 0; i < sequence.num_new; ++i) {
      in_order.push_back({&sequence, sequence.first_row + i, sequence.num_cached + i});
    }
  }
  // A row's work grows with its position, and ThreadPool::parallel_for gives each thread a contiguous
  // range: in prompt order, the thread with the last rows of a prefill would do most of the work.
  // Alternating first and last (0, n-1, 1, n-2, ...) makes any contiguous range about equally costly.
  std::vector<AttentionTask> tasks;
  tasks.reserve(in_order.size());
  for (size_t front = 0, back = in_order.size(); front < back;) {
    tasks.push_back(in_order[front++]);
    if (front < back) tasks.push_back(in_order[--back]);
  }
  return tasks;
}

}  // namespace cpm

#include "runtime/data_parallel_scheduler.h"

namespace cpm {

DataParallelScheduler::DataParallelScheduler(MiniCPM3& model, const Tokenizer* tokenizer,
                                             const SchedulerOptions& options)
    : model_(model) {
  for (int rank = 0; rank < model.data_parallel_size(); ++rank)
    ranks_.push_back(std::make_unique<Scheduler>(model, tokenizer, options));
}

// Fewest tokens in flight, then fewest requests, then the lowest rank: with one request at a time
// everything runs on rank 0, and the prefix cache stays on one rank.
int DataParallelScheduler::least_loaded() const {
  int best = 0;
  for (int rank = 1; rank < size(); ++rank) {
    const Scheduler& a = *ranks_[rank];
    const Scheduler& b = *ranks_[best];
    const int64_t a_requests = a.num_running() + a.num_waiting();
    const int64_t b_requests = b.num_running() + b.num_waiting();
    if (a.tokens_in_flight() < b.tokens_in_flight() ||
        (a.tokens_in_flight() == b.tokens_in_flight() && a_requests < b_requests)) {
      best = rank;
    }
  }
  return best;
}

void DataParallelScheduler::add(EngineRequest request, std::shared_ptr<RequestStream> stream) {
  ranks_[least_loaded()]->add(std::move(request), std::move(stream));
}

void DataParallelScheduler::abort(const std::string& id) {
  for (auto& rank : ranks_) rank->abort(id);  // unknown ids are ignored
}

void DataParallelScheduler::abort_all(const std::string& error) {
  for (auto& rank : ranks_) rank->abort_all(error);
}

void DataParallelScheduler::flush_cache() {
  for (auto& rank : ranks_) rank->flush_cache();
}

bool DataParallelScheduler::step() {
  if (size() == 1) return ranks_[0]->step();
  if (idle()) return false;
  std::vector<ForwardBatch> batches(size());
  std::vector<KvCache*> caches(size());
  std::vector<bool> prepared(size());
  bool any = false;
  for (int rank = 0; rank < size(); ++rank) {
    prepared[rank] = ranks_[rank]->prepare_step(&batches[rank]);
    caches[rank] = &ranks_[rank]->cache();
    any = any || prepared[rank];
  }
  if (!any) return true;  // memory was freed instead; the next step runs
  model_.forward_data_parallel(batches, caches, &logits_);
  ++steps_;
  // The logits come batch after batch.
  const int64_t vocab = model_.config().vocab_size;
  int64_t first_logit = 0;
  for (int rank = 0; rank < size(); ++rank) {
    if (prepared[rank]) ranks_[rank]->complete_step(logits_.data() + first_logit * vocab);
    first_logit += static_cast<int64_t>(batches[rank].logit_rows.size());
  }
  return true;
}

bool DataParallelScheduler::idle() const {
  for (const auto& rank : ranks_) {
    if (!rank->idle()) return false;
  }
  return true;
}

int64_t DataParallelScheduler::num_running() const {
  return sum_over_ranks([](const Scheduler& rank) { return rank.num_running(); });
}

int64_t DataParallelScheduler::num_waiting() const {
  return sum_over_ranks([](const Scheduler& rank) { return rank.num_waiting(); });
}

int64_t DataParallelScheduler::kv_used_tokens() const {
  return sum_over_ranks([](const Scheduler& rank) { return rank.pool().num_used(); });
}

int64_t DataParallelScheduler::kv_capacity_tokens() const {
  return sum_over_ranks([](const Scheduler& rank) { return rank.pool().capacity(); });
}

int64_t DataParallelScheduler::cached_tokens() const {
  return sum_over_ranks([](const Scheduler& rank) { return rank.cached_tokens(); });
}

SchedulerCounters DataParallelScheduler::counters() const {
  if (size() == 1) return ranks_[0]->counters();
  SchedulerCounters sum;
  for (const auto& rank : ranks_) {
    const SchedulerCounters& c = rank->counters();
    sum.prompt_tokens += c.prompt_tokens;
    sum.generated_tokens += c.generated_tokens;
    sum.cached_prompt_tokens += c.cached_prompt_tokens;
    sum.computed_tokens += c.computed_tokens;
    sum.retractions += c.retractions;
    sum.draft_tokens += c.draft_tokens;
    sum.accepted_draft_tokens += c.accepted_draft_tokens;
    sum.finished_stop += c.finished_stop;
    sum.finished_length += c.finished_length;
    sum.finished_abort += c.finished_abort;
    sum.finished_error += c.finished_error;
  }
  sum.steps = steps_;
  return sum;
}

}  // namespace cpm

// The step loop's logic under data-parallel attention: one Scheduler per DP rank (its own
// requests, KV pool and radix cache), and one model step over all of them. A new request goes to
// the rank with the fewest tokens in flight. Every DP rank takes part in every step, with an empty
// batch when it has nothing to run. With one DP rank this is the plain Scheduler.
//
// All of it runs on the leader (rank 0): the pools of the other DP ranks only track which of their
// slots are in use, while the rows live in those ranks' caches (the leader's mapping for them is
// reserved, never touched, so it commits no memory).
#pragma once

#include <memory>
#include <vector>

#include "runtime/scheduler.h"

namespace cpm {

class DataParallelScheduler {
 public:
  // As many DP ranks as model.data_parallel_size(), each with the full `options` (its own pool of
  // that size).
  DataParallelScheduler(MiniCPM3& model, const Tokenizer* tokenizer, const SchedulerOptions& options);

  // As in Scheduler; every DP rank's pool has the same size, so any rank's check holds for all.
  void check(EngineRequest& request) const { ranks_[0]->check(request); }
  // Queues the request on the least loaded DP rank.
  void add(EngineRequest request, std::shared_ptr<RequestStream> stream);
  void abort(const std::string& id);
  void abort_all(const std::string& error);
  // Runs one step over every DP rank if any has work; returns false when all are idle.
  bool step();
  void flush_cache();

  bool idle() const;
  int64_t num_running() const;
  int64_t num_waiting() const;
  int64_t kv_used_tokens() const;
  int64_t kv_capacity_tokens() const;
  int64_t cached_tokens() const;
  // Summed over the DP ranks; `steps` counts model steps (one per step of all ranks).
  SchedulerCounters counters() const;
  const SchedulerOptions& options() const { return ranks_[0]->options(); }
  int size() const { return static_cast<int>(ranks_.size()); }
  const Scheduler& rank(int index) const { return *ranks_[index]; }

 private:
  int least_loaded() const;
  // of(rank) summed over every DP rank's Scheduler.
  template <typename Of>
  int64_t sum_over_ranks(Of of) const {
    int64_t total = 0;
    for (const auto& rank : ranks_) total += of(*rank);
    return total;
  }

  MiniCPM3& model_;
  std::vector<std::unique_ptr<Scheduler>> ranks_;
  int64_t steps_ = 0;
  std::vector<float> logits_;
};

}  // namespace cpm

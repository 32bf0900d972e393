// The step loop's logic, single-threaded: which requests run in the next model step, how many of
// their tokens, where their KV rows go, and what happens to each sampled token. Continuous
// batching (decode tokens of every running request plus chunked prefill of new ones in one
// forward), the radix prefix cache, eviction and preemption live here; the Engine owns the thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/minicpm3.h"
#include "runtime/kv_pool.h"
#include "runtime/radix_cache.h"
#include "runtime/request.h"
#include "runtime/sampler.h"
#include "runtime/stop_checker.h"
#include "runtime/token_constraint.h"
#include "tokenizer/tokenizer.h"

namespace cpm {

struct SchedulerOptions {
  int64_t max_running_requests = 64;
  int64_t chunked_prefill_size = 512;  // prompt tokens per step, over all requests
  int64_t max_total_tokens = 0;        // KV pool size in tokens (0: from kv_cache_memory)
  int64_t kv_cache_memory = int64_t{1} << 30;
  DType kv_cache_dtype = DType::kF32;
  bool enable_radix_cache = true;
  std::vector<int32_t> eos_token_ids;
  // Speculative decoding with prompt-lookup drafts (ngram_draft.h): up to this many proposed tokens
  // checked per decode step (0: off), found by matching the last n tokens, n in [min, max].
  int64_t speculative_num_draft_tokens = 0;
  int speculative_ngram_min_window = 1, speculative_ngram_max_window = 4;
};

struct SchedulerCounters {
  int64_t steps = 0;
  int64_t prompt_tokens = 0;  // prompt tokens of admitted requests
  int64_t generated_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prompt tokens served by the prefix cache
  int64_t computed_tokens = 0;       // tokens that went through the model
  int64_t retractions = 0;
  int64_t draft_tokens = 0, accepted_draft_tokens = 0;  // speculative decoding
  int64_t finished_stop = 0, finished_length = 0, finished_abort = 0, finished_error = 0;
};

class Scheduler {
 public:
  // tokenizer may be null: then outputs carry no text and stop strings are refused.
  Scheduler(MiniCPM3& model, const Tokenizer* tokenizer, const SchedulerOptions& options);
  ~Scheduler();

  // Throws cpm::Error for a request that can never run (bad parameters, prompt too long for the
  // context or the pool); clips max_new_tokens to the context. Safe to call from any thread.
  void check(EngineRequest& request) const;
  // Checks and queues.
  void add(EngineRequest request, std::shared_ptr<RequestStream> stream);
  // Finishes the request at once with reason "abort" and releases its KV slots. Unknown ids are ignored.
  void abort(const std::string& id);
  // Ends every request: with reason "error" and this message, or "abort" when the message is empty.
  void abort_all(const std::string& error);
  // Runs one model step if there is work; returns false when idle.
  bool step();
  // step() in two halves, for a caller that runs the model itself (one step over the schedulers of
  // every data-parallel rank). prepare_step plans and fills `batch`; false: nothing runs this step
  // (idle, or memory had to be freed first). After it returned true, the caller runs the batch on
  // cache() and hands its logits to complete_step.
  bool prepare_step(ForwardBatch* batch);
  void complete_step(const float* logits);
  KvCache& cache() { return pool_->cache(); }
  // Tokens (prompt and output so far) of the requests running and waiting: the load a
  // data-parallel dispatcher balances.
  int64_t tokens_in_flight() const;
  // Drops every unlocked prefix-cache entry.
  void flush_cache();

  bool idle() const { return waiting_.empty() && running_.empty(); }
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  const KvPool& pool() const { return *pool_; }
  int64_t cached_tokens() const { return radix_ ? radix_->cached_tokens() : 0; }
  const SchedulerCounters& counters() const { return counters_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Request;
  struct PlanItem {
    Request* request;
    int64_t count;  // tokens computed this step
    bool newly_admitted;
    int64_t drafts = 0;  // of them, proposed tokens after the pending one (speculative decoding)
  };

  // check(); with validate_regex false a plain regex is left for grammar_for to compile.
  void check_request(EngineRequest& request, bool validate_regex) const;
  std::vector<PlanItem> plan_step();
  bool admit(Request& request);
  // True while a running request is still prefilling a long prefix this one shares.
  bool waits_for_shared_prefill(const Request& request);
  void unadmit(Request& request);
  bool fit_plan(std::vector<PlanItem>* plan);
  void retract(Request& request);
  void build_batch(const std::vector<PlanItem>& plan, ForwardBatch* batch);
  void remove_finished();
  // Proposes drafts for the plan's decoding requests, within the pool's free slots.
  void add_drafts(std::vector<PlanItem>* plan);
  void after_forward(Request& request, const float* logits, int64_t computed);
  // The tokens a step with drafts produced: row by row while each sampled token is the draft the
  // next row read.
  void verify_drafts(Request& request, const float* logits, int64_t drafts);
  // Samples from one row of logits (a copy); false when the request finished instead.
  bool sample_next(Request& request, const float* logits, SampledToken* sampled);
  // Appends a sampled token as output (with `computed_slot` when its KV row is already computed),
  // or finishes the request on it (an end token is not appended); returns false once the request is
  // finished.
  bool accept_token(Request& request, const SampledToken& sampled, int32_t computed_slot = -1);
  void cache_prefix(Request& request);
  void finish(Request& request, const std::string& reason, const std::string& matched_stop = "",
              const std::string& error = "", int32_t matched_stop_token = -1);
  void release(Request& request, bool keep_in_cache);
  void emit(Request& request, OutputChunk chunk);
  // The compiled constraint for `regex`, shared by the requests that ask for the same one.
  std::shared_ptr<ConstrainedGrammar> grammar_for(const std::string& regex);
  // Samples under the request's constraint, if any; false when the request finished instead.
  bool sample_constrained(Request& request, float* scores, SampledToken* sampled);

  MiniCPM3& model_;
  const Tokenizer* tokenizer_;
  SchedulerOptions options_;
  std::unique_ptr<KvPool> pool_;
  std::unique_ptr<RadixCache> radix_;
  std::deque<std::unique_ptr<Request>> waiting_;
  std::list<std::unique_ptr<Request>> running_;  // admission order
  SchedulerCounters counters_;
  std::vector<float> logits_;
  // The prepared step: requests whose logits it produces, and how many tokens each computed.
  struct LogitRows {
    Request* request;
    int64_t computed;          // tokens the step computed for it
    int64_t first_scored = 0;  // prompt position of its first row scoring a prompt token
    int64_t scored = 0;        // rows scoring prompt tokens (prompt logprobs), before the sampling row
    bool samples = false;      // a last row to sample the next token from
    int64_t drafts = 0;        // rows after it that checked drafted tokens
  };
  std::vector<LogitRows> with_logits_;
  int64_t prepared_rows_ = 0;
  std::shared_ptr<const TokenVocabulary> vocabulary_;  // made at the first constrained request
  GrammarCache grammars_;  // up to 16 idle grammars, each up to ~20 MB of automaton and masks
};

}  // namespace cpm

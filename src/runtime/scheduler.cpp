#include "runtime/scheduler.h"

#include <algorithm>

#include "core/error.h"
#include "runtime/ngram_draft.h"

namespace cpm {

struct Scheduler::Request {
  Request(EngineRequest spec_in, std::shared_ptr<RequestStream> stream_in, std::vector<int32_t> eos,
          const Tokenizer* tokenizer)
      : spec(std::move(spec_in)),
        stream(std::move(stream_in)),
        sampler(spec.params, spec.input_ids, std::move(eos)),
        stop(spec.params.stop),
        tokens(spec.input_ids),
        prompt_length(static_cast<int64_t>(spec.input_ids.size())) {
    if (tokenizer != nullptr) decoder.emplace(*tokenizer, spec.params.skip_special_tokens);
    if (spec.params.return_logprob && spec.params.logprob_start_len >= 0) {
      // Token p is scored by the logits of row p - 1; the first prompt token by none.
      first_scored_row = std::max<int64_t>(spec.params.logprob_start_len, 1) - 1;
      scored_until = first_scored_row;
    }
  }
  int64_t num_outputs() const { return static_cast<int64_t>(tokens.size()) - prompt_length; }
  int64_t num_pending() const { return static_cast<int64_t>(tokens.size() - slots.size()); }

  EngineRequest spec;
  std::shared_ptr<RequestStream> stream;
  Sampler sampler;
  std::optional<IncrementalDecoder> decoder;
  StopChecker stop;
  std::optional<TokenConstraint> constraint;  // regex / json_schema
  std::vector<int32_t> tokens;                // prompt, then outputs
  int64_t prompt_length;
  std::vector<int32_t> slots;        // KV slots of tokens[0, slots.size())
  RadixCache::Node* node = nullptr;  // locked prefix-cache node
  int64_t tree_slots = 0;            // slots[0, tree_slots) belong to the prefix cache
  int64_t cached_tokens = -1;        // prefix-cache hit at first admission
  bool finished = false;
  // Prompt logprobs: rows from this position score the next prompt token (-1: none asked for);
  // positions below scored_until are done (a retracted request computes them again).
  int64_t first_scored_row = -1;
  int64_t scored_until = 0;
  std::vector<std::pair<int64_t, SampledToken>> input_logprobs;  // not yet sent
  // Speculative decoding: recent drafts proven right and wrong (decayed counts, from an even prior),
  // and decode steps since the last draft.
  double draft_hits = 1, draft_misses = 1;
  int64_t steps_since_draft = 0;
};

Scheduler::Scheduler(MiniCPM3& model, const Tokenizer* tokenizer, const SchedulerOptions& options)
    : model_(model), tokenizer_(tokenizer), options_(options) {
  if (options.max_running_requests <= 0) fail("--max-running-requests must be positive");
  if (options.chunked_prefill_size <= 0) fail("--chunked-prefill-size must be positive");
  int64_t slots = options.max_total_tokens;
  if (slots <= 0) slots = KvPool::slots_for_budget(model, options.kv_cache_memory, options.kv_cache_dtype);
  if (slots < 2)
    fail("the KV cache budget holds ", slots, " tokens; raise --kv-cache-memory or --max-total-tokens");
  pool_ = std::make_unique<KvPool>(model, slots, options.kv_cache_dtype);
  if (options.enable_radix_cache) radix_ = std::make_unique<RadixCache>(*pool_);
}

Scheduler::~Scheduler() = default;

void Scheduler::check(EngineRequest& request) const {
  check_request(request, true);
}

void Scheduler::check_request(EngineRequest& request, bool validate_regex) const {
  SamplingParams& params = request.params;
  params.validate();
  const int64_t length = static_cast<int64_t>(request.input_ids.size());
  if (length == 0) fail("the prompt is empty");
  for (int32_t id : request.input_ids) {
    if (id < 0 || id >= model_.config().vocab_size) {
      fail("token id ", id, " is outside the vocabulary [0, ", model_.config().vocab_size, ")");
    }
  }
  if (length >= model_.context_length()) {
    fail("the prompt has ", length, " tokens, more than the context length of ", model_.context_length(),
         " allows (at most ", model_.context_length() - 1, ")");
  }
  params.max_new_tokens =
      static_cast<int32_t>(std::min<int64_t>(params.max_new_tokens, model_.context_length() - length));
  params.min_new_tokens = std::min(params.min_new_tokens, params.max_new_tokens);
  if (length + params.max_new_tokens > pool_->capacity()) {
    fail("the request needs ", length + params.max_new_tokens, " tokens of KV cache (prompt ", length,
         " + max_new_tokens ", params.max_new_tokens, ") but the pool holds ", pool_->capacity());
  }
  if (!params.stop.empty() && tokenizer_ == nullptr)
    fail("stop strings need a tokenizer; this model has none");
  for (const auto& [id, bias] : params.logit_bias) {
    if (id >= model_.config().vocab_size)
      fail("logit_bias token id ", id, " is outside the vocabulary [0, ", model_.config().vocab_size, ")");
  }
  if (!params.regex.empty() || !params.json_schema.empty() || !params.ebnf.empty()) {
    if (tokenizer_ == nullptr)
      fail("regex, json_schema and ebnf constraints need a tokenizer; this model has none");
    if (validate_regex || !params.json_schema.empty() || !params.ebnf.empty()) {
      params.regex = constraint_regex(params.regex, params.json_schema, params.ebnf);
      params.json_schema.clear();
      params.ebnf.clear();
    }
  }
}

std::shared_ptr<ConstrainedGrammar> Scheduler::grammar_for(const std::string& regex) {
  if (!vocabulary_)
    vocabulary_ = std::make_shared<const TokenVocabulary>(*tokenizer_, model_.config().vocab_size);
  return grammars_.get(regex, vocabulary_);
}

void Scheduler::add(EngineRequest request, std::shared_ptr<RequestStream> stream) {
  // submit() has compiled a plain regex already; grammar_for compiles it once more only when it is
  // not cached, with the same errors, so the scheduler thread does not compile it twice.
  check_request(request, false);
  std::shared_ptr<ConstrainedGrammar> grammar;
  if (!request.params.regex.empty()) grammar = grammar_for(request.params.regex);
  counters_.prompt_tokens += static_cast<int64_t>(request.input_ids.size());
  waiting_.push_back(
      std::make_unique<Request>(std::move(request), std::move(stream), options_.eos_token_ids, tokenizer_));
  if (grammar) waiting_.back()->constraint.emplace(std::move(grammar));
}

void Scheduler::abort(const std::string& id) {
  // Running requests first, then waiting ones from the front: should an id come back while the abort
  // of its last holder is still on the way (a client reusing its rid), the older request goes.
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if ((*it)->spec.id == id) {
      finish(**it, "abort");
      running_.erase(it);
      return;
    }
  }
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->spec.id == id) {
      finish(**it, "abort");
      waiting_.erase(it);
      return;
    }
  }
}

void Scheduler::abort_all(const std::string& error) {
  const std::string reason = error.empty() ? "abort" : "error";
  for (auto& request : running_) {
    if (!request->finished) finish(*request, reason, "", error);
  }
  for (auto& request : waiting_) finish(*request, reason, "", error);
  running_.clear();
  waiting_.clear();
}

void Scheduler::flush_cache() {
  if (radix_) radix_->clear();
}

bool Scheduler::admit(Request& request) {
  if (radix_) {
    // Match all but the last token: that one must run to produce the next logits. Rows that score
    // prompt tokens must run too.
    int64_t usable = static_cast<int64_t>(request.tokens.size()) - 1;
    if (request.first_scored_row >= 0 && request.scored_until < request.prompt_length - 1)
      usable = std::min(usable, request.scored_until);
    const std::vector<int32_t> head(request.tokens.begin(), request.tokens.begin() + usable);
    RadixCache::Match match = radix_->match_prefix(head);
    radix_->lock(match.node);
    request.node = match.node;
    request.slots = std::move(match.slots);
    request.tree_slots = static_cast<int64_t>(request.slots.size());
  }
  if (request.cached_tokens < 0) {
    request.cached_tokens = static_cast<int64_t>(request.slots.size());
    counters_.cached_prompt_tokens += request.cached_tokens;
  }
  return true;
}

bool Scheduler::waits_for_shared_prefill(const Request& request) {
  if (!radix_) return false;
  // Requests that arrive together with one long common prefix (few-shot prompts) would each compute
  // it, since a prefix enters the cache only once its prefill is done. Holding the newcomer back
  // until then costs it a step or two and saves recomputing the whole shared part.
  constexpr int64_t kSharedPrefillTokens = 32;
  int64_t shared = 0;
  for (const auto& running : running_) {
    if (running->num_pending() <= 1) continue;  // not prefilling
    const auto mine = std::mismatch(request.tokens.begin(), request.tokens.end(), running->tokens.begin(),
                                    running->tokens.end())
                          .first;
    shared = std::max<int64_t>(shared, mine - request.tokens.begin());
  }
  if (shared < kSharedPrefillTokens) return false;
  const std::vector<int32_t> head(request.tokens.begin(), request.tokens.end() - 1);
  const int64_t cached = static_cast<int64_t>(radix_->match_prefix(head).slots.size());
  return shared - cached >= kSharedPrefillTokens;
}

void Scheduler::unadmit(Request& request) {
  release(request, false);
}

std::vector<Scheduler::PlanItem> Scheduler::plan_step() {
  std::vector<PlanItem> plan;
  int64_t budget = options_.chunked_prefill_size;
  for (auto& request : running_) {
    const int64_t pending = request->num_pending();
    if (pending <= 1) {
      plan.push_back({request.get(), pending, false});
    } else if (budget > 0) {
      const int64_t count = std::min(pending, budget);
      budget -= count;
      plan.push_back({request.get(), count, false});
    }
  }
  while (budget > 0 && !waiting_.empty() &&
         static_cast<int64_t>(running_.size()) < options_.max_running_requests) {
    Request& request = *waiting_.front();
    if (waits_for_shared_prefill(request)) break;
    admit(request);
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
    const int64_t count = std::min(request.num_pending(), budget);
    budget -= count;
    plan.push_back({&request, count, true});
  }
  return plan;
}

bool Scheduler::fit_plan(std::vector<PlanItem>* plan) {
  auto needed = [plan] {
    int64_t total = 0;
    for (const PlanItem& item : *plan) total += item.count;
    return total;
  };
  auto evict_for = [&](int64_t tokens) {
    if (radix_ && tokens > pool_->num_free()) radix_->evict(tokens - pool_->num_free());
  };
  evict_for(needed());
  // Undo the plan from its newest end until it fits: un-admit new requests, shorten prefill chunks,
  // then retract running requests (their tokens stay in the prefix cache until evicted).
  while (needed() > pool_->num_free() && !plan->empty()) {
    PlanItem& item = plan->back();
    Request& request = *item.request;
    const int64_t excess = needed() - pool_->num_free();
    if (item.newly_admitted) {
      unadmit(request);
      waiting_.push_front(std::move(running_.back()));
      running_.pop_back();
      plan->pop_back();
    } else if (item.count > excess) {
      item.count -= excess;
    } else if (running_.size() == 1) {
      finish(request, "error", "", "the KV pool cannot hold this request");
      plan->pop_back();
    } else {
      retract(request);
      plan->pop_back();
    }
    evict_for(needed());
  }
  return !plan->empty();
}

void Scheduler::retract(Request& request) {
  ++counters_.retractions;
  release(request, true);
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if (it->get() == &request) {
      waiting_.push_front(std::move(*it));
      running_.erase(it);
      return;
    }
  }
}

void Scheduler::release(Request& request, bool keep_in_cache) {
  if (radix_) {
    if (keep_in_cache && !request.slots.empty()) {
      radix_->insert(request.tokens, request.slots);  // takes the slots; duplicates go back to the pool
    } else {
      pool_->release(request.slots.data() + request.tree_slots,
                     static_cast<int64_t>(request.slots.size()) - request.tree_slots);
    }
    radix_->unlock(request.node);
  } else {
    pool_->release(request.slots);
  }
  request.slots.clear();
  request.node = nullptr;
  request.tree_slots = 0;
}

void Scheduler::cache_prefix(Request& request) {
  if (!radix_) return;
  const std::vector<int32_t> computed(request.tokens.begin(), request.tokens.begin() + request.slots.size());
  radix_->insert(computed, request.slots);
  RadixCache::Match match = radix_->match_prefix(computed);
  radix_->lock(match.node);
  radix_->unlock(request.node);
  request.node = match.node;
  request.slots = std::move(match.slots);
  request.tree_slots = static_cast<int64_t>(request.slots.size());
}

bool Scheduler::step() {
  if (idle()) return false;
  ForwardBatch batch;
  if (prepare_step(&batch)) {
    model_.forward(batch, pool_->cache(), &logits_);
    complete_step(logits_.data());
  }
  return true;
}

bool Scheduler::prepare_step(ForwardBatch* batch) {
  *batch = ForwardBatch();
  with_logits_.clear();
  prepared_rows_ = 0;
  if (idle()) return false;
  std::vector<PlanItem> plan = plan_step();
  if (!fit_plan(&plan)) {
    if (running_.size() > 1)
      retract(*running_.back());  // every request is stuck on memory: free the newest one's
    remove_finished();
    return false;
  }
  if (options_.speculative_num_draft_tokens > 0) add_drafts(&plan);
  build_batch(plan, batch);
  return true;
}

namespace {

// A drafted row's cost as a share of a one-token step: a q4_0 MiniCPM3-4B step over 5 rows took 1.6-1.8x
// one over 1 row on 2 cores (docs/PERFORMANCE.md); float weights cost less per row, so this errs on
// the side of drafting too little.
constexpr double kDraftRowCost = 0.2;
constexpr int64_t kStepsBetweenProbes = 8;
constexpr double kDraftMemory = 0.8;  // weight of the previous counts at each checked step

}  // namespace

void Scheduler::add_drafts(std::vector<PlanItem>* plan) {
  int64_t free_slots = pool_->num_free();
  for (const PlanItem& item : *plan) free_slots -= item.count;
  for (PlanItem& item : *plan) {
    Request& request = *item.request;
    // Decoding requests only (a prefill's last chunk caches its prefix first); a constraint would
    // need each drafted row's mask.
    if (item.count != 1 || request.num_pending() != 1 || request.num_outputs() == 0 || request.constraint)
      continue;
    const int64_t room =
        std::min({options_.speculative_num_draft_tokens, free_slots,
                  request.spec.params.max_new_tokens - request.num_outputs() - 1,
                  model_.context_length() - static_cast<int64_t>(request.tokens.size()) - 1});
    const double hit_rate = request.draft_hits / (request.draft_hits + request.draft_misses);
    int64_t length = best_draft_length(hit_rate, kDraftRowCost, room);
    // Where drafts have not paid, try one now and then: the text may start repeating.
    if (length == 0 && room > 0 && request.steps_since_draft >= kStepsBetweenProbes) length = 1;
    ++request.steps_since_draft;
    if (length == 0) continue;
    const std::vector<int32_t> draft = ngram_draft(request.tokens, options_.speculative_ngram_min_window,
                                                   options_.speculative_ngram_max_window, length);
    if (draft.empty()) continue;
    request.steps_since_draft = 0;
    request.tokens.insert(request.tokens.end(), draft.begin(), draft.end());
    item.drafts = static_cast<int64_t>(draft.size());
    item.count += item.drafts;
    free_slots -= item.drafts;
  }
}

void Scheduler::build_batch(const std::vector<PlanItem>& plan, ForwardBatch* batch) {
  for (const PlanItem& item : plan) {
    Request& request = *item.request;
    const int64_t start = static_cast<int64_t>(request.slots.size());
    if (!pool_->allocate(item.count, &request.slots))
      fail("internal: KV pool allocation failed after fitting");
    batch->sequences.push_back({batch->num_rows(), item.count, start, request.slots.data()});
    batch->token_ids.insert(batch->token_ids.end(), request.tokens.begin() + start,
                            request.tokens.begin() + start + item.count);
    LogitRows rows{&request, item.count};
    if (request.first_scored_row >= 0) {  // prompt rows whose next token is still to be scored
      rows.first_scored = std::max(start, request.scored_until);
      const int64_t end = std::min(start + item.count, request.prompt_length - 1);
      rows.scored = std::max<int64_t>(end - rows.first_scored, 0);
      const int64_t first_row = batch->num_rows() - item.count + (rows.first_scored - start);
      for (int64_t k = 0; k < rows.scored; ++k) batch->logit_rows.push_back(first_row + k);
    }
    rows.samples = request.num_pending() == 0;
    rows.drafts = item.drafts;
    if (rows.samples) {
      for (int64_t k = item.drafts; k >= 0; --k) batch->logit_rows.push_back(batch->num_rows() - 1 - k);
    }
    if (rows.samples || rows.scored > 0) with_logits_.push_back(rows);
  }
  prepared_rows_ = batch->num_rows();
}

void Scheduler::complete_step(const float* logits) {
  ++counters_.steps;
  counters_.computed_tokens += prepared_rows_;
  const int64_t vocab = model_.config().vocab_size;
  const float* row = logits;
  for (const LogitRows& rows : with_logits_) {
    Request& request = *rows.request;
    for (int64_t k = 0; k < rows.scored; ++k, row += vocab) {
      const int64_t position = rows.first_scored + k + 1;  // the prompt token these logits score
      request.input_logprobs.push_back(
          {position, score_token(row, vocab, request.tokens[position], request.spec.params.top_logprobs)});
    }
    request.scored_until = std::max(request.scored_until, rows.first_scored + rows.scored);
    if (rows.samples && rows.drafts > 0) {
      verify_drafts(request, row, rows.drafts);
      row += vocab * (rows.drafts + 1);
    } else if (rows.samples) {
      after_forward(request, row, rows.computed);
      row += vocab;
    }
  }
  with_logits_.clear();
  remove_finished();
}

void Scheduler::remove_finished() {
  running_.remove_if([](const std::unique_ptr<Request>& request) { return request->finished; });
}

int64_t Scheduler::tokens_in_flight() const {
  int64_t total = 0;
  for (const auto& request : running_) total += static_cast<int64_t>(request->tokens.size());
  for (const auto& request : waiting_) total += static_cast<int64_t>(request->tokens.size());
  return total;
}

void Scheduler::after_forward(Request& request, const float* logits, int64_t computed) {
  if (computed > 1 || request.num_outputs() == 0) cache_prefix(request);  // a finished prefill: share it
  if (request.spec.params.max_new_tokens == 0) {  // only the prompt was asked for (e.g. its logprobs)
    finish(request, "length");
    return;
  }
  SampledToken sampled;
  if (sample_next(request, logits, &sampled)) accept_token(request, sampled);
}

void Scheduler::verify_drafts(Request& request, const float* logits, int64_t drafts) {
  // The step computed the pending token and the drafts after it; row i scores what follows draft
  // i - 1. Their KV rows are set aside and given back to the request one by one as drafts prove
  // right, so its slots always cover exactly the tokens whose rows are computed.
  const int64_t first = static_cast<int64_t>(request.tokens.size()) - drafts;
  const std::vector<int32_t> draft(request.tokens.begin() + first, request.tokens.end());
  const std::vector<int32_t> spare(request.slots.end() - drafts, request.slots.end());
  request.tokens.resize(first);
  request.slots.resize(request.slots.size() - drafts);
  counters_.draft_tokens += drafts;
  const int64_t vocab = model_.config().vocab_size;
  int64_t used = 0;
  for (int64_t i = 0; i <= drafts; ++i) {
    SampledToken sampled;
    if (!sample_next(request, logits + i * vocab, &sampled)) break;
    const bool matches = i < drafts && sampled.token == draft[i];
    const size_t outputs = request.tokens.size();
    const bool running = accept_token(request, sampled, matches ? spare[i] : -1);
    if (matches && request.tokens.size() > outputs) ++used;  // appended with its computed row
    if (!running || !matches) break;
  }
  counters_.accepted_draft_tokens += used;
  pool_->release(spare.data() + used, drafts - used);
  // Each draft right after right ones is a hit; the first wrong one a miss. Older steps count less.
  request.draft_hits = kDraftMemory * request.draft_hits + static_cast<double>(used);
  request.draft_misses = kDraftMemory * request.draft_misses + (used < drafts ? 1.0 : 0.0);
}

bool Scheduler::sample_next(Request& request, const float* logits, SampledToken* sampled) {
  const int64_t vocab = model_.config().vocab_size;
  std::vector<float> scores(logits, logits + vocab);
  return sample_constrained(request, scores.data(), sampled);
}

bool Scheduler::accept_token(Request& request, const SampledToken& sampled, int32_t computed_slot) {
  const SamplingParams& params = request.spec.params;
  OutputChunk chunk;
  const bool is_eos = !params.ignore_eos && std::count(options_.eos_token_ids.begin(),
                                                       options_.eos_token_ids.end(), sampled.token) > 0;
  const bool is_stop_id =
      std::count(params.stop_token_ids.begin(), params.stop_token_ids.end(), sampled.token) > 0;
  if (is_eos || is_stop_id) {
    finish(request, "stop", "", "", sampled.token);
    return false;
  }
  request.tokens.push_back(sampled.token);
  if (computed_slot >= 0) request.slots.push_back(computed_slot);
  ++counters_.generated_tokens;
  chunk.token_ids.push_back(sampled.token);
  if (params.return_logprob || params.top_logprobs > 0) chunk.logprobs.push_back(sampled);
  if (request.decoder) chunk.text = request.stop.add(request.decoder->feed(sampled.token));
  emit(request, std::move(chunk));
  if (request.stop.matched()) {
    finish(request, "stop");
  } else if (request.constraint && request.constraint->complete()) {
    finish(request, "stop");  // the constrained output is complete: nothing may follow
  } else if (request.num_outputs() >= params.max_new_tokens ||
             static_cast<int64_t>(request.tokens.size()) >= model_.context_length()) {
    finish(request, "length");
  }
  return !request.finished;
}

bool Scheduler::sample_constrained(Request& request, float* scores, SampledToken* sampled) {
  const int64_t vocab = model_.config().vocab_size;
  if (!request.constraint) {
    *sampled = request.sampler.sample(scores, vocab);
    return true;
  }
  const SamplingParams& params = request.spec.params;
  try {
    const TokenMask& allowed = request.constraint->allowed();
    std::vector<int32_t> endings;  // tokens that end the request: only where the output is complete
    if (request.constraint->accepting()) {
      if (!params.ignore_eos) endings = options_.eos_token_ids;
      endings.insert(endings.end(), params.stop_token_ids.begin(), params.stop_token_ids.end());
    }
    if (allowed.allowed == 0) {
      if (request.constraint->accepting()) {
        finish(request, "stop");
      } else {
        finish(request, "error", "", "no token of the vocabulary continues the constrained output here");
      }
      return false;
    }
    *sampled = request.sampler.sample(scores, vocab, &allowed, endings);
    if (std::count(endings.begin(), endings.end(), sampled->token) == 0)
      request.constraint->advance(sampled->token);
  } catch (const Error& error) {
    finish(request, "error", "", error.what());
    return false;
  }
  return true;
}

void Scheduler::emit(Request& request, OutputChunk chunk) {
  chunk.request_id = request.spec.id;
  chunk.prompt_tokens = request.prompt_length;
  chunk.completion_tokens = request.num_outputs();
  chunk.cached_tokens = std::max<int64_t>(request.cached_tokens, 0);
  if (!chunk.finished && chunk.token_ids.empty() && chunk.text.empty()) return;
  chunk.input_logprobs = std::move(request.input_logprobs);  // with the first chunk that goes out
  request.input_logprobs.clear();
  request.stream->push(std::move(chunk));
}

void Scheduler::finish(Request& request, const std::string& reason, const std::string& matched_stop,
                       const std::string& error, int32_t matched_stop_token) {
  OutputChunk last;
  if (request.decoder && !request.stop.matched() && reason != "abort" && reason != "error") {
    last.text = request.stop.add(request.decoder->finish());
    if (!request.stop.matched()) last.text += request.stop.flush();
  }
  last.matched_stop = request.stop.matched() ? request.stop.matched_stop() : matched_stop;
  last.matched_stop_token = request.stop.matched() ? -1 : matched_stop_token;
  last.finished = true;
  last.finish_reason = reason;
  last.error = error;
  release(request, reason == "stop" || reason == "length");
  request.finished = true;
  int64_t& counter = reason == "stop"     ? counters_.finished_stop
                     : reason == "length" ? counters_.finished_length
                     : reason == "abort"  ? counters_.finished_abort
                                          : counters_.finished_error;
  ++counter;
  emit(request, std::move(last));
}

}  // namespace cpm

#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "runtime/token_constraint.h"

namespace cpm {

namespace {

constexpr float kMasked = -std::numeric_limits<float>::infinity();

int32_t argmax(const float* logits, int64_t vocab_size) {
  return static_cast<int32_t>(std::max_element(logits, logits + vocab_size) - logits);
}

// log(sum(exp(logits))) computed stably in double.
double log_sum_exp(const float* logits, int64_t vocab_size) {
  const float max_logit = *std::max_element(logits, logits + vocab_size);
  double total = 0;
  for (int64_t i = 0; i < vocab_size; ++i) total += std::exp(static_cast<double>(logits[i] - max_logit));
  return max_logit + std::log(total);
}

std::vector<TokenLogprob> top_alternatives(const float* logits, int64_t vocab_size, int count,
                                           double normalizer) {
  std::vector<int32_t> ids(vocab_size);
  std::iota(ids.begin(), ids.end(), 0);
  count = static_cast<int>(std::min<int64_t>(count, vocab_size));
  std::partial_sort(ids.begin(), ids.begin() + count, ids.end(), [logits](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<TokenLogprob> result;
  for (int i = 0; i < count; ++i) result.push_back({ids[i], static_cast<float>(logits[ids[i]] - normalizer)});
  return result;
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, const std::vector<int32_t>& prompt,
                 std::vector<int32_t> eos_ids)
    : params_(params), eos_ids_(std::move(eos_ids)) {
  random_.seed(params.seed.has_value() ? *params.seed : std::random_device{}());
  if (params_.repetition_penalty != 1.0f) {
    for (int32_t id : prompt) seen_[id] = true;
  }
}

void Sampler::apply_penalties(float* logits, int64_t vocab_size) const {
  if (params_.repetition_penalty != 1.0f) {
    for (const auto& [id, unused] : seen_) {
      if (id >= vocab_size) continue;
      float& logit = logits[id];
      logit = logit > 0 ? logit / params_.repetition_penalty : logit * params_.repetition_penalty;
    }
  }
  if (params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f) {
    for (const auto& [id, count] : output_counts_) {
      if (id < vocab_size) logits[id] -= params_.frequency_penalty * count + params_.presence_penalty;
    }
  }
  for (const auto& [id, bias] : params_.logit_bias) {
    if (id < vocab_size) logits[id] += bias;
  }
}

void Sampler::mask_disallowed(float* logits, int64_t vocab_size, const TokenMask& allowed,
                              const std::vector<int32_t>& also_allowed) {
  std::vector<float> kept;
  for (int32_t id : also_allowed) kept.push_back(id >= 0 && id < vocab_size ? logits[id] : kMasked);
  const int64_t limit = std::min<int64_t>(vocab_size, static_cast<int64_t>(allowed.bits.size()) * 64);
  for (int64_t id = 0; id < limit; ++id) {
    if (!allowed.test(id)) logits[id] = kMasked;
  }
  for (int64_t id = limit; id < vocab_size; ++id) logits[id] = kMasked;
  for (size_t k = 0; k < also_allowed.size(); ++k) {
    if (also_allowed[k] >= 0 && also_allowed[k] < vocab_size) logits[also_allowed[k]] = kept[k];
  }
}

void Sampler::mask_stop_tokens(float* logits, int64_t vocab_size) const {
  if (num_sampled_ >= params_.min_new_tokens) return;
  auto mask = [&](int32_t id) {
    if (id >= 0 && id < vocab_size) logits[id] = kMasked;
  };
  if (!params_.ignore_eos) std::for_each(eos_ids_.begin(), eos_ids_.end(), mask);
  std::for_each(params_.stop_token_ids.begin(), params_.stop_token_ids.end(), mask);
}

int32_t Sampler::draw(const float* logits, int64_t vocab_size) {
  // Candidates sorted by logit (ties by id), cut by top_k, then softmax at the temperature.
  order_.resize(vocab_size);
  std::iota(order_.begin(), order_.end(), 0);
  const int64_t keep = params_.top_k > 0 ? std::min<int64_t>(params_.top_k, vocab_size) : vocab_size;
  auto by_logit = [logits](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (keep < vocab_size || params_.top_p < 1.0f) {
    std::partial_sort(order_.begin(), order_.begin() + keep, order_.end(), by_logit);
  }
  order_.resize(keep);
  // The largest logit shifts the exponentials (order_ is sorted only when cut; masked tokens are -inf).
  float top = logits[order_[0]];
  for (int32_t id : order_) top = std::max(top, logits[id]);
  probabilities_.resize(keep);
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) {
    probabilities_[i] =
        static_cast<float>(std::exp((static_cast<double>(logits[order_[i]]) - top) / params_.temperature));
    total += probabilities_[i];
  }
  // top_p keeps the smallest prefix whose mass reaches top_p; min_p drops tokens below min_p * best.
  int64_t cut = keep;
  if (params_.top_p < 1.0f) {
    double mass = 0;
    for (int64_t i = 0; i < keep; ++i) {
      mass += probabilities_[i] / total;
      if (mass >= params_.top_p) {
        cut = i + 1;
        break;
      }
    }
  }
  double kept_total = 0;
  for (int64_t i = 0; i < cut; ++i) {
    if (params_.min_p > 0 && probabilities_[i] < params_.min_p * probabilities_[0]) probabilities_[i] = 0;
    kept_total += probabilities_[i];
  }
  const double target = std::generate_canonical<double, 53>(random_) * kept_total;
  double running = 0;
  for (int64_t i = 0; i < cut; ++i) {
    running += probabilities_[i];
    if (running > target && probabilities_[i] > 0) return order_[i];
  }
  return order_[0];
}

SampledToken score_token(const float* logits, int64_t vocab_size, int32_t token, int top_logprobs) {
  SampledToken result;
  result.token = token;
  const double normalizer = log_sum_exp(logits, vocab_size);
  result.logprob = static_cast<float>(logits[token] - normalizer);
  if (top_logprobs > 0) result.top_logprobs = top_alternatives(logits, vocab_size, top_logprobs, normalizer);
  return result;
}

SampledToken Sampler::sample(float* logits, int64_t vocab_size, const TokenMask* allowed,
                             const std::vector<int32_t>& also_allowed) {
  SampledToken result;
  double normalizer = 0;
  if (params_.return_logprob || params_.top_logprobs > 0) {
    normalizer = log_sum_exp(logits, vocab_size);
    if (params_.top_logprobs > 0)
      result.top_logprobs = top_alternatives(logits, vocab_size, params_.top_logprobs, normalizer);
  }
  std::vector<float> raw;
  if (params_.return_logprob) raw.assign(logits, logits + vocab_size);
  apply_penalties(logits, vocab_size);
  if (allowed != nullptr) mask_disallowed(logits, vocab_size, *allowed, also_allowed);
  mask_stop_tokens(logits, vocab_size);
  result.token = params_.greedy() ? argmax(logits, vocab_size) : draw(logits, vocab_size);
  if (params_.return_logprob) result.logprob = static_cast<float>(raw[result.token] - normalizer);
  ++output_counts_[result.token];
  if (params_.repetition_penalty != 1.0f) seen_[result.token] = true;
  ++num_sampled_;
  return result;
}

}  // namespace cpm

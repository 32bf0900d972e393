// Turns one position's logits into the next token under a request's SamplingParams.
#pragma once

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "runtime/sampling_params.h"

namespace cpm {

struct TokenMask;  // token_constraint.h

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
};

struct SampledToken {
  int32_t token = 0;
  float logprob = 0;                       // log-softmax of the model's logits (before penalties)
  std::vector<TokenLogprob> top_logprobs;  // most likely first
};

// The log-probability of `token` under `logits` (log-softmax, no penalties) and the `top_logprobs`
// most likely tokens: how a prompt token is scored.
SampledToken score_token(const float* logits, int64_t vocab_size, int32_t token, int top_logprobs);

// Holds one request's random state and token counts, so its samples depend only on its own seed,
// prompt and outputs, never on the rest of the batch.
class Sampler {
 public:
  // eos_ids are masked until min_new_tokens outputs exist (unless ignore_eos).
  Sampler(const SamplingParams& params, const std::vector<int32_t>& prompt, std::vector<int32_t> eos_ids);

  // Chooses the next token from `logits` (vocab_size numbers; modified in place) and records it.
  // With `allowed`, only its tokens and those in `also_allowed` can be chosen (constrained decoding);
  // the caller makes sure one of them is left.
  SampledToken sample(float* logits, int64_t vocab_size, const TokenMask* allowed = nullptr,
                      const std::vector<int32_t>& also_allowed = {});
  int64_t num_sampled() const { return num_sampled_; }

 private:
  void apply_penalties(float* logits, int64_t vocab_size) const;
  void mask_stop_tokens(float* logits, int64_t vocab_size) const;
  static void mask_disallowed(float* logits, int64_t vocab_size, const TokenMask& allowed,
                              const std::vector<int32_t>& also_allowed);
  int32_t draw(const float* logits, int64_t vocab_size);

  SamplingParams params_;
  std::vector<int32_t> eos_ids_;
  std::unordered_map<int32_t, int32_t> output_counts_;
  std::unordered_map<int32_t, bool> seen_;  // prompt and output tokens, for repetition_penalty
  std::mt19937_64 random_;
  int64_t num_sampled_ = 0;
  std::vector<int32_t> order_;  // scratch: candidate ids
  std::vector<float> probabilities_;
};

}  // namespace cpm

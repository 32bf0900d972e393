// Per-request decoding parameters, with the ranges the server and CLI accept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cpm {

struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy
  int32_t top_k = -1;               // -1 or 0: off
  float top_p = 1.0f;               // (0, 1]
  float min_p = 0.0f;               // [0, 1]
  float repetition_penalty = 1.0f;  // > 0; 1: off. Applies to prompt and output tokens.
  float frequency_penalty = 0.0f;   // [-2, 2], per occurrence in the output
  float presence_penalty = 0.0f;    // [-2, 2], once for any occurrence in the output
  std::optional<uint64_t> seed;     // same seed + same prompt = same output
  int32_t max_new_tokens = 128;
  int32_t min_new_tokens = 0;  // stop tokens and EOS are masked until this many
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> stop;  // stop strings, matched on detokenized text, excluded from output
  bool ignore_eos = false;
  bool skip_special_tokens = true;
  bool return_logprob = false;  // log-probability of each chosen token
  // With return_logprob, also of each prompt token from this position on (-1: none). The first
  // prompt token has no logprob (nothing precedes it); prefix-cache hits stop short of this position
  // so that the scored tokens are computed.
  int32_t logprob_start_len = -1;
  int32_t top_logprobs = 0;  // and of the N most likely alternatives (0..20)
  // Added to a token's logit before sampling, in [-100, 100] (-100 in effect bans it).
  std::vector<std::pair<int32_t, float>> logit_bias;
  // Structured output: the text must match `regex` (whole), be JSON valid under `json_schema` (JSON
  // text), or derive from the EBNF grammar `ebnf` (the scheduler turns either into a regex). At
  // most one of them.
  std::string regex;
  std::string json_schema;
  std::string ebnf;

  // Throws cpm::Error naming the first parameter out of range.
  void validate() const;
  bool greedy() const { return temperature == 0.0f || top_k == 1; }
};

}  // namespace cpm

// Sampling parameters of OpenAI requests, plus the sglang extras they may carry.
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/sampling_params.h"

namespace cpm {

struct OpenAiParams {
  SamplingParams sampling;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
};

// chat: max_completion_tokens and logprobs as a boolean with top_logprobs; completions:
// max_tokens (default 16) and logprobs as the number of alternatives. Throws HttpError 400.
OpenAiParams parse_openai_params(const nlohmann::json& body, bool chat);

}  // namespace cpm

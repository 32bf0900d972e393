// Sampling parameters of OpenAI requests, plus the sglang extras they may carry.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "runtime/sampling_params.h"

namespace cpm {

struct OpenAiParams {
  SamplingParams sampling;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
};

// chat: max_completion_tokens and logprobs as a boolean with top_logprobs; completions:
// max_tokens (default 16) and logprobs as the number of alternatives. Both: logit_bias,
// response_format (text, json_object, json_schema) and sglang's regex. `raw_body` is the request's
// text, re-read for a schema's property order. Throws HttpError 400.
OpenAiParams parse_openai_params(const nlohmann::json& body, bool chat, const std::string& raw_body);

}  // namespace cpm

#include "runtime/sampling_params.h"

#include <cmath>

#include "core/error.h"

namespace cpm {

namespace {
void require(bool ok, const char* name, double value, const char* range) {
  if (!ok) fail("sampling parameter ", name, " = ", value, " is out of range: must be ", range);
}
}  // namespace

void SamplingParams::validate() const {
  require(std::isfinite(temperature) && temperature >= 0 && temperature <= 100, "temperature", temperature,
          "between 0 and 100");
  require(top_k >= -1, "top_k", top_k, "-1 (off) or a positive count");
  require(std::isfinite(top_p) && top_p > 0 && top_p <= 1, "top_p", top_p, "in (0, 1]");
  require(std::isfinite(min_p) && min_p >= 0 && min_p <= 1, "min_p", min_p, "in [0, 1]");
  require(std::isfinite(repetition_penalty) && repetition_penalty > 0 && repetition_penalty <= 10,
          "repetition_penalty", repetition_penalty, "in (0, 10]");
  require(std::isfinite(frequency_penalty) && std::fabs(frequency_penalty) <= 2, "frequency_penalty",
          frequency_penalty, "in [-2, 2]");
  require(std::isfinite(presence_penalty) && std::fabs(presence_penalty) <= 2, "presence_penalty",
          presence_penalty, "in [-2, 2]");
  require(max_new_tokens >= 0, "max_new_tokens", max_new_tokens, "at least 0");
  require(logprob_start_len >= -1, "logprob_start_len", logprob_start_len, "-1 (none) or a prompt position");
  require(min_new_tokens >= 0 && min_new_tokens <= max_new_tokens, "min_new_tokens", min_new_tokens,
          "between 0 and max_new_tokens");
  require(top_logprobs >= 0 && top_logprobs <= 20, "top_logprobs", top_logprobs, "between 0 and 20");
  for (int32_t id : stop_token_ids) require(id >= 0, "stop_token_ids", id, "non-negative token ids");
  for (const auto& [id, bias] : logit_bias) {
    require(id >= 0, "logit_bias token id", id, "a non-negative token id");
    require(std::isfinite(bias) && bias >= -100 && bias <= 100, "logit_bias", bias, "in [-100, 100]");
  }
  if (!regex.empty() + !json_schema.empty() + !ebnf.empty() > 1)
    fail("sampling parameters regex, json_schema and ebnf: give at most one");
  for (const std::string& text : stop) {
    if (text.empty()) fail("sampling parameter stop: stop strings must not be empty");
  }
}

}  // namespace cpm

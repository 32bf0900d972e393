// SamplingParams from the JSON of sglang's "sampling_params" object (also used by prompt files).
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/sampling_params.h"

namespace cpm {

// Reads the known keys over `defaults`; a key with the wrong type throws cpm::Error naming it.
// Unknown keys are ignored, as sglang does, so clients of other servers keep working.
// regex, json_schema (a JSON text, or an object: then its keys come in nlohmann::json's sorted order,
// so a server re-reads the request to keep the client's property order) and ebnf (a grammar's text)
// select structured output.
SamplingParams sampling_params_from_json(const nlohmann::json& object, SamplingParams defaults = {});

// {"token id": bias, ...} as OpenAI and sglang send logit_bias; throws cpm::Error naming a bad entry.
std::vector<std::pair<int32_t, float>> logit_bias_from_json(const nlohmann::json& object);

}  // namespace cpm

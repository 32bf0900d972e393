#include "server/openai_params.h"

#include "runtime/json_schema_regex.h"
#include "runtime/sampling_params_json.h"
#include "server/json_fields.h"

namespace cpm {

namespace {

using nlohmann::json;

std::vector<std::string> read_stop(const json& body) {
  std::vector<std::string> stops;
  if (!body.contains("stop") || body["stop"].is_null()) return stops;
  const json& stop = body["stop"];
  if (stop.is_string()) return {stop.get<std::string>()};
  if (!stop.is_array())
    throw HttpError(400, "'stop' must be a string or a list of strings", "invalid_request_error", "stop");
  for (const json& item : stop) {
    if (!item.is_string())
      throw HttpError(400, "'stop' must be a string or a list of strings", "invalid_request_error", "stop");
    stops.push_back(item.get<std::string>());
  }
  return stops;
}

void read_extras(const json& body, SamplingParams& p) {
  if (auto v = optional_field<int32_t>(body, "top_k")) p.top_k = *v;
  if (auto v = optional_field<float>(body, "min_p")) p.min_p = *v;
  if (auto v = optional_field<float>(body, "repetition_penalty")) p.repetition_penalty = *v;
  if (auto v = optional_field<bool>(body, "ignore_eos")) p.ignore_eos = *v;
  if (auto v = optional_field<int32_t>(body, "min_tokens")) p.min_new_tokens = *v;
  if (auto v = optional_field<bool>(body, "skip_special_tokens")) p.skip_special_tokens = *v;
  if (body.contains("stop_token_ids") && !body["stop_token_ids"].is_null()) {
    if (!body["stop_token_ids"].is_array())
      throw HttpError(400, "'stop_token_ids' must be a list of integers");
    for (const json& id : body["stop_token_ids"]) {
      if (!id.is_number_integer()) throw HttpError(400, "'stop_token_ids' must be a list of integers");
      p.stop_token_ids.push_back(id.get<int32_t>());
    }
  }
}

// OpenAI's response_format and sglang's regex / ebnf extras.
void read_structured_output(const json& body, const std::string& raw_body, SamplingParams& p) {
  if (auto regex = optional_field<std::string>(body, "regex")) p.regex = *regex;
  if (auto ebnf = optional_field<std::string>(body, "ebnf")) p.ebnf = *ebnf;
  if (!p.regex.empty() && !p.ebnf.empty())
    throw HttpError(400, "give either 'regex' or 'ebnf', not both", "invalid_request_error", "ebnf");
  if (!body.contains("response_format") || body["response_format"].is_null()) return;
  const json& format = body["response_format"];
  auto bad = [](const std::string& message) {
    return HttpError(400, message, "invalid_request_error", "response_format");
  };
  if (!format.is_object() || !format.contains("type") || !format["type"].is_string())
    throw bad("'response_format' must be an object with a 'type'");
  const std::string type = format["type"].get<std::string>();
  if (type == "text") return;
  if (!p.regex.empty() || !p.ebnf.empty())
    throw bad("give either 'regex' / 'ebnf' or 'response_format', not both");
  if (type == "json_object") {
    p.regex = json_object_regex();
  } else if (type == "json_schema") {
    if (!format.contains("json_schema") || !format["json_schema"].is_object() ||
        !format["json_schema"].contains("schema"))
      throw bad("'response_format' of type json_schema needs 'json_schema': {'name': ..., 'schema': {...}}");
    // Re-read in the client's key order: properties are generated in the schema's order.
    p.json_schema =
        nlohmann::ordered_json::parse(raw_body)["response_format"]["json_schema"]["schema"].dump();
  } else {
    throw bad("'response_format' type '" + type + "' is not one of text, json_object, json_schema");
  }
}

}  // namespace

OpenAiParams parse_openai_params(const json& body, bool chat, const std::string& raw_body) {
  OpenAiParams params;
  SamplingParams& p = params.sampling;
  p.temperature = optional_field<float>(body, "temperature").value_or(1.0f);
  p.top_p = optional_field<float>(body, "top_p").value_or(1.0f);
  p.frequency_penalty = optional_field<float>(body, "frequency_penalty").value_or(0.0f);
  p.presence_penalty = optional_field<float>(body, "presence_penalty").value_or(0.0f);
  if (auto seed = optional_field<int64_t>(body, "seed")) p.seed = static_cast<uint64_t>(*seed);
  p.stop = read_stop(body);
  // Without a limit a chat reply may run to the end of the context (the engine clips it there).
  p.max_new_tokens = chat ? INT32_MAX : 16;
  if (auto v = optional_field<int32_t>(body, "max_tokens")) p.max_new_tokens = *v;
  if (chat) {
    if (auto v = optional_field<int32_t>(body, "max_completion_tokens")) p.max_new_tokens = *v;
    p.return_logprob = optional_field<bool>(body, "logprobs").value_or(false);
    p.top_logprobs = optional_field<int32_t>(body, "top_logprobs").value_or(0);
    if (p.top_logprobs > 0 && !p.return_logprob) {
      throw HttpError(400, "'top_logprobs' needs 'logprobs': true", "invalid_request_error", "top_logprobs");
    }
  } else if (auto v = optional_field<int32_t>(body, "logprobs")) {
    p.return_logprob = true;
    p.top_logprobs = *v;
  }
  read_extras(body, p);
  read_structured_output(body, raw_body, p);
  if (body.contains("logit_bias") && !body["logit_bias"].is_null()) {
    try {
      p.logit_bias = logit_bias_from_json(body["logit_bias"]);
    } catch (const Error& error) {
      throw HttpError(400, error.what(), "invalid_request_error", "logit_bias");
    }
  }
  params.n = optional_field<int32_t>(body, "n").value_or(1);
  if (params.n < 1 || params.n > 128)
    throw HttpError(400, "'n' must be between 1 and 128", "invalid_request_error", "n");
  params.stream = optional_field<bool>(body, "stream").value_or(false);
  if (body.contains("stream_options") && body["stream_options"].is_object()) {
    params.include_usage = optional_field<bool>(body["stream_options"], "include_usage").value_or(false);
  }
  try {
    p.validate();
  } catch (const Error& error) {
    throw HttpError(400, error.what());
  }
  return params;
}

}  // namespace cpm

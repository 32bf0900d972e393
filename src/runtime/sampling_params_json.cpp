#include "runtime/sampling_params_json.h"

#include <climits>

#include "core/error.h"

namespace cpm {

namespace {

using nlohmann::json;

template <typename T>
void read_number(const json& object, const char* key, T* out) {
  if (!object.contains(key) || object[key].is_null()) return;
  const json& value = object[key];
  if (!value.is_number() || (std::is_integral_v<T> && !value.is_number_integer())) {
    fail("sampling parameter ", key, " must be ", std::is_integral_v<T> ? "an integer" : "a number", ", got ",
         value.dump());
  }
  *out = value.get<T>();
}

void read_bool(const json& object, const char* key, bool* out) {
  if (!object.contains(key) || object[key].is_null()) return;
  if (!object[key].is_boolean())
    fail("sampling parameter ", key, " must be true or false, got ", object[key].dump());
  *out = object[key].get<bool>();
}

}  // namespace

SamplingParams sampling_params_from_json(const json& object, SamplingParams params) {
  if (object.is_null()) return params;
  if (!object.is_object()) fail("sampling_params must be an object, got ", object.dump());
  read_number(object, "temperature", &params.temperature);
  read_number(object, "top_k", &params.top_k);
  read_number(object, "top_p", &params.top_p);
  read_number(object, "min_p", &params.min_p);
  read_number(object, "repetition_penalty", &params.repetition_penalty);
  read_number(object, "frequency_penalty", &params.frequency_penalty);
  read_number(object, "presence_penalty", &params.presence_penalty);
  read_number(object, "max_new_tokens", &params.max_new_tokens);
  read_number(object, "min_new_tokens", &params.min_new_tokens);
  read_bool(object, "ignore_eos", &params.ignore_eos);
  read_bool(object, "skip_special_tokens", &params.skip_special_tokens);
  if (object.contains("seed") && !object["seed"].is_null()) {
    if (!object["seed"].is_number_integer()) fail("sampling parameter seed must be an integer");
    params.seed = object["seed"].get<uint64_t>();
  }
  if (object.contains("stop") && !object["stop"].is_null()) {
    const json& stop = object["stop"];
    params.stop.clear();
    if (stop.is_string()) {
      params.stop.push_back(stop.get<std::string>());
    } else if (stop.is_array()) {
      for (const json& item : stop) {
        if (!item.is_string()) fail("sampling parameter stop must be a string or a list of strings");
        params.stop.push_back(item.get<std::string>());
      }
    } else {
      fail("sampling parameter stop must be a string or a list of strings");
    }
  }
  if (object.contains("stop_token_ids") && !object["stop_token_ids"].is_null()) {
    const json& ids = object["stop_token_ids"];
    if (!ids.is_array()) fail("sampling parameter stop_token_ids must be a list of integers");
    params.stop_token_ids.clear();
    for (const json& id : ids) {
      if (!id.is_number_integer()) fail("sampling parameter stop_token_ids must be a list of integers");
      params.stop_token_ids.push_back(id.get<int32_t>());
    }
  }
  if (object.contains("regex") && !object["regex"].is_null()) {
    if (!object["regex"].is_string()) fail("sampling parameter regex must be a string");
    params.regex = object["regex"].get<std::string>();
  }
  if (object.contains("json_schema") && !object["json_schema"].is_null()) {
    const json& schema = object["json_schema"];
    if (!schema.is_string() && !schema.is_object() && !schema.is_boolean())
      fail("sampling parameter json_schema must be a JSON schema (an object, or its text)");
    params.json_schema = schema.is_string() ? schema.get<std::string>() : schema.dump();
  }
  if (object.contains("ebnf") && !object["ebnf"].is_null()) {
    if (!object["ebnf"].is_string()) fail("sampling parameter ebnf must be a grammar's text");
    params.ebnf = object["ebnf"].get<std::string>();
  }
  if (object.contains("logit_bias") && !object["logit_bias"].is_null())
    params.logit_bias = logit_bias_from_json(object["logit_bias"]);
  return params;
}

std::vector<std::pair<int32_t, float>> logit_bias_from_json(const json& object) {
  if (!object.is_object())
    fail("logit_bias must be an object mapping token ids to biases, got ", object.dump());
  std::vector<std::pair<int32_t, float>> biases;
  for (auto it = object.begin(); it != object.end(); ++it) {
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(it.key(), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != it.key().size() || id < 0 || id > INT32_MAX)
      fail("logit_bias key \"", it.key(), "\" is not a token id");
    if (!it.value().is_number()) fail("logit_bias for token ", it.key(), " must be a number");
    biases.push_back({static_cast<int32_t>(id), it.value().get<float>()});
  }
  return biases;
}

}  // namespace cpm

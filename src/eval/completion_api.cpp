#include "eval/completion_api.h"

#include "core/error.h"

namespace cpm {

namespace {

using nlohmann::json;

json parse_json(std::string_view text, std::string_view what) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) fail(what, " is not JSON: ", std::string(text.substr(0, 200)));
  return parsed;
}

int64_t count_or_unknown(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number_integer()) return -1;
  return object[key].get<int64_t>();
}

// An `{"error": ...}` object (OpenAI style, also sent mid-stream) becomes a cpm::Error.
void throw_if_error(const json& object) {
  if (!object.is_object() || !object.contains("error")) return;
  const json& error = object["error"];
  if (error.is_object() && error.contains("message") && error["message"].is_string()) {
    fail("server error: ", error["message"].get<std::string>());
  }
  fail("server error: ", dump_json(error));
}

// sglang's finish_reason is an object {"type": ...} (or null while running); accept a string too.
std::string native_finish_reason(const json& meta) {
  if (!meta.is_object() || !meta.contains("finish_reason")) return "";
  const json& reason = meta["finish_reason"];
  if (reason.is_string()) return reason.get<std::string>();
  if (!reason.is_object() || !reason.contains("type") || !reason["type"].is_string()) return "";
  const std::string type = reason["type"].get<std::string>();
  if (type == "error") fail("server error: ", reason.value("message", std::string("(no message)")));
  return type;
}

void read_native(const json& response, CompletionResult* result) {
  if (response.is_array() && response.size() == 1) return read_native(response[0], result);
  throw_if_error(response);
  if (!response.is_object() || !response.contains("text") || !response["text"].is_string()) {
    fail("a /generate response has no string 'text': ", dump_json(response).substr(0, 200));
  }
  result->text = response["text"].get<std::string>();
  const json meta = response.value("meta_info", json::object());
  result->prompt_tokens = count_or_unknown(meta, "prompt_tokens");
  result->completion_tokens = count_or_unknown(meta, "completion_tokens");
  result->finish_reason = native_finish_reason(meta);
}

void read_usage(const json& response, CompletionResult* result) {
  if (!response.contains("usage") || !response["usage"].is_object()) return;
  result->prompt_tokens = count_or_unknown(response["usage"], "prompt_tokens");
  result->completion_tokens = count_or_unknown(response["usage"], "completion_tokens");
}

// The first choice of an OpenAI completion (or chunk), or nullptr when there is none.
const json* first_choice(const json& response) {
  if (!response.contains("choices") || !response["choices"].is_array() || response["choices"].empty()) {
    return nullptr;
  }
  return &response["choices"][0];
}

std::string choice_finish_reason(const json& choice) {
  return choice.contains("finish_reason") && choice["finish_reason"].is_string()
             ? choice["finish_reason"].get<std::string>()
             : "";
}

}  // namespace

ApiBackend parse_api_backend(std::string_view name) {
  if (name == "native" || name == "sglang") return ApiBackend::kNative;
  if (name == "openai") return ApiBackend::kOpenAi;
  fail("unknown backend '", std::string(name), "' (expected native or openai)");
}

std::string_view api_backend_name(ApiBackend backend) {
  return backend == ApiBackend::kNative ? "native" : "openai";
}

std::string api_path(ApiBackend backend) {
  return backend == ApiBackend::kNative ? "/generate" : "/v1/completions";
}

json completion_body(ApiBackend backend, const CompletionRequest& request, const std::string& model,
                     bool stream) {
  const bool ids = !request.input_ids.empty();
  if (backend == ApiBackend::kNative) {
    json sampling = {{"max_new_tokens", request.max_tokens}, {"temperature", request.temperature}};
    if (!request.stop.empty()) sampling["stop"] = request.stop;
    if (request.ignore_eos) sampling["ignore_eos"] = true;
    json body = {{"sampling_params", sampling}, {"stream", stream}};
    if (ids) {
      body["input_ids"] = request.input_ids;
    } else {
      body["text"] = request.prompt;
    }
    return body;
  }
  json body = {{"prompt", ids ? json(request.input_ids) : json(request.prompt)},
               {"max_tokens", request.max_tokens},
               {"temperature", request.temperature},
               {"stream", stream}};
  if (!model.empty()) body["model"] = model;
  if (!request.stop.empty()) body["stop"] = request.stop;
  if (request.ignore_eos) body["ignore_eos"] = true;
  if (stream) body["stream_options"] = {{"include_usage", true}};
  return body;
}

CompletionResult parse_completion(ApiBackend backend, std::string_view body) {
  const json response = parse_json(body, "the response");
  CompletionResult result;
  if (backend == ApiBackend::kNative) {
    read_native(response, &result);
    return result;
  }
  throw_if_error(response);
  const json* choice = first_choice(response);
  if (choice == nullptr || !choice->contains("text") || !(*choice)["text"].is_string()) {
    fail("a /v1/completions response has no choices[0].text: ", std::string(body.substr(0, 200)));
  }
  result.text = (*choice)["text"].get<std::string>();
  result.finish_reason = choice_finish_reason(*choice);
  read_usage(response, &result);
  return result;
}

int64_t CompletionStream::feed(std::string_view payload) {
  if (payload == "[DONE]") {
    done_ = true;
    return 0;
  }
  const json chunk = parse_json(payload, "a stream chunk");
  return backend_ == ApiBackend::kNative ? feed_native(chunk) : feed_openai(chunk);
}

// sglang sends the cumulative text with every chunk. Like sglang's bench_serving, a chunk is content
// only once the text is non-empty, and it carries the tokens added since the last content chunk.
int64_t CompletionStream::feed_native(const json& chunk) {
  CompletionResult latest;
  read_native(chunk, &latest);
  const size_t previous_size = result_.text.size();
  result_ = latest;
  if (latest.text.empty()) return 0;
  if (latest.completion_tokens < 0) return latest.text.size() > previous_size ? 1 : 0;
  const int64_t added = latest.completion_tokens - counted_tokens_;
  if (added <= 0) return 0;
  counted_tokens_ = latest.completion_tokens;
  return added;
}

// OpenAI chunks carry text deltas; the usage chunk (choices empty) comes last.
int64_t CompletionStream::feed_openai(const json& chunk) {
  throw_if_error(chunk);
  read_usage(chunk, &result_);
  const json* choice = first_choice(chunk);
  if (choice == nullptr) return 0;
  const std::string reason = choice_finish_reason(*choice);
  if (!reason.empty()) result_.finish_reason = reason;
  if (!choice->contains("text") || !(*choice)["text"].is_string()) return 0;
  const std::string& delta = (*choice)["text"].get_ref<const std::string&>();
  result_.text += delta;
  return delta.empty() ? 0 : 1;
}

std::string resolve_model_name(HttpClient& client, const std::string& requested) {
  if (!requested.empty()) return requested;
  const HttpResult models = client.get_with_retries("/v1/models");
  if (!models.ok()) fail("cannot list the server's models (pass --model): ", models.error);
  const json list = parse_json(models.body, "GET /v1/models");
  if (!list.contains("data") || !list["data"].is_array() || list["data"].empty() ||
      !list["data"][0].contains("id") || !list["data"][0]["id"].is_string()) {
    fail("GET /v1/models lists no model id (pass --model)");
  }
  return list["data"][0]["id"].get<std::string>();
}

}  // namespace cpm

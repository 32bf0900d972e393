// Text completion requests in the two dialects inference servers speak: sglang's native
// `POST /generate` and OpenAI's `POST /v1/completions`, plain or streamed as server-sent events.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "eval/http_client.h"

namespace cpm {

enum class ApiBackend { kNative, kOpenAi };

// "native" or "openai"; throws cpm::Error otherwise.
ApiBackend parse_api_backend(std::string_view name);
std::string_view api_backend_name(ApiBackend backend);
// The endpoint a backend posts completions to.
std::string api_path(ApiBackend backend);

struct CompletionRequest {
  std::string prompt;              // the text prompt, used when input_ids is empty
  std::vector<int32_t> input_ids;  // a prompt given as token ids instead (both APIs accept them)
  int64_t max_tokens = 16;
  double temperature = 0;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // an sglang/vLLM extension; only sent when set
};

struct CompletionResult {
  std::string text;
  int64_t prompt_tokens = -1;  // -1 when the server did not report the count
  int64_t completion_tokens = -1;
  std::string finish_reason;  // "stop", "length", ... or "" when not reported
};

// The JSON body for `api_path(backend)`. `model` is only used (and then required by most servers)
// for the OpenAI API. Streamed OpenAI requests ask for a final usage chunk.
nlohmann::json completion_body(ApiBackend backend, const CompletionRequest& request, const std::string& model,
                               bool stream);

// Reads a non-streamed response body; throws cpm::Error when it is not the expected JSON.
CompletionResult parse_completion(ApiBackend backend, std::string_view body);

// Follows one streamed completion, one SSE data payload at a time.
class CompletionStream {
 public:
  explicit CompletionStream(ApiBackend backend) : backend_(backend) {}

  // Returns how many new tokens the chunk carries: 0 for a chunk without new text (role, usage,
  // [DONE]). A native chunk counts the tokens it adds (from meta_info.completion_tokens); an OpenAI
  // chunk with text counts as one. Throws cpm::Error for an error event or malformed JSON.
  int64_t feed(std::string_view payload);

  // True once [DONE] or a finish reason has arrived: a stream cut short is a failure.
  bool complete() const { return done_ || !result_.finish_reason.empty(); }
  const CompletionResult& result() const { return result_; }

 private:
  int64_t feed_native(const nlohmann::json& chunk);
  int64_t feed_openai(const nlohmann::json& chunk);

  ApiBackend backend_;
  CompletionResult result_;
  int64_t counted_tokens_ = 0;  // native: completion tokens already reported as content
  bool done_ = false;
};

// `requested` when not empty, else the first model id of `GET /v1/models` (as sglang's
// bench_serving does). Throws cpm::Error when the list cannot be read or is empty.
std::string resolve_model_name(HttpClient& client, const std::string& requested);

}  // namespace cpm

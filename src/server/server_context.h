// State shared by the endpoint implementations, and the small HTTP helpers they all use.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/error.h"
#include "server/chat_template.h"
#include "server/generation_session.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/session_registry.h"

namespace httplib {
struct DataSink;
}

namespace cpm {

// An error answered with the OpenAI error JSON and this HTTP status.
class HttpError : public Error {
 public:
  HttpError(int status, const std::string& message, std::string type = "invalid_request_error",
            std::string param = "")
      : Error(message), status_(status), type_(std::move(type)), param_(std::move(param)) {}
  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }

 private:
  int status_;
  std::string type_;
  std::string param_;
};

struct HttpServer::Context {
  Context(Engine& engine_in, const Tokenizer* tokenizer_in, ServerOptions options_in)
      : engine(engine_in), tokenizer(tokenizer_in), options(std::move(options_in)) {}

  Engine& engine;
  const Tokenizer* tokenizer;
  ServerOptions options;
  ServerMetrics metrics;
  SessionRegistry sessions;  // generations in flight by request id, for /abort_request
  std::optional<ChatTemplate> chat_template;
  std::atomic<uint64_t> next_id{1};
  int64_t created = 0;  // unix time the server started

  std::string new_id(const std::string& prefix) { return prefix + std::to_string(next_id++); }
};

using ServerContext = HttpServer::Context;

// {"error": {"message", "type", "param", "code"}} with `status`.
void send_error(ServerContext& context, httplib::Response& response, int status, const std::string& message,
                const std::string& type = "invalid_request_error", const std::string& param = "");
void send_json(ServerContext& context, httplib::Response& response, const nlohmann::ordered_json& body,
               int status = 200);
// The JSON object of the request body; HttpError 400 when malformed or not an object.
nlohmann::json parse_body(const httplib::Request& request);
// Runs `handler`, turning every exception into the right error response.
void guarded(ServerContext& context, httplib::Response& response, const std::function<void()>& handler);

// Streams server-sent events from a session: `on_chunk` turns each chunk into zero or more
// "data: ..." payloads, `finish` writes the closing events. A client that goes away aborts the
// session (its KV pages return to the pool).
void stream_events(ServerContext& context, httplib::Response& response,
                   std::shared_ptr<GenerationSession> session,
                   std::function<std::vector<std::string>(size_t, const OutputChunk&)> on_chunk,
                   std::function<std::vector<std::string>()> finish);

// One log line per finished HTTP generation request.
void log_request(const std::string& id, const std::string& endpoint, const std::vector<OutputChunk>& results,
                 double seconds);

// Tokenizes text, or fails with 400 when the model has no tokenizer.
std::vector<int32_t> tokenize_text(ServerContext& context, const std::string& text, bool add_special_tokens);
// Checks the "model" field against the served name (404 when it names another model).
void check_model_name(ServerContext& context, const nlohmann::json& body);

}  // namespace cpm

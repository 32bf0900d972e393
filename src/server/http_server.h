// The HTTP front end: OpenAI-compatible (/v1/chat/completions, /v1/completions, /v1/models) and
// sglang-style (/generate, /health, /health_generate, /get_model_info, /get_server_info,
// /flush_cache, /metrics) endpoints over one Engine. Handlers run on cpp-httplib's worker threads,
// tokenize and render templates there, and wait on their own request streams: the engine's step
// loop never waits for HTTP.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "server/chat_template.h"
#include "server/metrics.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
class Request;
class Response;
}  // namespace httplib

namespace cpm {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 30000;
  std::string api_key;            // empty: no authentication
  std::string served_model_name;  // default: the model folder's name
  std::string model_path;
  size_t max_body_bytes = 32 << 20;
  int http_threads = 0;  // 0: enough for max_running_requests plus spare
  // How long the server waits for a client's request bytes, or for it to take response bytes.
  int socket_timeout_seconds = 60;
  // Web pages (their Origin header) that browsers may let call the API (CORS); "*" for any, none
  // for no cross-origin calls.
  std::vector<std::string> allowed_origins = {"*"};
};

class HttpServer {
 public:
  // tokenizer may be null (token-id requests only).
  HttpServer(Engine& engine, const Tokenizer* tokenizer, ServerOptions options);
  ~HttpServer();

  // Binds (port 0 picks a free one) and returns the port; throws cpm::Error when it cannot bind.
  int bind();
  // Serves until stop(); call after bind().
  void serve();
  // Stops accepting; handlers in flight see their requests aborted by the engine's shutdown.
  void stop();

  // Shared with the endpoint implementations.
  struct Context;

 private:
  void register_routes();
  std::unique_ptr<Context> context_;
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace cpm

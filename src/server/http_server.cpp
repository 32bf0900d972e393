#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <ctime>
#include <filesystem>

#include "server/log.h"
#include "server/native_api.h"
#include "server/openai_api.h"
#include "server/server_context.h"
#include "server/tokenize_api.h"

namespace cpm {

namespace {

std::optional<ChatTemplate> load_chat_template(const Tokenizer* tokenizer) {
  if (tokenizer != nullptr && !tokenizer->chat_template().empty()) {
    return ChatTemplate(tokenizer->chat_template());
  }
  log_message(LogLevel::kWarning, "the model has no chat_template in tokenizer_config.json: using ChatML");
  return ChatTemplate(default_chatml_template());
}

bool needs_api_key(const std::string& path) {
  return path != "/health" && path != "/metrics";
}

bool origin_allowed(const ServerOptions& options, const std::string& origin) {
  for (const std::string& allowed : options.allowed_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

// A browser's CORS preflight (OPTIONS with Origin) asks whether a page may send the real request;
// it carries no API key. The answer names the page's origin itself, which also covers requests
// made with credentials.
void answer_preflight(ServerContext& context, const httplib::Request& request, httplib::Response& response) {
  const std::string origin = request.get_header_value("Origin");
  if (!origin_allowed(context.options, origin)) {
    send_error(context, response, 403, "origin '" + origin + "' is not allowed (serve --allowed-origins)",
               "permission_error");
    return;
  }
  response.status = 204;
  response.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  const std::string asked = request.get_header_value("Access-Control-Request-Headers");
  response.set_header("Access-Control-Allow-Headers", asked.empty() ? "Authorization, Content-Type" : asked);
  response.set_header("Access-Control-Max-Age", "600");
}

}  // namespace

HttpServer::HttpServer(Engine& engine, const Tokenizer* tokenizer, ServerOptions options)
    : context_(std::make_unique<Context>(engine, tokenizer, std::move(options))),
      server_(std::make_unique<httplib::Server>()) {
  if (context_->options.served_model_name.empty()) {
    context_->options.served_model_name =
        std::filesystem::path(context_->options.model_path).lexically_normal().filename().string();
    if (context_->options.served_model_name.empty()) context_->options.served_model_name = "default";
  }
  context_->chat_template = load_chat_template(tokenizer);
  context_->created = static_cast<int64_t>(std::time(nullptr));
  // Every in-flight request holds a worker thread while it waits for tokens: size the pool so that
  // max_running_requests plus a queue's worth of clients never starve health and metrics requests.
  int threads = context_->options.http_threads;
  if (threads <= 0)
    threads = static_cast<int>(std::min<int64_t>(1024, engine.options().max_running_requests * 2 + 16));
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(context_->options.max_body_bytes);
  server_->set_read_timeout(context_->options.socket_timeout_seconds, 0);
  server_->set_write_timeout(context_->options.socket_timeout_seconds, 0);
  register_routes();
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::register_routes() {
  Context& context = *context_;
  httplib::Server& server = *server_;
  server.set_pre_routing_handler([&context](const httplib::Request& request, httplib::Response& response) {
    if (request.method == "OPTIONS") {
      if (request.has_header("Origin")) {
        answer_preflight(context, request, response);
      } else {
        response.status = 204;
        response.set_header("Allow", "GET, POST, OPTIONS");
      }
      return httplib::Server::HandlerResponse::Handled;
    }
    if (context.options.api_key.empty() || !needs_api_key(request.path))
      return httplib::Server::HandlerResponse::Unhandled;
    if (request.get_header_value("Authorization") == "Bearer " + context.options.api_key) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    send_error(context, response, 401, "invalid or missing API key (send 'Authorization: Bearer <key>')",
               "authentication_error");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Every answer to an allowed page, errors and streams included, says so.
  server.set_post_routing_handler([&context](const httplib::Request& request, httplib::Response& response) {
    const std::string origin = request.get_header_value("Origin");
    if (origin.empty() || !origin_allowed(context.options, origin)) return;
    response.set_header("Access-Control-Allow-Origin", origin);
    response.set_header("Access-Control-Allow-Credentials", "true");
    response.set_header("Vary", "Origin");
  });
  server.set_error_handler([&context](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return;
    if (response.status == 413) {
      send_error(context, response, 413,
                 "request body exceeds " + std::to_string(context.options.max_body_bytes) + " bytes",
                 "invalid_request_error");
    } else if (response.status == 404) {
      send_error(context, response, 404, "no endpoint " + request.method + " " + request.path, "not_found");
    } else if (response.status == 400 && request.method == "POST" && !request.has_header("Content-Length") &&
               !request.has_header("Transfer-Encoding")) {
      // cpp-httplib rejects a bodiless POST before routing; `curl -X POST URL` sends exactly that.
      send_error(context, response, 400, "a POST needs a Content-Length header (with curl: -d '' or -d '{}')",
                 "invalid_request_error");
    } else {
      send_error(context, response, response.status, "HTTP error " + std::to_string(response.status),
                 "invalid_request_error");
    }
  });
  auto route = [&context](void (*handler)(Context&, const httplib::Request&, httplib::Response&)) {
    return [&context, handler](const httplib::Request& request, httplib::Response& response) {
      handler(context, request, response);
    };
  };
  server.Post("/v1/completions", route(handle_completions));
  server.Post("/v1/chat/completions", route(handle_chat_completions));
  server.Get("/v1/models", route(handle_models));
  server.Get(R"(/v1/models/(.+))", route(handle_model));
  server.Post("/generate", route(handle_generate));
  server.Post("/tokenize", route(handle_tokenize));
  server.Post("/detokenize", route(handle_detokenize));
  server.Get("/health", [&context](const httplib::Request&, httplib::Response& response) {
    response.status = 200;
    context.metrics.record_http_status(200);
  });
  server.Get("/health_generate", route(handle_health_generate));
  server.Get("/get_model_info", route(handle_model_info));
  server.Get("/get_server_info", route(handle_server_info));
  server.Post("/abort_request", route(handle_abort_request));
  server.Post("/flush_cache", route(handle_flush_cache));
  server.Get("/flush_cache", route(handle_flush_cache));
  server.Get("/metrics", route(handle_metrics));
}

int HttpServer::bind() {
  const ServerOptions& options = context_->options;
  // Debian's libcpp-httplib listens with a backlog of 5, so a burst of clients beyond that waits a
  // second for SYN retransmission. Keep the listening socket when it is created (the hook replaces
  // httplib's default options, hence SO_REUSEADDR here) and listen again with a deep backlog.
  int listening_socket = -1;
  server_->set_socket_options([&listening_socket](socket_t socket) {
    int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listening_socket = socket;
  });
  int port = options.port;
  if (port == 0) {
    port = server_->bind_to_any_port(options.host);
    if (port < 0) fail("cannot bind to ", options.host);
  } else if (!server_->bind_to_port(options.host, port)) {
    fail("cannot bind to ", options.host, ":", port, " (in use, or not an address of this machine)");
  }
  if (listening_socket >= 0) ::listen(listening_socket, 1024);
  context_->options.port = port;
  return port;
}

void HttpServer::serve() {
  server_->listen_after_bind();
}

void HttpServer::stop() {
  if (server_) server_->stop();
}

}  // namespace cpm

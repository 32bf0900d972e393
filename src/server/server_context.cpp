#include "server/server_context.h"

#include <httplib.h>

#include <sstream>

#include "server/log.h"

namespace cpm {

void send_json(ServerContext& context, httplib::Response& response, const nlohmann::ordered_json& body,
               int status) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       "application/json");
  context.metrics.record_http_status(status);
}

void send_error(ServerContext& context, httplib::Response& response, int status, const std::string& message,
                const std::string& type, const std::string& param) {
  nlohmann::ordered_json error = {
      {"message", message},
      {"type", type},
      {"param", param.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(param)},
      {"code", status}};
  send_json(context, response, {{"error", error}}, status);
  log_message(status >= 500 ? LogLevel::kError : LogLevel::kInfo,
              "HTTP " + std::to_string(status) + ": " + message);
}

nlohmann::json parse_body(const httplib::Request& request) {
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::parse_error& error) {
    throw HttpError(400, std::string("request body is not valid JSON: ") + error.what());
  }
  if (!body.is_object()) throw HttpError(400, "request body must be a JSON object");
  return body;
}

void guarded(ServerContext& context, httplib::Response& response, const std::function<void()>& handler) {
  try {
    handler();
  } catch (const HttpError& error) {
    send_error(context, response, error.status(), error.what(), error.type(), error.param());
  } catch (const QueueFullError& error) {
    send_error(context, response, 503, error.what(), "server_busy");
  } catch (const Error& error) {
    send_error(context, response, 400, error.what());
  } catch (const nlohmann::json::exception& error) {
    send_error(context, response, 400, std::string("invalid request: ") + error.what());
  } catch (const std::exception& error) {
    send_error(context, response, 500, std::string("internal error: ") + error.what(), "internal_error");
  }
}

void stream_events(ServerContext& context, httplib::Response& response,
                   std::shared_ptr<GenerationSession> session,
                   std::function<std::vector<std::string>(size_t, const OutputChunk&)> on_chunk,
                   std::function<std::vector<std::string>()> finish) {
  response.status = 200;
  context.metrics.record_http_status(200);
  response.set_header("Cache-Control", "no-cache");
  response.set_chunked_content_provider(
      "text/event-stream", [session, on_chunk, finish](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& payload) {
          const std::string event = "data: " + payload + "\n\n";
          return sink.write(event.data(), event.size());
        };
        size_t index;
        OutputChunk chunk;
        while (!session->finished()) {
          if (!session->next(&index, &chunk, std::chrono::milliseconds(1000))) {
            // Idle (queued or long prefill): a comment line probes whether the client is still there.
            static const std::string kKeepAlive = ": keep-alive\n\n";
            if (!sink.write(kKeepAlive.data(), kKeepAlive.size())) {
              session->abort();
              return false;
            }
            continue;
          }
          for (const std::string& payload : on_chunk(index, chunk)) {
            if (!write(payload)) {
              session->abort();
              return false;
            }
          }
        }
        for (const std::string& payload : finish()) write(payload);
        write("[DONE]");
        sink.done();
        return true;
      });
}

void log_request(const std::string& id, const std::string& endpoint, const std::vector<OutputChunk>& results,
                 double seconds) {
  int64_t prompt = 0, completion = 0, cached = 0;
  std::string reasons;
  for (const OutputChunk& result : results) {
    prompt += result.prompt_tokens;
    completion += result.completion_tokens;
    cached += result.cached_tokens;
    reasons += (reasons.empty() ? "" : ",") + result.finish_reason;
  }
  std::ostringstream line;
  line << "request " << id << " " << endpoint << ": prompt_tokens=" << prompt
       << " completion_tokens=" << completion << " cached_tokens=" << cached << " latency=" << seconds
       << "s finish=" << reasons;
  log_message(LogLevel::kInfo, line.str());
}

std::vector<int32_t> tokenize_text(ServerContext& context, const std::string& text, bool add_special_tokens) {
  if (context.tokenizer == nullptr) {
    throw HttpError(400,
                    "this model has no tokenizer: send token ids (input_ids / a list of integers) instead");
  }
  return context.tokenizer->encode(text, add_special_tokens);
}

void check_model_name(ServerContext& context, const nlohmann::json& body) {
  if (!body.contains("model") || body["model"].is_null()) return;
  if (!body["model"].is_string())
    throw HttpError(400, "'model' must be a string", "invalid_request_error", "model");
  const std::string name = body["model"].get<std::string>();
  if (!name.empty() && name != context.options.served_model_name) {
    throw HttpError(404,
                    "The model '" + name + "' does not exist (this server serves '" +
                        context.options.served_model_name + "')",
                    "model_not_found", "model");
  }
}

}  // namespace cpm

// A small HTTP client for talking to inference servers: GET, POST of a JSON body, and POST whose
// response is streamed line by line (server-sent events), with timeouts and bounded retries.
// One HttpClient holds one connection and is not thread-safe: give each worker thread its own.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace httplib {
class Client;
}

namespace cpm {

// "http://host:port/prefix" split into the parts cpp-httplib needs. Only http is supported.
struct BaseUrl {
  std::string host;
  int port = 80;
  std::string path_prefix;  // "" or "/prefix" (no trailing slash); prepended to every request path
};

// Throws cpm::Error for anything but http://host[:port][/prefix].
BaseUrl parse_base_url(const std::string& url);

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  // A non-streaming completion sends nothing until it is done, so this bounds a whole generation
  // (queueing included): keep it long.
  std::chrono::milliseconds read_timeout{86'400'000};
  std::string api_key;                           // sent as "Authorization: Bearer <key>" when not empty
  int max_attempts = 4;                          // 1 + retries, for retry_with_backoff
  std::chrono::milliseconds retry_backoff{250};  // doubled after each failed attempt
};

struct HttpResult {
  int status = 0;     // HTTP status; 0 when no response arrived (connection error, timeout)
  std::string body;   // the response body (for streams: only an error response's body)
  std::string error;  // why the request failed; empty on success
  int attempts = 1;
  bool ok() const { return status == 200 && error.empty(); }
  // Worth another attempt: no response, a server error (5xx), a timeout (408) or too many requests
  // (429). Other 4xx answers (bad request, bad key, unknown model) would only repeat themselves.
  bool retryable() const { return !ok() && (status == 0 || status >= 500 || status == 408 || status == 429); }
};

// Called with each line of a streamed body, without its "\n" or "\r\n". Returning false stops the
// transfer (the result then reports the cancellation as an error).
using LineCallback = std::function<bool(std::string_view line)>;

class HttpClient {
 public:
  HttpClient(const std::string& base_url, HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResult get(const std::string& path);
  HttpResult post_json(const std::string& path, const nlohmann::json& body);
  // Lines of a 200 response go to on_line as they arrive; other responses are collected in body.
  HttpResult post_stream(const std::string& path, const nlohmann::json& body, const LineCallback& on_line);

  // get() retried by retry_with_backoff while the result is retryable().
  HttpResult get_with_retries(const std::string& path);

  const HttpOptions& options() const { return options_; }

 private:
  BaseUrl url_;
  HttpOptions options_;
  std::unique_ptr<httplib::Client> client_;
};

// Calls attempt(number) (from 1) until it returns true ("done": success, or a failure not worth
// repeating) or options.max_attempts calls were made, sleeping options.retry_backoff, doubled each
// time, in between. Returns the number of calls.
int retry_with_backoff(const HttpOptions& options, const std::function<bool(int attempt)>& attempt);

// The payload of a server-sent-events "data:" line (one leading space dropped), or nullopt for any
// other line (comments, "event:", blank separators).
std::optional<std::string_view> sse_data(std::string_view line);

// Serializes a request body; invalid UTF-8 (e.g. from decoding random token ids) becomes U+FFFD
// instead of throwing.
std::string dump_json(const nlohmann::json& body);

}  // namespace cpm

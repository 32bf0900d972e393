#include "eval/http_client.h"

#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <thread>

#include "core/error.h"

namespace cpm {

namespace {

constexpr std::string_view kJsonType = "application/json";

template <typename Rep, typename Period>
std::pair<time_t, time_t> seconds_and_micros(std::chrono::duration<Rep, Period> duration) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
  return {static_cast<time_t>(micros / 1'000'000), static_cast<time_t>(micros % 1'000'000)};
}

std::string describe_failure(const HttpResult& result) {
  if (!result.error.empty()) return result.error;
  std::string body = result.body.substr(0, 300);
  return str_cat("HTTP ", result.status, body.empty() ? "" : ": ", body);
}

// Splits a byte stream into lines as chunks arrive; a line may span chunks.
class LineSplitter {
 public:
  explicit LineSplitter(const LineCallback& on_line) : on_line_(on_line) {}

  bool feed(const char* data, size_t size) {
    pending_.append(data, size);
    size_t start = 0;
    for (size_t newline; (newline = pending_.find('\n', start)) != std::string::npos; start = newline + 1) {
      if (!emit(std::string_view(pending_).substr(start, newline - start))) return false;
    }
    pending_.erase(0, start);
    return true;
  }
  // A last line without a newline still counts.
  bool finish() { return pending_.empty() || emit(pending_); }

 private:
  bool emit(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return on_line_(line);
  }

  const LineCallback& on_line_;
  std::string pending_;
};

}  // namespace

BaseUrl parse_base_url(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    fail("base URL '", url, "' must start with http:// (https is not supported)");
  }
  const std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  BaseUrl parsed;
  if (slash != std::string::npos) parsed.path_prefix = rest.substr(slash);
  while (!parsed.path_prefix.empty() && parsed.path_prefix.back() == '/') parsed.path_prefix.pop_back();
  const size_t colon = authority.rfind(':');
  const bool has_port = colon != std::string::npos && authority.find(']', colon) == std::string::npos;
  parsed.host = has_port ? authority.substr(0, colon) : authority;
  if (parsed.host.size() > 2 && parsed.host.front() == '[' && parsed.host.back() == ']') {
    parsed.host = parsed.host.substr(1, parsed.host.size() - 2);  // [::1]
  }
  if (parsed.host.empty()) fail("base URL '", url, "' has no host");
  if (has_port) {
    const std::string port = authority.substr(colon + 1);
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), parsed.port);
    if (error != std::errc() || end != port.data() + port.size() || parsed.port <= 0 || parsed.port > 65535) {
      fail("base URL '", url, "' has an invalid port '", port, "'");
    }
  }
  return parsed;
}

std::optional<std::string_view> sse_data(std::string_view line) {
  constexpr std::string_view kData = "data:";
  if (line.substr(0, kData.size()) != kData) return std::nullopt;
  line.remove_prefix(kData.size());
  if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  return line;
}

std::string dump_json(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpClient::HttpClient(const std::string& base_url, HttpOptions options)
    : url_(parse_base_url(base_url)),
      options_(std::move(options)),
      client_(std::make_unique<httplib::Client>(url_.host, url_.port)) {
  const auto [connect_s, connect_us] = seconds_and_micros(options_.connect_timeout);
  const auto [read_s, read_us] = seconds_and_micros(options_.read_timeout);
  client_->set_connection_timeout(connect_s, connect_us);
  client_->set_read_timeout(read_s, read_us);
  client_->set_write_timeout(read_s, read_us);
  client_->set_keep_alive(true);
  httplib::Headers headers;
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  client_->set_default_headers(std::move(headers));
}

HttpClient::~HttpClient() = default;

HttpResult HttpClient::get(const std::string& path) {
  HttpResult result;
  httplib::Result response = client_->Get((url_.path_prefix + path).c_str());
  if (!response) {
    result.error = str_cat("GET ", path, ": ", httplib::to_string(response.error()));
    return result;
  }
  result.status = response->status;
  result.body = std::move(response->body);
  if (result.status != 200) result.error = str_cat("GET ", path, ": ", describe_failure(result));
  return result;
}

HttpResult HttpClient::post_json(const std::string& path, const nlohmann::json& body) {
  HttpResult result;
  httplib::Result response =
      client_->Post((url_.path_prefix + path).c_str(), dump_json(body), std::string(kJsonType).c_str());
  if (!response) {
    result.error = str_cat("POST ", path, ": ", httplib::to_string(response.error()));
    return result;
  }
  result.status = response->status;
  result.body = std::move(response->body);
  if (result.status != 200) result.error = str_cat("POST ", path, ": ", describe_failure(result));
  return result;
}

HttpResult HttpClient::post_stream(const std::string& path, const nlohmann::json& body,
                                   const LineCallback& on_line) {
  HttpResult result;
  LineSplitter splitter(on_line);
  bool stopped = false;
  httplib::Request request;
  request.method = "POST";
  request.path = url_.path_prefix + path;
  request.body = dump_json(body);
  request.set_header("Content-Type", std::string(kJsonType));
  request.set_header("Accept", "text/event-stream");
  request.response_handler = [&](const httplib::Response& response) {
    result.status = response.status;
    return true;
  };
  request.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (result.status != 200) {
      result.body.append(data, size);
      return true;
    }
    stopped = !splitter.feed(data, size);
    return !stopped;
  };
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client_->send(request, response, error);
  if (result.status == 0) result.status = response.status > 0 ? response.status : 0;
  if (!sent && !stopped) {
    result.error = str_cat("POST ", path, ": ", httplib::to_string(error));
  } else if (stopped) {
    result.error = str_cat("POST ", path, ": stream abandoned by the reader");
  } else if (result.status != 200) {
    result.error = str_cat("POST ", path, ": ", describe_failure(result));
  } else if (!splitter.finish()) {
    result.error = str_cat("POST ", path, ": stream abandoned by the reader");
  }
  return result;
}

HttpResult HttpClient::get_with_retries(const std::string& path) {
  HttpResult result;
  const int attempts = retry_with_backoff(options_, [&](int) {
    result = get(path);
    return !result.retryable();
  });
  result.attempts = attempts;
  return result;
}

int retry_with_backoff(const HttpOptions& options, const std::function<bool(int attempt)>& attempt) {
  auto backoff = options.retry_backoff;
  const int max_attempts = std::max(1, options.max_attempts);
  for (int tried = 1;; ++tried) {
    if (attempt(tried) || tried >= max_attempts) return tried;
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
}

}  // namespace cpm

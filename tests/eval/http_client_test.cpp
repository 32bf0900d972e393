// The HTTP client against local cpp-httplib servers: URLs, JSON posts, line-split streams, errors,
// retries and the API key header.
#include "eval/http_client.h"

#include <gtest/gtest.h>

#include <atomic>

#include "core/error.h"
#include "fake_server.h"

namespace cpm {
namespace {

// A bare server for routes the fake inference server does not have.
class LocalServer {
 public:
  LocalServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LocalServer() {
    server_.stop();
    thread_.join();
  }
  httplib::Server& server() { return server_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

HttpOptions fast_retries() {
  HttpOptions options;
  options.retry_backoff = std::chrono::milliseconds(1);
  options.connect_timeout = std::chrono::milliseconds(2000);
  return options;
}

TEST(BaseUrl, Parses) {
  const BaseUrl plain = parse_base_url("http://127.0.0.1:30000");
  EXPECT_EQ(plain.host, "127.0.0.1");
  EXPECT_EQ(plain.port, 30000);
  EXPECT_EQ(plain.path_prefix, "");
  const BaseUrl prefixed = parse_base_url("http://example.com/api/");
  EXPECT_EQ(prefixed.host, "example.com");
  EXPECT_EQ(prefixed.port, 80);
  EXPECT_EQ(prefixed.path_prefix, "/api");
  const BaseUrl v6 = parse_base_url("http://[::1]:8080");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 8080);
  EXPECT_THROW(parse_base_url("https://example.com"), Error);
  EXPECT_THROW(parse_base_url("127.0.0.1:30000"), Error);
  EXPECT_THROW(parse_base_url("http://host:99999"), Error);
  EXPECT_THROW(parse_base_url("http://host:12ab"), Error);
  EXPECT_THROW(parse_base_url("http://:80"), Error);
}

TEST(Sse, DataLines) {
  EXPECT_EQ(sse_data("data: {\"a\":1}"), std::optional<std::string_view>("{\"a\":1}"));
  EXPECT_EQ(sse_data("data:[DONE]"), std::optional<std::string_view>("[DONE]"));
  EXPECT_EQ(sse_data(""), std::nullopt);
  EXPECT_EQ(sse_data(": keep-alive"), std::nullopt);
  EXPECT_EQ(sse_data("event: message"), std::nullopt);
}

TEST(HttpClient, GetsAndPostsJson) {
  test::FakeServer server;
  HttpClient client(server.base_url(), fast_retries());
  const HttpResult models = client.get("/v1/models");
  ASSERT_TRUE(models.ok()) << models.error;
  EXPECT_NE(models.body.find("fake-model"), std::string::npos);
  const HttpResult missing = client.get("/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.error.find("404"), std::string::npos);
  const HttpResult generated =
      client.post_json("/generate", {{"text", "hello"}, {"sampling_params", {{"max_new_tokens", 2}}}});
  ASSERT_TRUE(generated.ok()) << generated.error;
  EXPECT_EQ(nlohmann::json::parse(generated.body)["text"], "w0 w1 ");
  // Invalid UTF-8 in a body is replaced rather than thrown.
  EXPECT_TRUE(client.post_json("/generate", {{"text", "bad \xC3"}}).ok());
  EXPECT_EQ(server.bodies().back()["text"], "bad \xEF\xBF\xBD");
}

TEST(HttpClient, StreamsLinesSplitAcrossChunks) {
  LocalServer local;
  local.server().Post("/stream", [](const httplib::Request&, httplib::Response& response) {
    auto parts = std::make_shared<std::vector<std::string>>(std::vector<std::string>{
        "data: {\"a\"", ":1}\r\n\r", "\ndata: [DONE]\n", "\nlast line without newline"});
    auto next = std::make_shared<size_t>(0);
    response.set_chunked_content_provider("text/event-stream",
                                          [parts, next](size_t, httplib::DataSink& sink) {
                                            const std::string& part = (*parts)[(*next)++];
                                            sink.write(part.data(), part.size());
                                            if (*next == parts->size()) sink.done();
                                            return true;
                                          });
  });
  HttpClient client(local.base_url(), fast_retries());
  std::vector<std::string> lines;
  const HttpResult result = client.post_stream("/stream", {{"x", 1}}, [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  });
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(lines, (std::vector<std::string>{"data: {\"a\":1}", "", "data: [DONE]", "",
                                             "last line without newline"}));
}

TEST(HttpClient, StreamErrorsAndCancellation) {
  test::FakeServerOptions with_key;
  with_key.api_key = "secret";
  test::FakeServer server(with_key);
  HttpClient anonymous(server.base_url(), fast_retries());
  int lines = 0;
  const HttpResult refused = anonymous.post_stream("/generate", {{"text", "x"}, {"stream", true}},
                                                   [&](std::string_view) { return ++lines, true; });
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(lines, 0);  // an error body is not streamed as lines
  EXPECT_NE(refused.body.find("bad api key"), std::string::npos);
  EXPECT_FALSE(refused.ok());

  HttpOptions keyed = fast_retries();
  keyed.api_key = "secret";
  HttpClient client(server.base_url(), keyed);
  const HttpResult stopped = client.post_stream(
      "/generate", {{"text", "x"}, {"stream", true}, {"sampling_params", {{"max_new_tokens", 4}}}},
      [&](std::string_view line) { return line.empty(); });  // stop at the first data line
  EXPECT_FALSE(stopped.ok());
  EXPECT_NE(stopped.error.find("abandoned"), std::string::npos);
  EXPECT_EQ(server.authorization_headers().back(), "Bearer secret");
  // The connection is usable again after a cancelled stream.
  EXPECT_TRUE(client.get("/v1/models").ok());
}

TEST(HttpClient, ConnectionRefusedIsStatusZero) {
  int port = 0;
  {
    LocalServer closed;
    port = parse_base_url(closed.base_url()).port;
  }
  HttpOptions options = fast_retries();
  options.max_attempts = 3;
  HttpClient client("http://127.0.0.1:" + std::to_string(port), options);
  const HttpResult result = client.get_with_retries("/v1/models");
  EXPECT_EQ(result.status, 0);
  EXPECT_FALSE(result.error.empty());
  EXPECT_EQ(result.attempts, 3);
  const HttpResult posted = client.post_stream("/generate", {}, [](std::string_view) { return true; });
  EXPECT_EQ(posted.status, 0);
  EXPECT_FALSE(posted.ok());
}

TEST(HttpClient, RetriesUntilSuccessWithGrowingBackoff) {
  LocalServer local;
  std::atomic<int> calls{0};
  local.server().Get("/flaky", [&](const httplib::Request&, httplib::Response& response) {
    if (++calls <= 2) {
      response.status = 503;
      return;
    }
    response.set_content("ok", "text/plain");
  });
  HttpOptions options = fast_retries();
  options.retry_backoff = std::chrono::milliseconds(20);
  HttpClient client(local.base_url(), options);
  const auto start = std::chrono::steady_clock::now();
  const HttpResult result = client.get_with_retries("/flaky");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.attempts, 3);
  EXPECT_EQ(result.body, "ok");
  EXPECT_GE(elapsed, std::chrono::milliseconds(60));  // 20 ms, then 40 ms

  const HttpResult missing = client.get_with_retries("/missing");  // a 404 is not retried
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.attempts, 1);
  auto with_status = [](int status) {
    HttpResult result;
    result.status = status;
    return result;
  };
  for (int status : {0, 500, 502, 503, 408, 429}) EXPECT_TRUE(with_status(status).retryable()) << status;
  for (int status : {200, 400, 401, 404, 422}) EXPECT_FALSE(with_status(status).retryable()) << status;

  int tries = 0;
  EXPECT_EQ(retry_with_backoff(options, [&](int attempt) { return ++tries, attempt == 2; }), 2);
  options.max_attempts = 1;
  EXPECT_EQ(retry_with_backoff(options, [](int) { return false; }), 1);
}

}  // namespace
}  // namespace cpm

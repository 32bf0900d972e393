// A stand-in inference server for the client tests: cpp-httplib on a free loopback port answering
// sglang's /generate and OpenAI's /v1/completions (plain and streamed) with canned text chosen by
// the prompt, failing chosen requests a number of times first, and counting requests in flight.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace cpm::test {

struct FakeServerOptions {
  // Completion text for a prompt ending in "Question: <question>\nAnswer:", keyed by the question.
  // Other prompts get "w0 w1 ... w<n-1>" with n = max tokens (ignore_eos) or at most 5.
  std::map<std::string, std::string> answers;
  // Attempts answered with an HTTP 500 (odd attempts) or 503 (even) before the real answer, keyed
  // by the question.
  std::map<std::string, int> failures;
  std::set<std::string> rejected;               // questions always answered with HTTP 400
  std::chrono::milliseconds response_delay{0};  // before any completion response
  std::chrono::milliseconds token_delay{0};     // between streamed chunks
  std::string api_key;                          // when set, requests need "Authorization: Bearer <key>"
  bool report_usage = true;                     // token counts in meta_info / usage
  std::string model = "fake-model";
  int http_threads = 96;
};

class FakeServer {
 public:
  explicit FakeServer(FakeServerOptions options = {});
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  // Most completion requests that were being handled at the same time.
  int max_in_flight() const { return max_in_flight_.load(); }
  int completion_requests() const { return completion_requests_.load(); }
  // Every completion request body received, in arrival order.
  std::vector<nlohmann::json> bodies() const;
  std::vector<std::string> authorization_headers() const;

  // The question of a prompt ending in "Question: <q>\nAnswer:", or "" for other prompts.
  static std::string question_of(const std::string& prompt);

 private:
  struct Completion {
    std::string text;
    std::vector<std::string> pieces;  // streamed one per chunk
    int64_t prompt_tokens = 0;
  };

  void handle(const httplib::Request& request, httplib::Response& response, bool native);
  bool authorized(const httplib::Request& request, httplib::Response& response);
  bool should_fail(const std::string& question, httplib::Response& response);
  Completion complete(const nlohmann::json& body, bool native) const;
  void respond(const nlohmann::json& body, const Completion& completion, bool native,
               httplib::Response& response);
  void stream(const nlohmann::json& body, const Completion& completion, bool native,
              httplib::Response& response);

  FakeServerOptions options_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> in_flight_{0}, max_in_flight_{0}, completion_requests_{0};
  mutable std::mutex mutex_;
  std::map<std::string, int> attempts_;  // by question
  std::vector<nlohmann::json> bodies_;
  std::vector<std::string> authorization_headers_;
};

}  // namespace cpm::test

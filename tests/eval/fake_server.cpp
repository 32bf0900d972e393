#include "fake_server.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace cpm::test {

namespace {

using nlohmann::json;

int64_t word_count(const std::string& text) {
  std::istringstream in(text);
  int64_t words = 0;
  for (std::string word; in >> word;) ++words;
  return words;
}

// Splits text into pieces that end after each space, so that joining them gives the text back.
std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> pieces;
  size_t start = 0;
  while (start < text.size()) {
    const size_t space = text.find(' ', start);
    const size_t end = space == std::string::npos ? text.size() : space + 1;
    pieces.push_back(text.substr(start, end - start));
    start = end;
  }
  return pieces;
}

// Debian's libcpp-httplib listens with a backlog of 5: a burst of connections beyond it waits about
// a second for SYN retransmission, which distorts timings and concurrency. Find the listening
// socket on `port` among our descriptors and listen again with a deep backlog.
void deepen_listen_backlog(int port) {
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return;
  for (dirent* entry; (entry = readdir(fds)) != nullptr;) {
    const int fd = std::atoi(entry->d_name);
    sockaddr_in address{};
    socklen_t length = sizeof(address);
    int listening = 0;
    socklen_t flag_length = sizeof(listening);
    if (fd <= 2 || getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        address.sin_family != AF_INET || ntohs(address.sin_port) != port ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &flag_length) != 0 || !listening) {
      continue;
    }
    ::listen(fd, 1024);
  }
  closedir(fds);
}

json native_event(const std::string& text, int64_t prompt_tokens, int64_t completion_tokens, bool finished,
                  bool usage) {
  json meta = {{"finish_reason", finished ? json{{"type", "length"}} : json(nullptr)}};
  if (usage) {
    meta["prompt_tokens"] = prompt_tokens;
    meta["completion_tokens"] = completion_tokens;
    meta["cached_tokens"] = 0;
  }
  return {{"text", text}, {"output_ids", json::array()}, {"meta_info", meta}};
}

json openai_chunk(const std::string& model, const std::string& text, const json& finish_reason) {
  return {
      {"id", "cmpl-fake"},
      {"object", "text_completion"},
      {"model", model},
      {"choices", {{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}}}};
}

std::string sse(const json& event) {
  return "data: " + event.dump() + "\n\n";
}

}  // namespace

FakeServer::FakeServer(FakeServerOptions options) : options_(std::move(options)) {
  const int threads = options_.http_threads;
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.Post("/generate", [this](const httplib::Request& request, httplib::Response& response) {
    handle(request, response, true);
  });
  server_.Post("/v1/completions", [this](const httplib::Request& request, httplib::Response& response) {
    handle(request, response, false);
  });
  server_.Get("/v1/models", [this](const httplib::Request& request, httplib::Response& response) {
    if (!authorized(request, response)) return;
    response.set_content(
        json{{"object", "list"}, {"data", {{{"id", options_.model}, {"object", "model"}}}}}.dump(),
        "application/json");
  });
  server_.Get("/get_model_info", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(json{{"model_path", "fake"}, {"vocab_size", 1000}}.dump(), "application/json");
  });
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("the fake server cannot bind a loopback port");
  deepen_listen_backlog(port_);
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  for (int waited = 0; !server_.is_running(); ++waited) {
    if (waited == 5000) throw std::runtime_error("the fake server did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

FakeServer::~FakeServer() {
  server_.stop();
  thread_.join();
}

std::vector<json> FakeServer::bodies() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bodies_;
}

std::vector<std::string> FakeServer::authorization_headers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return authorization_headers_;
}

std::string FakeServer::question_of(const std::string& prompt) {
  const std::string suffix = "\nAnswer:";
  const size_t start = prompt.rfind("Question: ");
  if (start == std::string::npos || prompt.size() < suffix.size() ||
      prompt.compare(prompt.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return "";
  }
  const size_t begin = start + 10;
  return prompt.substr(begin, prompt.size() - suffix.size() - begin);
}

bool FakeServer::authorized(const httplib::Request& request, httplib::Response& response) {
  if (options_.api_key.empty() || request.get_header_value("Authorization") == "Bearer " + options_.api_key) {
    return true;
  }
  response.status = 401;
  response.set_content(R"({"error":{"message":"bad api key"}})", "application/json");
  return false;
}

bool FakeServer::should_fail(const std::string& question, httplib::Response& response) {
  if (options_.rejected.count(question) > 0) {
    response.status = 400;
    response.set_content(R"({"error":{"message":"rejected prompt"}})", "application/json");
    return true;
  }
  const auto failures = options_.failures.find(question);
  if (failures == options_.failures.end()) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  const int attempt = ++attempts_[question];
  if (attempt > failures->second) return false;
  response.status = attempt % 2 == 1 ? 500 : 503;
  response.set_content(R"({"error":{"message":"injected failure"}})", "application/json");
  return true;
}

FakeServer::Completion FakeServer::complete(const json& body, bool native) const {
  Completion completion;
  const json& prompt =
      native ? (body.contains("input_ids") ? body["input_ids"] : body.at("text")) : body.at("prompt");
  const std::string text = prompt.is_string() ? prompt.get<std::string>() : "";
  completion.prompt_tokens = prompt.is_array() ? static_cast<int64_t>(prompt.size()) : word_count(text);
  const json& params = native ? body.value("sampling_params", json::object()) : body;
  const int64_t max_tokens = params.value(native ? "max_new_tokens" : "max_tokens", int64_t{16});
  const auto answer = options_.answers.find(question_of(text));
  if (answer != options_.answers.end()) {
    completion.pieces = split_words(answer->second);
  } else {
    const int64_t words = params.value("ignore_eos", false) ? max_tokens : std::min<int64_t>(max_tokens, 5);
    for (int64_t i = 0; i < words; ++i) completion.pieces.push_back("w" + std::to_string(i) + " ");
  }
  for (const std::string& piece : completion.pieces) completion.text += piece;
  return completion;
}

void FakeServer::handle(const httplib::Request& request, httplib::Response& response, bool native) {
  const int now = ++in_flight_;
  for (int seen = max_in_flight_.load(); now > seen && !max_in_flight_.compare_exchange_weak(seen, now);) {
  }
  ++completion_requests_;
  bool streaming = false;
  const json body = json::parse(request.body, nullptr, false);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    bodies_.push_back(body);
    authorization_headers_.push_back(request.get_header_value("Authorization"));
  }
  std::this_thread::sleep_for(options_.response_delay);
  if (body.is_discarded()) {
    response.status = 400;
  } else if (authorized(request, response)) {
    const json& prompt = native ? body.value("text", json()) : body.value("prompt", json());
    const std::string question = question_of(prompt.is_string() ? prompt.get<std::string>() : "");
    if (!native && body.value("model", "") != options_.model) {
      response.status = 404;
      response.set_content(R"({"error":{"message":"no such model"}})", "application/json");
    } else if (!should_fail(question, response)) {
      const Completion completion = complete(body, native);
      streaming = body.value("stream", false);
      if (streaming) {
        stream(body, completion, native, response);
      } else {
        respond(body, completion, native, response);
      }
    }
  }
  if (!streaming) --in_flight_;  // a stream leaves when its last chunk is written
}

void FakeServer::respond(const json& body, const Completion& completion, bool native,
                         httplib::Response& response) {
  const int64_t output_tokens = static_cast<int64_t>(completion.pieces.size());
  json out;
  if (native) {
    out = native_event(completion.text, completion.prompt_tokens, output_tokens, true, options_.report_usage);
  } else {
    out = openai_chunk(body.value("model", ""), completion.text, "length");
    if (options_.report_usage) {
      out["usage"] = {{"prompt_tokens", completion.prompt_tokens},
                      {"completion_tokens", output_tokens},
                      {"total_tokens", completion.prompt_tokens + output_tokens}};
    }
  }
  response.set_content(out.dump(), "application/json");
}

// One SSE event per piece (native: the cumulative text; OpenAI: the delta), then the usage chunk
// when asked for, then [DONE].
void FakeServer::stream(const json& body, const Completion& completion, bool native,
                        httplib::Response& response) {
  auto events = std::make_shared<std::vector<std::string>>();
  std::string text;
  for (size_t i = 0; i < completion.pieces.size(); ++i) {
    text += completion.pieces[i];
    const bool last = i + 1 == completion.pieces.size();
    events->push_back(sse(
        native ? native_event(text, completion.prompt_tokens, static_cast<int64_t>(i + 1), last,
                              options_.report_usage)
               : openai_chunk(options_.model, completion.pieces[i], last ? json("length") : json(nullptr))));
  }
  const bool include_usage =
      body.contains("stream_options") && body["stream_options"].value("include_usage", false);
  if (!native && include_usage && options_.report_usage) {
    json usage = openai_chunk(options_.model, "", nullptr);
    usage["choices"] = json::array();
    usage["usage"] = {{"prompt_tokens", completion.prompt_tokens},
                      {"completion_tokens", static_cast<int64_t>(completion.pieces.size())}};
    events->push_back(sse(usage));
  }
  events->push_back("data: [DONE]\n\n");
  auto next = std::make_shared<size_t>(0);
  // Leave the in-flight count before the client can see the last event (so that a client which
  // starts its next request right after never looks like one too many), or when the client goes.
  auto left = std::make_shared<std::atomic<bool>>(false);
  auto leave = [this, left] {
    if (!left->exchange(true)) --in_flight_;
  };
  const auto delay = options_.token_delay;
  response.set_chunked_content_provider(
      "text/event-stream",
      [events, next, delay, leave](size_t, httplib::DataSink& sink) {
        if (*next > 0) std::this_thread::sleep_for(delay);
        const std::string& event = (*events)[(*next)++];
        if (*next == events->size()) leave();
        sink.write(event.data(), event.size());
        if (*next == events->size()) sink.done();
        return true;
      },
      [leave](bool) { leave(); });
}

}  // namespace cpm::test

#include "eval/serving_benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/progress_bar.h"
#include "tokenizer/tokenizer.h"

namespace cpm {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Bounds the requests in flight; unbounded when the limit is 0.
class ConcurrencySlots {
 public:
  explicit ConcurrencySlots(int limit) : free_(limit), bounded_(limit > 0) {}
  void acquire() {
    if (!bounded_) return;
    std::unique_lock<std::mutex> lock(mutex_);
    available_.wait(lock, [&] { return free_ > 0; });
    --free_;
  }
  void release() {
    if (!bounded_) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++free_;
    }
    available_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable available_;
  int free_;
  bool bounded_;
};

// Sends one streamed completion and times its content chunks as sglang's bench_serving does: TTFT
// at the first chunk with text; each later chunk adds its gap to ITL once per token it carries.
RequestTiming send_streamed(HttpClient& client, const ServingBenchOptions& options, const std::string& model,
                            const BenchRequest& request) {
  CompletionRequest completion;
  completion.prompt = request.prompt;
  completion.input_ids = request.input_ids;
  completion.max_tokens = request.output_len;
  completion.temperature = 0;
  completion.ignore_eos = true;
  const nlohmann::json body = completion_body(options.backend, completion, model, /*stream=*/true);
  RequestTiming timing;
  CompletionStream stream(options.backend);
  int64_t content_tokens = 0;
  bool first = true;
  const Clock::time_point start = Clock::now();
  Clock::time_point last = start;
  const HttpResult http = client.post_stream(api_path(options.backend), body, [&](std::string_view line) {
    const std::optional<std::string_view> data = sse_data(line);
    if (!data) return true;
    int64_t tokens = 0;
    try {
      tokens = stream.feed(*data);
    } catch (const std::exception& error) {
      timing.error = error.what();
      return false;
    }
    if (tokens <= 0) return true;
    const Clock::time_point now = Clock::now();
    if (first) {
      timing.ttft = seconds_between(start, now);
      first = false;
    } else {
      const double gap = seconds_between(last, now) / static_cast<double>(tokens);
      timing.itl.insert(timing.itl.end(), static_cast<size_t>(tokens), gap);
    }
    last = now;
    content_tokens += tokens;
    return true;
  });
  timing.latency = seconds_between(start, Clock::now());
  if (timing.error.empty()) timing.error = http.error;
  if (timing.error.empty() && !stream.complete()) timing.error = "the stream ended without [DONE]";
  if (timing.error.empty() && first) timing.error = "the stream carried no generated text";
  timing.success = timing.error.empty();
  const CompletionResult& result = stream.result();
  timing.text = result.text;
  timing.prompt_len = result.prompt_tokens >= 0 ? result.prompt_tokens : request.prompt_len;
  timing.output_len_reported = result.completion_tokens >= 0;
  timing.output_len = timing.output_len_reported ? result.completion_tokens : content_tokens;
  return timing;
}

void warm_up(const ServingBenchOptions& options, const std::string& model, const BenchRequest& first) {
  HttpClient client(options.base_url, options.http);
  BenchRequest request = first;
  request.output_len = std::min<int64_t>(request.output_len, 16);  // warms caches, not a measurement
  for (int i = 0; i < options.warmup_requests; ++i) {
    const RequestTiming timing = send_streamed(client, options, model, request);
    if (!timing.success)
      fail("the warm-up request failed (check the server and the options): ", timing.error);
  }
}

// Starts each request at its arrival time once a concurrency slot is free (so, as in sglang,
// the latencies do not include waiting for a slot). Returns the benchmark duration.
double dispatch(const ServingBenchOptions& options, const std::string& model,
                const std::vector<BenchRequest>& requests, std::vector<RequestTiming>* timings) {
  const std::vector<double> arrivals =
      poisson_arrival_times(requests.size(), options.request_rate, options.seed);
  ConcurrencySlots slots(options.max_concurrency);
  ProgressBar progress("bench", static_cast<int64_t>(requests.size()), options.show_progress);
  std::vector<std::thread> threads;
  threads.reserve(requests.size());
  const Clock::time_point start = Clock::now();
  auto run = [&](size_t i) {
    try {
      HttpClient client(options.base_url, options.http);
      (*timings)[i] = send_streamed(client, options, model, requests[i]);
    } catch (const std::exception& error) {
      (*timings)[i].error = error.what();
    }
    slots.release();
    progress.advance();
  };
  try {
    for (size_t i = 0; i < requests.size(); ++i) {
      std::this_thread::sleep_until(
          start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrivals[i])));
      slots.acquire();
      threads.emplace_back(run, i);
    }
  } catch (...) {  // e.g. no more threads: finish the started requests before reporting
    for (std::thread& thread : threads) thread.join();
    throw;
  }
  for (std::thread& thread : threads) thread.join();
  const double duration = seconds_between(start, Clock::now());
  progress.finish();
  return duration;
}

void validate(const ServingBenchOptions& options) {
  parse_base_url(options.base_url);
  if (options.max_concurrency < 0) fail("--max-concurrency must not be negative");
  if (!(options.request_rate > 0)) fail("--request-rate must be positive (inf for all at once)");
  if (options.warmup_requests < 0) fail("--warmup-requests must not be negative");
}

ServingBenchReport run_unsummarized(const ServingBenchOptions& options,
                                    const std::vector<BenchRequest>& requests, double* duration) {
  validate(options);
  ServingBenchReport report;
  report.backend = std::string(api_backend_name(options.backend));
  report.dataset = options.dataset;
  report.request_rate = options.request_rate;
  report.max_concurrency = options.max_concurrency;
  report.num_prompts = static_cast<int64_t>(requests.size());
  if (options.backend == ApiBackend::kOpenAi) {
    HttpClient client(options.base_url, options.http);
    report.model = resolve_model_name(client, options.model);
  }
  if (options.warmup_requests > 0 && !requests.empty()) warm_up(options, report.model, requests.front());
  report.requests.resize(requests.size());
  *duration = dispatch(options, report.model, requests, &report.requests);
  return report;
}

// The vocabulary size our server (and sglang) report at GET /get_model_info, for random token ids.
int32_t server_vocab_size(const ServingBenchOptions& options) {
  HttpClient client(options.base_url, options.http);
  const HttpResult info = client.get_with_retries("/get_model_info");
  if (!info.ok()) {
    fail("random prompts need the vocabulary size (", info.error, "); pass --tokenizer-path");
  }
  const nlohmann::json parsed = nlohmann::json::parse(info.body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("vocab_size") || !parsed["vocab_size"].is_number_integer()) {
    fail("random prompts need the vocabulary size: GET /get_model_info has none; pass --tokenizer-path");
  }
  return parsed["vocab_size"].get<int32_t>();
}

std::vector<BenchRequest> build_dataset(const ServingBenchOptions& options, const Tokenizer* tokenizer) {
  if (options.random.num_prompts < 1) fail("--num-prompts must be at least 1");
  std::mt19937_64 random(options.seed);
  if (options.dataset == "random") {
    const int32_t vocab = tokenizer != nullptr ? tokenizer->vocab_size() : server_vocab_size(options);
    return random_dataset(options.random, tokenizer, vocab, random);
  }
  if (options.dataset == "gsm8k") {
    if (options.data_path.empty()) fail("--dataset gsm8k needs --data-path (the GSM8K test.jsonl)");
    if (options.random.output_len < 1) fail("--random-output-len must be at least 1");
    const auto output_lens = sample_lengths(options.random.output_len, options.random.range_ratio,
                                            options.random.num_prompts, 1, random);
    return gsm8k_dataset(load_gsm8k(options.data_path), options.num_shots, output_lens, tokenizer);
  }
  fail("unknown --dataset '", options.dataset, "' (expected random or gsm8k)");
}

void add_summary(const char* name, const LatencySummary& seconds, std::string* out) {
  char line[160];
  for (const auto& [label, value] : {std::pair{"Mean", seconds.mean}, std::pair{"Median", seconds.median},
                                     std::pair{"P99", seconds.p99}}) {
    std::snprintf(line, sizeof(line), "%-40s %-10.2f\n", str_cat(label, " ", name, " (ms):").c_str(),
                  value * 1000);
    *out += line;
  }
}

}  // namespace

std::vector<double> poisson_arrival_times(size_t count, double rate, uint64_t seed) {
  std::vector<double> times(count, 0.0);
  if (std::isinf(rate)) return times;
  std::mt19937_64 random(seed);
  std::exponential_distribution<double> gap(rate);
  for (size_t i = 1; i < count; ++i) times[i] = times[i - 1] + gap(random);
  return times;
}

ServingBenchReport run_serving_benchmark(const ServingBenchOptions& options) {
  validate(options);
  std::optional<Tokenizer> tokenizer;
  if (!options.tokenizer_path.empty()) tokenizer = Tokenizer::load(options.tokenizer_path);
  const Tokenizer* tokens = tokenizer ? &*tokenizer : nullptr;
  const std::vector<BenchRequest> requests = build_dataset(options, tokens);
  double duration = 0;
  ServingBenchReport report = run_unsummarized(options, requests, &duration);
  for (RequestTiming& timing : report.requests) {
    if (tokens != nullptr && timing.success && !timing.output_len_reported) {
      timing.output_len = static_cast<int64_t>(tokens->encode(timing.text, false).size());
    }
  }
  summarize_serving(duration, &report);
  return report;
}

ServingBenchReport run_serving_requests(const ServingBenchOptions& options,
                                        const std::vector<BenchRequest>& requests) {
  double duration = 0;
  ServingBenchReport report = run_unsummarized(options, requests, &duration);
  summarize_serving(duration, &report);
  return report;
}

void summarize_serving(double duration_s, ServingBenchReport* report) {
  std::vector<double> ttfts, itls, e2es, tpots;
  report->completed = report->failed = report->total_input_tokens = report->total_output_tokens = 0;
  double latency_sum = 0;
  for (const RequestTiming& timing : report->requests) {
    if (!timing.success) {
      ++report->failed;
      continue;
    }
    ++report->completed;
    report->total_input_tokens += std::max<int64_t>(timing.prompt_len, 0);
    report->total_output_tokens += timing.output_len;
    ttfts.push_back(timing.ttft);
    e2es.push_back(timing.latency);
    latency_sum += timing.latency;
    itls.insert(itls.end(), timing.itl.begin(), timing.itl.end());
    if (timing.output_len > 1) {
      tpots.push_back((timing.latency - timing.ttft) / static_cast<double>(timing.output_len - 1));
    }
  }
  report->duration_s = duration_s;
  const double duration = std::max(duration_s, 1e-9);
  report->request_throughput = static_cast<double>(report->completed) / duration;
  report->input_throughput = static_cast<double>(report->total_input_tokens) / duration;
  report->output_throughput = static_cast<double>(report->total_output_tokens) / duration;
  report->total_throughput = report->input_throughput + report->output_throughput;
  report->concurrency = latency_sum / duration;
  report->ttft = summarize_latencies(std::move(ttfts));
  report->itl = summarize_latencies(std::move(itls));
  report->e2e = summarize_latencies(std::move(e2es));
  report->tpot = summarize_latencies(std::move(tpots));
}

ordered_json serving_report_json(const ServingBenchReport& report) {
  ordered_json out = {{"backend", report.backend},
                      {"dataset", report.dataset},
                      {"model", report.model},
                      {"request_rate", std::isinf(report.request_rate) ? ordered_json("inf")
                                                                       : ordered_json(report.request_rate)},
                      {"max_concurrency", report.max_concurrency},
                      {"num_prompts", report.num_prompts},
                      {"completed", report.completed},
                      {"failed", report.failed},
                      {"duration_s", report.duration_s},
                      {"total_input_tokens", report.total_input_tokens},
                      {"total_output_tokens", report.total_output_tokens},
                      {"request_throughput", report.request_throughput},
                      {"input_throughput", report.input_throughput},
                      {"output_throughput", report.output_throughput},
                      {"total_throughput", report.total_throughput},
                      {"concurrency", report.concurrency}};
  add_latency_fields("ttft", report.ttft, &out);
  add_latency_fields("itl", report.itl, &out);
  add_latency_fields("e2e_latency", report.e2e, &out);
  add_latency_fields("tpot", report.tpot, &out);
  ordered_json input_lens = ordered_json::array(), output_lens = ordered_json::array();
  ordered_json ttfts = ordered_json::array(), latencies = ordered_json::array(),
               errors = ordered_json::array();
  for (const RequestTiming& timing : report.requests) {
    input_lens.push_back(timing.prompt_len);
    output_lens.push_back(timing.output_len);
    ttfts.push_back(timing.ttft * 1000);
    latencies.push_back(timing.latency * 1000);
    errors.push_back(timing.error);
  }
  out["input_lens"] = input_lens;
  out["output_lens"] = output_lens;
  out["ttfts_ms"] = ttfts;
  out["e2e_latencies_ms"] = latencies;
  out["errors"] = errors;
  return out;
}

std::string format_serving_report(const ServingBenchReport& report) {
  std::string out = "============ Serving Benchmark Result ============\n";
  char line[160];
  auto row = [&](const char* label, const std::string& value) {
    std::snprintf(line, sizeof(line), "%-40s %-10s\n", label, value.c_str());
    out += line;
  };
  auto number = [](double value) {
    char text[64];
    std::snprintf(text, sizeof(text), "%.2f", value);
    return std::string(text);
  };
  row("Backend:", report.backend);
  row("Dataset:", report.dataset);
  row("Traffic request rate:", std::isinf(report.request_rate) ? "inf" : number(report.request_rate));
  row("Max request concurrency:",
      report.max_concurrency > 0 ? std::to_string(report.max_concurrency) : "not set");
  row("Successful requests:", std::to_string(report.completed));
  row("Failed requests:", std::to_string(report.failed));
  row("Benchmark duration (s):", number(report.duration_s));
  row("Total input tokens:", std::to_string(report.total_input_tokens));
  row("Total generated tokens:", std::to_string(report.total_output_tokens));
  row("Request throughput (req/s):", number(report.request_throughput));
  row("Input token throughput (tok/s):", number(report.input_throughput));
  row("Output token throughput (tok/s):", number(report.output_throughput));
  row("Total token throughput (tok/s):", number(report.total_throughput));
  row("Concurrency:", number(report.concurrency));
  out += "----------------End-to-End Latency----------------\n";
  add_summary("E2E Latency", report.e2e, &out);
  out += "---------------Time to First Token----------------\n";
  add_summary("TTFT", report.ttft, &out);
  out += "-----Time per Output Token (excl. 1st token)------\n";
  add_summary("TPOT", report.tpot, &out);
  out += "---------------Inter-Token Latency----------------\n";
  add_summary("ITL", report.itl, &out);
  out += "==================================================\n";
  return out;
}

}  // namespace cpm

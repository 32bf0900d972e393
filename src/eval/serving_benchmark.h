// An online serving benchmark modelled on sglang's bench_serving: streamed completions sent at a
// Poisson request rate and/or with bounded concurrency, timing the first token (TTFT), the gaps
// between tokens (ITL) and whole requests, then throughput and latency percentiles.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/bench_dataset.h"
#include "eval/completion_api.h"
#include "eval/http_client.h"
#include "eval/latency_stats.h"

namespace cpm {

struct ServingBenchOptions {
  std::string base_url = "http://127.0.0.1:30000";
  ApiBackend backend = ApiBackend::kNative;
  std::string model;               // OpenAI backend: empty = the first of GET /v1/models
  std::string dataset = "random";  // random | gsm8k
  std::string data_path;           // gsm8k: the test.jsonl file
  std::string tokenizer_path;      // a model directory with tokenizer.json (optional)
  RandomDatasetOptions random;     // lengths (the output length applies to gsm8k too)
  int num_shots = 5;               // gsm8k prompts
  // Requests per second with exponential gaps (a Poisson process); infinity sends all at once.
  double request_rate = std::numeric_limits<double>::infinity();
  int max_concurrency = 0;  // 0 = unbounded
  uint64_t seed = 1;
  int warmup_requests = 1;  // unmeasured requests first; the run stops if one fails
  bool show_progress = true;
  HttpOptions http;
};

// What one streamed request measured.
struct RequestTiming {
  bool success = false;
  std::string error;
  double ttft = 0;                   // seconds from sending to the first content chunk
  double latency = 0;                // seconds from sending to the end of the stream
  std::vector<double> itl;           // gaps between content chunks, spread over the tokens they carry
  int64_t prompt_len = 0;            // the server's count when it reported one, else the dataset's
  int64_t output_len = 0;            // the server's count, else content chunks (or tokenizer count)
  bool output_len_reported = false;  // output_len came from the server
  std::string text;                  // the generated text
};

struct ServingBenchReport {
  std::string backend, dataset, model;
  double request_rate = 0;
  int max_concurrency = 0;
  int64_t num_prompts = 0, completed = 0, failed = 0;
  int64_t total_input_tokens = 0, total_output_tokens = 0;
  double duration_s = 0;
  double request_throughput = 0, input_throughput = 0, output_throughput = 0, total_throughput = 0;
  double concurrency = 0;               // sum of request latencies / duration: mean requests in flight
  LatencySummary ttft, itl, e2e, tpot;  // seconds
  std::vector<RequestTiming> requests;  // in dataset order
};

// Builds the dataset, sends the warm-up request(s), then runs and measures every prompt. Throws
// cpm::Error for bad options or a failed warm-up; failed measured requests are counted.
ServingBenchReport run_serving_benchmark(const ServingBenchOptions& options);

// Runs prepared requests (for callers with their own prompts); no tokenizer is used for counting.
ServingBenchReport run_serving_requests(const ServingBenchOptions& options,
                                        const std::vector<BenchRequest>& requests);

// When each request is due, in seconds from the start: request 0 at 0, then exponential gaps of
// mean 1/rate (a Poisson process, seeded); all 0 for an infinite rate.
std::vector<double> poisson_arrival_times(size_t count, double rate, uint64_t seed);

// Aggregates timings into the report's totals and statistics (successful requests only).
void summarize_serving(double duration_s, ServingBenchReport* report);

// Every number of the report (latencies in ms) plus per-request lengths, TTFTs, latencies and errors.
nlohmann::ordered_json serving_report_json(const ServingBenchReport& report);
// sglang-style table.
std::string format_serving_report(const ServingBenchReport& report);

}  // namespace cpm

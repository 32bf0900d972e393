// Runs the GSM8K few-shot evaluation against a server: every question as a greedy completion,
// `parallel` requests in flight, failed requests retried a few times, then scored.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/completion_api.h"
#include "eval/gsm8k.h"
#include "eval/http_client.h"

namespace cpm {

struct Gsm8kOptions {
  std::string base_url = "http://127.0.0.1:30000";
  std::string data_path;
  ApiBackend backend = ApiBackend::kNative;
  std::string model;  // OpenAI backend: the model name; empty = the first of GET /v1/models
  int num_shots = 5;
  int64_t num_questions = 200;
  int parallel = 128;  // the reference runs 128 requests at once
  int64_t max_new_tokens = 512;
  bool skip_shots = false;
  bool show_progress = true;  // a progress bar on stderr when it is a terminal
  HttpOptions http;           // timeouts, API key, retries
};

struct Gsm8kQuestionResult {
  int64_t index = 0;
  std::string prompt;  // exactly the text sent
  std::string output;  // the completion, cut before any stop string
  Gsm8kAnswer pred, label;
  bool correct = false;
  bool failed = false;  // no usable response after every attempt (then pred is INVALID)
  std::string error;    // the last attempt's failure
  int attempts = 0;
  int64_t completion_tokens = -1;  // as the server reported it; -1 when it did not
  std::string finish_reason;
};

struct Gsm8kReport {
  std::string base_url, backend, model;
  int num_shots = 0;
  bool skip_shots = false;
  int64_t num_questions = 0, correct = 0, invalid = 0, failed = 0;
  int64_t output_tokens = 0;     // completion tokens the server reported
  int64_t unreported_usage = 0;  // responses that did not report completion tokens
  double accuracy = 0, invalid_rate = 0;
  double latency_s = 0;                      // wall time of the whole run
  double output_throughput = 0;              // output_tokens / latency_s
  std::vector<Gsm8kQuestionResult> results;  // in question order
};

// Loads options.data_path and asks the questions the protocol selects. Throws cpm::Error for bad
// data or options, or when the OpenAI model name cannot be resolved; failed requests are counted.
Gsm8kReport run_gsm8k(const Gsm8kOptions& options);

// Asks the given questions (for callers that built them already).
Gsm8kReport run_gsm8k_questions(const Gsm8kOptions& options, const std::vector<Gsm8kQuestion>& questions);

// The run's numbers as one JSON object (no per-question results).
nlohmann::ordered_json gsm8k_summary_json(const Gsm8kReport& report);
// One question's line of the --output JSONL: index, prompt, output, pred, label, correct, ...
nlohmann::ordered_json gsm8k_result_json(const Gsm8kQuestionResult& result);
// Writes one gsm8k_result_json line per question; throws cpm::Error when the file cannot be written.
void write_gsm8k_results(const std::string& path, const Gsm8kReport& report);
// A few human-readable lines.
std::string format_gsm8k_report(const Gsm8kReport& report);

}  // namespace cpm

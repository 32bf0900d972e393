#include "eval/gsm8k_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "core/progress_bar.h"

namespace cpm {

namespace {

using nlohmann::ordered_json;

// The reference's INVALID prediction is printed as null; numbers too long for int64 stay text.
ordered_json answer_json(const Gsm8kAnswer& answer) {
  if (!answer) return nullptr;
  if (answer->size() <= 18) return std::stoll(*answer);
  return *answer;
}

// One question, retried on connection errors, server errors (5xx, 408, 429) and unreadable responses.
Gsm8kQuestionResult ask(HttpClient& client, const Gsm8kOptions& options, const std::string& model,
                        const Gsm8kQuestion& question) {
  Gsm8kQuestionResult result;
  result.index = question.index;
  result.prompt = question.prompt;
  result.label = question.label;
  CompletionRequest request;
  request.prompt = question.prompt;
  request.max_tokens = options.max_new_tokens;
  request.temperature = 0;
  request.stop = gsm8k_stop_strings();
  const nlohmann::json body = completion_body(options.backend, request, model, /*stream=*/false);
  const std::string path = api_path(options.backend);
  CompletionResult completion;
  result.attempts = retry_with_backoff(options.http, [&](int) {
    const HttpResult http = client.post_json(path, body);
    result.error = http.error;
    if (!http.ok()) return !http.retryable();
    try {
      completion = parse_completion(options.backend, http.body);
    } catch (const Error& error) {
      result.error = error.what();
      return false;
    }
    result.error.clear();
    return true;
  });
  result.failed = !result.error.empty();
  if (result.failed) return result;
  // Servers cut at the stop strings themselves; cutting again guards against one that does not.
  result.output = cut_at_stop(completion.text, gsm8k_stop_strings());
  result.pred = extract_answer(result.output);
  result.completion_tokens = completion.completion_tokens;
  result.finish_reason = completion.finish_reason;
  return result;
}

void score(Gsm8kReport* report) {
  for (Gsm8kQuestionResult& result : report->results) {
    result.correct = result.pred == result.label;
    report->correct += result.correct ? 1 : 0;
    report->invalid += result.pred ? 0 : 1;
    report->failed += result.failed ? 1 : 0;
    if (result.completion_tokens >= 0) {
      report->output_tokens += result.completion_tokens;
    } else if (!result.failed) {
      ++report->unreported_usage;
    }
  }
  const double n = static_cast<double>(std::max<int64_t>(report->num_questions, 1));
  report->accuracy = static_cast<double>(report->correct) / n;
  report->invalid_rate = static_cast<double>(report->invalid) / n;
  report->output_throughput =
      report->latency_s > 0 ? static_cast<double>(report->output_tokens) / report->latency_s : 0;
}

}  // namespace

Gsm8kReport run_gsm8k(const Gsm8kOptions& options) {
  const std::vector<Gsm8kRecord> records = load_gsm8k(options.data_path);
  return run_gsm8k_questions(
      options, build_gsm8k_questions(records, options.num_shots, options.num_questions, options.skip_shots));
}

Gsm8kReport run_gsm8k_questions(const Gsm8kOptions& options, const std::vector<Gsm8kQuestion>& questions) {
  if (options.parallel < 1) fail("--parallel must be at least 1");
  if (options.max_new_tokens < 1) fail("--max-new-tokens must be at least 1");
  parse_base_url(options.base_url);  // a bad URL fails here, not in every worker
  Gsm8kReport report;
  report.base_url = options.base_url;
  report.backend = std::string(api_backend_name(options.backend));
  report.num_shots = options.num_shots;
  report.skip_shots = options.skip_shots;
  report.num_questions = static_cast<int64_t>(questions.size());
  report.results.resize(questions.size());
  if (options.backend == ApiBackend::kOpenAi) {
    HttpClient client(options.base_url, options.http);
    report.model = resolve_model_name(client, options.model);
  }
  ProgressBar progress("gsm8k", report.num_questions, options.show_progress);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    HttpClient client(options.base_url, options.http);
    for (size_t i; (i = next.fetch_add(1)) < questions.size();) {
      try {
        report.results[i] = ask(client, options, report.model, questions[i]);
      } catch (const std::exception& error) {  // never let a worker take the process down
        Gsm8kQuestionResult& result = report.results[i];
        result.index = questions[i].index;
        result.prompt = questions[i].prompt;
        result.label = questions[i].label;
        result.failed = true;
        result.error = error.what();
      }
      progress.advance();
    }
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  const size_t threads = std::min(static_cast<size_t>(options.parallel), questions.size());
  for (size_t t = 0; t < threads; ++t) workers.emplace_back(worker);
  for (std::thread& thread : workers) thread.join();
  report.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.finish();
  score(&report);
  return report;
}

ordered_json gsm8k_summary_json(const Gsm8kReport& report) {
  return {{"task", "gsm8k"},
          {"base_url", report.base_url},
          {"backend", report.backend},
          {"model", report.model},
          {"num_shots", report.num_shots},
          {"skip_shots", report.skip_shots},
          {"num_questions", report.num_questions},
          {"correct", report.correct},
          {"accuracy", report.accuracy},
          {"invalid", report.invalid},
          {"invalid_rate", report.invalid_rate},
          {"failed_requests", report.failed},
          {"latency_s", report.latency_s},
          {"output_tokens", report.output_tokens},
          {"output_throughput", report.output_throughput},
          {"responses_without_usage", report.unreported_usage}};
}

ordered_json gsm8k_result_json(const Gsm8kQuestionResult& result) {
  ordered_json line = {{"index", result.index},
                       {"prompt", result.prompt},
                       {"output", result.output},
                       {"pred", answer_json(result.pred)},
                       {"label", answer_json(result.label)},
                       {"correct", result.correct},
                       {"invalid", !result.pred.has_value()},
                       {"failed", result.failed},
                       {"attempts", result.attempts},
                       {"completion_tokens", result.completion_tokens},
                       {"finish_reason", result.finish_reason}};
  if (result.failed) line["error"] = result.error;
  return line;
}

void write_gsm8k_results(const std::string& path, const Gsm8kReport& report) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("cannot write ", path);
  for (const Gsm8kQuestionResult& result : report.results) {
    out << gsm8k_result_json(result).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  out.flush();
  if (!out) fail("error writing ", path);
}

std::string format_gsm8k_report(const Gsm8kReport& report) {
  char text[512];
  std::snprintf(text, sizeof(text),
                "Accuracy: %.3f (%lld/%lld)\nInvalid: %.3f\nFailed requests: %lld\nLatency: %.3f s\n"
                "Output throughput: %.3f token/s\n",
                report.accuracy, static_cast<long long>(report.correct),
                static_cast<long long>(report.num_questions), report.invalid_rate,
                static_cast<long long>(report.failed), report.latency_s, report.output_throughput);
  std::string out = text;
  if (report.unreported_usage > 0) {
    out += str_cat("(", report.unreported_usage, " responses reported no completion tokens)\n");
  }
  return out;
}

}  // namespace cpm

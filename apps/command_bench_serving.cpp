// cpmserve bench serving: load a running server the way sglang's bench_serving does and report
// throughput, TTFT, ITL and end-to-end latency.
//   cpmserve bench serving --base-url http://127.0.0.1:30000 --dataset random --num-prompts 64
//       --random-input-len 512 --random-output-len 128 --max-concurrency 16 [--request-rate 4]
#include <chrono>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>

#include "cli_checks.h"
#include "commands.h"
#include "core/error.h"
#include "eval/serving_benchmark.h"

namespace cpm::app {

namespace {

struct BenchServingFlags {
  ServingBenchOptions options;
  std::string backend = "native";
  std::string output_file;
  double timeout_s = 86400;
  bool json = false;
};

int run_bench_serving(BenchServingFlags& flags) {
  flags.options.backend = parse_api_backend(flags.backend);
  flags.options.http.read_timeout = std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_s * 1000));
  const ServingBenchReport report = run_serving_benchmark(flags.options);
  const nlohmann::ordered_json json = serving_report_json(report);
  if (!flags.output_file.empty()) {
    std::ofstream out(flags.output_file, std::ios::trunc);
    out << json.dump(2) << "\n";
    if (!out) fail("cannot write ", flags.output_file);
  }
  if (flags.json) {
    std::cout << json.dump() << "\n";
  } else {
    std::cout << format_serving_report(report);
  }
  return report.completed > 0 ? 0 : 1;
}

void add_flags(CLI::App* command, BenchServingFlags* flags) {
  ServingBenchOptions& options = flags->options;
  command->add_option("--base-url", options.base_url, "server address, http://host:port")
      ->capture_default_str();
  command->add_option("--backend", flags->backend, "native (/generate) or openai (/v1/completions)")
      ->check(CLI::IsMember({"native", "openai"}))
      ->capture_default_str();
  command->add_option("--model", options.model,
                      "model name for the openai backend (default: GET /v1/models)");
  command->add_option("--api-key", options.http.api_key, "sent as Authorization: Bearer");
  command->add_option("--dataset", options.dataset, "random or gsm8k")
      ->check(CLI::IsMember({"random", "gsm8k"}))
      ->capture_default_str();
  command->add_option("--data-path", options.data_path, "GSM8K test.jsonl (for --dataset gsm8k)");
  command->add_option("--tokenizer-path", options.tokenizer_path,
                      "model folder with tokenizer.json: random prompts become text of the sampled length "
                      "(without it they are sent as random token ids)");
  command->add_option("--random-input-len", options.random.input_len, "prompt tokens (the maximum)")
      ->check(kPositive)
      ->capture_default_str();
  command->add_option("--random-output-len", options.random.output_len, "output tokens (the maximum)")
      ->check(kPositive)
      ->capture_default_str();
  command
      ->add_option("--random-range-ratio", options.random.range_ratio,
                   "as sglang: lengths uniform in [len * ratio, len]; 1 = exactly len")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  command->add_option("--num-prompts", options.random.num_prompts, "measured requests")
      ->check(kPositive)
      ->capture_default_str();
  command->add_option("--num-shots", options.num_shots, "few-shot examples of gsm8k prompts")
      ->check(kNonNegative)
      ->capture_default_str();
  command->add_option("--request-rate", options.request_rate, "requests per second, Poisson arrivals (inf)");
  command->add_option("--max-concurrency", options.max_concurrency, "requests in flight (default: unbounded)")
      ->check(kPositive);
  command->add_option("--seed", options.seed, "random seed for prompts and arrivals")->capture_default_str();
  command->add_option("--warmup-requests", options.warmup_requests, "unmeasured requests first")
      ->check(kNonNegative)
      ->capture_default_str();
  command->add_option("--timeout", flags->timeout_s, "seconds to wait for one response")
      ->check(kPositive)
      ->capture_default_str();
  command->add_option("--output-file", flags->output_file, "write every result as JSON");
  command->add_flag("--json", flags->json, "print one JSON object instead of the table");
}

}  // namespace

CommandRunner add_bench_serving_command(CLI::App& bench) {
  auto flags = std::make_shared<BenchServingFlags>();
  CLI::App* serving =
      bench.add_subcommand("serving", "benchmark a running server (like sglang bench_serving)");
  add_flags(serving, flags.get());
  return [flags] { return run_bench_serving(*flags); };
}

}  // namespace cpm::app

// cpmserve eval gsm8k: the reference GSM8K few-shot accuracy test against any running server that
// speaks sglang's /generate or OpenAI's /v1/completions (see docs: gsm8k-protocol.md).
//   cpmserve eval gsm8k --base-url http://127.0.0.1:30000 --data-path ../shared/data/gsm8k/test.jsonl
#include <chrono>
#include <iostream>
#include <memory>

#include "cli_checks.h"
#include "commands.h"
#include "core/error.h"
#include "eval/gsm8k_runner.h"

namespace cpm::app {

namespace {

struct EvalFlags {
  Gsm8kOptions gsm8k;
  std::string backend = "native";
  std::string output_path;
  double timeout_s = 86400;
  int retries = 3;
  bool json = false;
};

int run_gsm8k_command(EvalFlags& flags) {
  flags.gsm8k.backend = parse_api_backend(flags.backend);
  flags.gsm8k.http.read_timeout = std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_s * 1000));
  flags.gsm8k.http.max_attempts = flags.retries + 1;
  const Gsm8kReport report = run_gsm8k(flags.gsm8k);
  if (!flags.output_path.empty()) write_gsm8k_results(flags.output_path, report);
  if (flags.json) {
    std::cout << gsm8k_summary_json(report).dump() << "\n";
  } else {
    std::cout << format_gsm8k_report(report);
  }
  return 0;
}

void add_gsm8k_flags(CLI::App* command, EvalFlags* flags) {
  Gsm8kOptions& options = flags->gsm8k;
  command->add_option("--base-url", options.base_url, "server address, http://host:port")
      ->capture_default_str();
  command->add_option("--data-path", options.data_path, "GSM8K test.jsonl")->required();
  command->add_option("--backend", flags->backend, "native (/generate) or openai (/v1/completions)")
      ->check(CLI::IsMember({"native", "openai"}))
      ->capture_default_str();
  command->add_option("--model", options.model,
                      "model name for the openai backend (default: GET /v1/models)");
  command->add_option("--api-key", options.http.api_key, "sent as Authorization: Bearer");
  command->add_option("--num-shots", options.num_shots, "few-shot examples (the first records)")
      ->check(kNonNegative)
      ->capture_default_str();
  command->add_option("--num-questions", options.num_questions, "questions to ask")
      ->check(kPositive)
      ->capture_default_str();
  command->add_option("--parallel", options.parallel, "requests in flight")
      ->check(kPositive)
      ->capture_default_str();
  command->add_option("--max-new-tokens", options.max_new_tokens, "completion length limit")
      ->check(kPositive)
      ->capture_default_str();
  command->add_flag("--skip-shots", options.skip_shots, "score records k..k+n-1 instead of 0..n-1");
  command->add_option("--retries", flags->retries, "retries of a failed request before it counts as invalid")
      ->check(kNonNegative)
      ->capture_default_str();
  command->add_option("--timeout", flags->timeout_s, "seconds to wait for one response")
      ->check(kPositive)
      ->capture_default_str();
  command->add_option("--output", flags->output_path, "write one JSON line per question");
  command->add_flag("--json", flags->json, "print one JSON object");
}

}  // namespace

CommandRunner add_eval_command(CLI::App& app) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* eval = app.add_subcommand("eval", "evaluate a running server's accuracy");
  eval->require_subcommand(1);
  CLI::App* gsm8k = eval->add_subcommand("gsm8k", "GSM8K few-shot accuracy (the reference protocol)");
  add_gsm8k_flags(gsm8k, flags.get());
  return [flags] { return run_gsm8k_command(*flags); };
}

}  // namespace cpm::app

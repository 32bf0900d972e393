// cpmserve generate: one prompt streamed to the terminal (or printed as JSON), or a JSONL file of
// prompts run through the engine concurrently with results written in input order.
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "core/progress_bar.h"
#include "dist/mpi_communicator.h"
#include "dist/tensor_parallel_run.h"
#include "engine_flags.h"
#include "runtime/sampling_params_json.h"
#include "token_ids.h"

namespace cpm::app {

namespace {

using nlohmann::json;

struct GenerateFlags {
  EngineFlags engine;
  std::string prompt;
  std::string prompt_ids;
  std::string prompts_file;
  std::string output;
  SamplingParams sampling;
  int64_t seed = -1;
  bool json_output = false;
};

std::vector<int32_t> tokenize(const EngineSetup& setup, const std::string& text, const std::string& where) {
  if (!setup.tokenizer) fail(where, ": the model has no tokenizer.json; give token ids instead of text");
  return setup.tokenizer->encode(text);
}

int run_single(const GenerateFlags& flags, EngineSetup& setup) {
  EngineRequest request;
  request.id = "generate";
  request.params = flags.sampling;
  request.input_ids = flags.prompt_ids.empty() ? tokenize(setup, flags.prompt, "--prompt")
                                               : parse_token_ids(flags.prompt_ids);
  const auto start = std::chrono::steady_clock::now();
  auto stream = setup.engine->submit(request);
  OutputChunk chunk, all;
  std::chrono::steady_clock::time_point first_token;
  while (!all.finished) {
    stream->pop(&chunk, std::chrono::hours(24));
    if (all.token_ids.empty() && !chunk.token_ids.empty()) first_token = std::chrono::steady_clock::now();
    if (!flags.json_output) std::cout << chunk.text << std::flush;
    all.token_ids.insert(all.token_ids.end(), chunk.token_ids.begin(), chunk.token_ids.end());
    all.text += chunk.text;
    all.finished = chunk.finished;
    all.finish_reason = chunk.finish_reason;
    all.error = chunk.error;
  }
  const auto end = std::chrono::steady_clock::now();
  if (all.finish_reason == "error") fail(all.error);
  if (flags.json_output) {
    std::cout << json{{"output_ids", all.token_ids}, {"text", all.text}}.dump() << "\n";
  } else {
    std::cout << "\n";
  }
  const double prefill_s = std::chrono::duration<double>(first_token - start).count();
  const double decode_s = std::chrono::duration<double>(end - first_token).count();
  std::cerr << "prompt " << request.input_ids.size() << " tokens, first token after " << prefill_s << " s; "
            << all.token_ids.size() << " tokens (" << all.finish_reason << ")";
  if (all.token_ids.size() > 1) {
    std::cerr << ", " << decode_s * 1000 / static_cast<double>(all.token_ids.size() - 1)
              << " ms per token after the first";
  }
  std::cerr << "\n";
  return 0;
}

EngineRequest parse_prompt_line(const std::string& line, size_t index, const GenerateFlags& flags,
                                const EngineSetup& setup) {
  const std::string where = flags.prompts_file + ":" + std::to_string(index + 1);
  json item;
  try {
    item = json::parse(line);
  } catch (const json::parse_error& error) {
    fail(where, ": malformed JSON: ", error.what());
  }
  EngineRequest request;
  request.id = "line-" + std::to_string(index);
  try {
    request.params = sampling_params_from_json(item.value("sampling_params", json()), flags.sampling);
    if (item.contains("prompt_ids")) {
      request.input_ids = item["prompt_ids"].get<std::vector<int32_t>>();
    } else if (item.contains("prompt") && item["prompt"].is_string()) {
      request.input_ids = tokenize(setup, item["prompt"].get<std::string>(), where);
    } else {
      fail("each line needs \"prompt\" (text) or \"prompt_ids\" (token ids)");
    }
  } catch (const json::exception& error) {
    fail(where, ": ", error.what());
  } catch (const Error& error) {
    fail(where, ": ", error.what());
  }
  return request;
}

int run_prompts_file(const GenerateFlags& flags, EngineSetup& setup) {
  std::ifstream in(flags.prompts_file);
  if (!in) fail(flags.prompts_file, ": cannot open");
  if (flags.output.empty()) fail("--prompts-file needs --output");
  std::vector<EngineRequest> requests;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    requests.push_back(parse_prompt_line(line, requests.size(), flags, setup));
  }
  std::ofstream out(flags.output);
  if (!out) fail(flags.output, ": cannot open for writing");
  // Submit everything up front (the engine queues and batches), then collect in input order.
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<std::string> submit_errors(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      streams.push_back(setup.engine->submit(requests[i]));
    } catch (const Error& error) {
      streams.push_back(nullptr);
      submit_errors[i] = error.what();
    }
  }
  ProgressBar progress("generate", static_cast<int64_t>(requests.size()));
  int failures = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    nlohmann::ordered_json result = {{"index", i}};
    if (streams[i] == nullptr) {
      result.update(json{{"output_ids", json::array()},
                         {"text", ""},
                         {"finish_reason", "error"},
                         {"error", submit_errors[i]}});
    } else {
      const OutputChunk all = streams[i]->wait_all();
      result.update(json{{"output_ids", all.token_ids},
                         {"text", all.text},
                         {"finish_reason", all.finish_reason},
                         {"prompt_tokens", all.prompt_tokens},
                         {"completion_tokens", all.completion_tokens},
                         {"cached_tokens", all.cached_tokens}});
      if (!all.error.empty()) result["error"] = all.error;
    }
    failures += result["finish_reason"] == "error";
    out << result.dump() << "\n";
    progress.advance();
  }
  progress.finish();
  const EngineStats stats = setup.engine->stats();
  std::cerr << requests.size() << " prompts, " << failures << " failed; " << stats.counters.generated_tokens
            << " tokens generated; prefix cache hits " << stats.counters.cached_prompt_tokens << " of "
            << stats.counters.prompt_tokens << " prompt tokens\n";
  return failures == 0 ? 0 : 1;
}

int run_generate(GenerateFlags flags) {
  const int sources = !flags.prompt.empty() + !flags.prompt_ids.empty() + !flags.prompts_file.empty();
  if (sources != 1) fail("give exactly one of --prompt, --prompt-ids and --prompts-file");
  if (flags.seed >= 0) flags.sampling.seed = static_cast<uint64_t>(flags.seed);
  flags.sampling.validate();
  std::unique_ptr<Communicator> group = join_tensor_parallel_group(flags.engine.model.tp_size);
  LoadedModel loaded = load_model(flags.engine.model, group.get());
  return run_tensor_parallel(group.get(), *loaded.model, [&] {
    std::unique_ptr<EngineSetup> setup = start_engine(flags.engine, loaded);
    return flags.prompts_file.empty() ? run_single(flags, *setup) : run_prompts_file(flags, *setup);
  });
}

}  // namespace

CommandRunner add_generate_command(CLI::App& app) {
  auto flags = std::make_shared<GenerateFlags>();
  flags->sampling.temperature = 0.0f;
  flags->sampling.max_new_tokens = 64;
  CLI::App* command =
      app.add_subcommand("generate", "generate continuations of a prompt or a file of prompts");
  add_engine_flags(command, &flags->engine);
  command->add_option("--prompt", flags->prompt, "prompt text (tokenized with the model's tokenizer)");
  command->add_option("--prompt-ids", flags->prompt_ids,
                      "prompt token ids, comma-separated, fed exactly as given");
  command->add_option("--prompts-file", flags->prompts_file,
                      "JSONL: {\"prompt\": ...} or {\"prompt_ids\": [...]}, optional \"sampling_params\"");
  command->add_option("--output", flags->output,
                      "JSONL results for --prompts-file, one line per input, in order");
  command->add_option("--max-new-tokens", flags->sampling.max_new_tokens, "tokens to generate at most")
      ->capture_default_str();
  command->add_option("--temperature", flags->sampling.temperature, "0: greedy")->capture_default_str();
  command->add_option("--top-k", flags->sampling.top_k, "-1: off");
  command->add_option("--top-p", flags->sampling.top_p, "nucleus sampling mass");
  command->add_option("--min-p", flags->sampling.min_p, "drop tokens below min_p times the best");
  command->add_option("--repetition-penalty", flags->sampling.repetition_penalty);
  command->add_option("--seed", flags->seed, "random seed for sampling");
  command->add_flag("--ignore-eos", flags->sampling.ignore_eos, "do not stop at end-of-sequence tokens");
  command->add_option("--regex", flags->sampling.regex, "the output must match this regular expression");
  command->add_option("--json-schema", flags->sampling.json_schema,
                      "the output must be JSON valid under this schema (JSON text)");
  command->add_option("--ebnf", flags->sampling.ebnf,
                      "the output must derive from this EBNF grammar (GBNF syntax, from rule 'root')");
  command->add_flag("--json", flags->json_output, "print {\"output_ids\": [...], \"text\": \"...\"}");
  return [flags] { return run_generate(*flags); };
}

}  // namespace cpm::app

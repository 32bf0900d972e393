// cpmserve logits: the next-token logits of a prompt given as token ids, as JSON.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "dist/mpi_communicator.h"
#include "dist/tensor_parallel_run.h"
#include "model/sequence_runner.h"
#include "model_options.h"
#include "token_ids.h"

namespace cpm::app {

namespace {

struct LogitsFlags {
  ModelFlags model;
  std::string prompt_ids;
  bool all_positions = false;
};

// {"logits": [[...], ...]} with every float printed to round-trip exactly.
void print_logits(const std::vector<float>& logits, int64_t vocab) {
  std::string out = "{\"logits\": [";
  char number[32];
  for (size_t i = 0; i < logits.size(); ++i) {
    if (i % vocab == 0)
      out += i == 0 ? "[" : "], [";
    else
      out += ", ";
    std::snprintf(number, sizeof number, "%.9g", logits[i]);
    out += number;
  }
  out += logits.empty() ? "]}" : "]]}";
  std::cout << out << "\n";
}

int run_logits(const LogitsFlags& flags) {
  const std::vector<int32_t> prompt = parse_token_ids(flags.prompt_ids);
  std::unique_ptr<Communicator> group = join_tensor_parallel_group(flags.model.tp_size);
  LoadedModel loaded = load_model(flags.model, group.get());
  return run_tensor_parallel(group.get(), *loaded.model, [&] {
    SequenceRunner runner(*loaded.model, static_cast<int64_t>(prompt.size()), loaded.kv_cache_dtype);
    print_logits(runner.feed(prompt, flags.all_positions), loaded.weights->config().vocab_size);
    return 0;
  });
}

}  // namespace

CommandRunner add_logits_command(CLI::App& app) {
  auto flags = std::make_shared<LogitsFlags>();
  CLI::App* command = app.add_subcommand("logits", "print next-token logits of a prompt as JSON");
  add_model_flags(command, &flags->model);
  add_tensor_parallel_flag(command, &flags->model);
  command->add_option("--prompt-ids", flags->prompt_ids, "token ids, comma-separated, fed exactly as given")
      ->required();
  command->add_flag("--all-positions", flags->all_positions, "logits of every position, not only the last");
  return [flags] { return run_logits(*flags); };
}

}  // namespace cpm::app

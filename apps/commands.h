// Each subcommand registers its flags on the CLI and returns the function that runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace cpm::app {

using CommandRunner = std::function<int()>;

CommandRunner add_generate_command(CLI::App& app);
CommandRunner add_logits_command(CLI::App& app);
CommandRunner add_make_checkpoint_command(CLI::App& app);
CommandRunner add_serve_command(CLI::App& app);
CommandRunner add_quantize_command(CLI::App& app);
CommandRunner add_export_gguf_command(CLI::App& app);
CommandRunner add_bench_command(CLI::App& app);
CommandRunner add_eval_command(CLI::App& app);
// Registers `serving` under the given `bench` command.
CommandRunner add_bench_serving_command(CLI::App& bench);

}  // namespace cpm::app

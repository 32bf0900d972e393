// cpmserve: a serving engine for MiniCPM3 models on CPUs.
#include <CLI/CLI.hpp>
#include <iostream>
#include <map>

#include "commands.h"
#include "core/error.h"
#include "dist/mpi_communicator.h"

namespace {

// Under mpirun every rank reports its own errors; the ranks other than 0 say which they are. One
// write per message keeps the ranks' lines whole in mpirun's merged output.
void report_error(const char* message) {
  const int rank = cpm::mpirun_world_rank();
  const std::string line = std::string("error") + (rank == 0 ? "" : " (rank " + std::to_string(rank) + ")") +
                           ": " + message + "\n";
  std::cerr << line << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cpmserve: a serving engine for MiniCPM3 models on CPUs"};
  app.require_subcommand(1);
  // Bad flags are reported like every other error: one "error: ..." line.
  app.failure_message([](const CLI::App*, const CLI::Error& error) {
    return "error: " + std::string(error.what()) + " (run with --help for the options)\n";
  });
  std::map<CLI::App*, cpm::app::CommandRunner> runners;
  auto add = [&](cpm::app::CommandRunner runner) {
    runners[app.get_subcommands({}).back()] = std::move(runner);
  };
  add(cpm::app::add_serve_command(app));
  add(cpm::app::add_generate_command(app));
  add(cpm::app::add_logits_command(app));
  add(cpm::app::add_make_checkpoint_command(app));
  add(cpm::app::add_quantize_command(app));
  add(cpm::app::add_export_gguf_command(app));
  add(cpm::app::add_bench_command(app));
  add(cpm::app::add_eval_command(app));
  CLI11_PARSE(app, argc, argv);
  try {
    for (CLI::App* command : app.get_subcommands()) return runners.at(command)();
  } catch (const std::exception& error) {  // cpm::Error and anything else
    report_error(error.what());
    return 1;
  }
  return 1;
}

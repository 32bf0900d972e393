// cpmserve: a serving engine for MiniCPM3 models on CPUs.
#include <CLI/CLI.hpp>
#include <iostream>
#include <map>

#include "commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"cpmserve: a serving engine for MiniCPM3 models on CPUs"};
  app.require_subcommand(1);
  std::map<CLI::App*, cpm::app::CommandRunner> runners;
  auto add = [&](cpm::app::CommandRunner runner) {
    runners[app.get_subcommands({}).back()] = std::move(runner);
  };
  add(cpm::app::add_serve_command(app));
  add(cpm::app::add_generate_command(app));
  add(cpm::app::add_logits_command(app));
  add(cpm::app::add_make_checkpoint_command(app));
  add(cpm::app::add_quantize_command(app));
  add(cpm::app::add_bench_command(app));
  add(cpm::app::add_eval_command(app));
  CLI11_PARSE(app, argc, argv);
  try {
    for (CLI::App* command : app.get_subcommands()) return runners.at(command)();
  } catch (const cpm::Error& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 1;
  }
  return 1;
}

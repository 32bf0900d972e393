// cpmserve serve: the HTTP server over the engine, until SIGINT or SIGTERM.
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "commands.h"
#include "dist/mpi_communicator.h"
#include "dist/tensor_parallel_run.h"
#include "engine_flags.h"
#include "server/http_server.h"
#include "server/log.h"

namespace cpm::app {

namespace {

struct ServeFlags {
  EngineFlags engine;
  ServerOptions server;
  std::string log_level = "info";
};

// Waits for SIGINT or SIGTERM on its own thread (they are blocked in every other one). Until a handler
// is set, a signal ends the process at once: loading and placing several GB of weights takes seconds,
// and a Ctrl-C then must not wait for it. Once set, the handler shuts down in order.
class SignalWatcher {
 public:
  explicit SignalWatcher(const sigset_t& signals) : signals_(signals), thread_([this] { watch(); }) {}
  ~SignalWatcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait if it still waits
    thread_.join();
  }
  // Waits for a handler already running to return.
  void on_signal(std::function<void(int)> handler) {
    std::lock_guard<std::mutex> lock(mutex_);
    handler_ = std::move(handler);
  }

 private:
  void watch() {
    int signal_number = 0;
    sigwait(&signals_, &signal_number);
    // Under the lock, so on_signal waits for a running handler before its scope can end.
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    const std::string name = signal_number == SIGINT ? "SIGINT" : "SIGTERM";
    if (!handler_) {
      log_message(LogLevel::kInfo, "received " + name + " while loading: exiting");
      std::_Exit(128 + signal_number);
    }
    log_message(LogLevel::kInfo, "received " + name + ": aborting requests in flight and shutting down");
    handler_(signal_number);
  }

  sigset_t signals_;
  std::mutex mutex_;
  std::function<void(int)> handler_;
  bool stopping_ = false;
  std::thread thread_;
};

int run_serve(ServeFlags flags) {
  set_log_level(parse_log_level(flags.log_level));
  // Signals go to one thread that shuts down in order; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  SignalWatcher watcher(signals);
  // From here a signal is handled: say so, as the load may take a while.
  log_message(LogLevel::kInfo, "loading " + flags.engine.model.model_path);

  std::unique_ptr<Communicator> group = join_tensor_parallel_group(flags.engine.model.tp_size);
  LoadedModel loaded = load_model(flags.engine.model, group.get());
  // The other ranks follow rank 0's shutdown (mpirun signals every rank).
  if (group != nullptr && group->rank() != 0) watcher.on_signal([](int) {});
  // Under tensor parallelism rank 0 serves; the other ranks replay its engine's steps.
  return run_tensor_parallel(group.get(), *loaded.model, [&] {
    std::unique_ptr<EngineSetup> setup = start_engine(flags.engine, loaded);
    flags.server.model_path = flags.engine.model.model_path;
    HttpServer server(*setup->engine, setup->tokenizer ? &*setup->tokenizer : nullptr, flags.server);
    const int port = server.bind();
    log_message(LogLevel::kInfo, "serving " + flags.server.model_path + " on http://" + flags.server.host +
                                     ":" + std::to_string(port) +
                                     " (OpenAI API under /v1, sglang API at /generate)");
    watcher.on_signal([&](int) {
      setup->engine->shutdown();
      server.stop();
    });
    server.serve();
    // serve() also returns if listening failed. The handler refers to this scope: clear it first.
    watcher.on_signal([](int) {});
    setup->engine->shutdown();
    log_message(LogLevel::kInfo, "stopped");
    return 0;
  });
}

}  // namespace

CommandRunner add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* command = app.add_subcommand("serve", "serve the model over HTTP (OpenAI and sglang APIs)");
  add_engine_flags(command, &flags->engine);
  command->add_option("--host", flags->server.host, "address to listen on")->capture_default_str();
  command->add_option("--port", flags->server.port, "port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command->add_option("--api-key", flags->server.api_key, "require 'Authorization: Bearer KEY'");
  command
      ->add_option("--allowed-origins", flags->server.allowed_origins,
                   "web pages (origins) that may call the API from a browser, or * for any, or none")
      ->capture_default_str();
  command->add_option("--served-model-name", flags->server.served_model_name,
                      "model name in the API (default: folder name)");
  command->add_option("--log-level", flags->log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
  command->add_option("--max-body-bytes", flags->server.max_body_bytes, "largest accepted request body")
      ->capture_default_str();
  command
      ->add_option("--timeout", flags->server.socket_timeout_seconds,
                   "seconds to wait for a client's request bytes or for it to read the reply")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  return [flags] { return run_serve(*flags); };
}

}  // namespace cpm::app

// The generations of one HTTP request (n choices, or a batch of prompts): submits them to the
// engine on one shared stream, hands out their chunks as they come, times them for the metrics, and
// aborts whatever is unfinished when the HTTP request goes away.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "server/metrics.h"
#include "server/session_registry.h"

namespace cpm {

// What ended a request, as sglang reports it: the stop string, the token id as a number, or null.
nlohmann::ordered_json matched_stop_json(const OutputChunk& chunk);

class GenerationSession {
 public:
  // Submits every request (ids must be unique); throws cpm::Error / QueueFullError like Engine::submit,
  // after aborting the ones already submitted. With a registry, first claims `id` (the HTTP
  // request's) for them there, until the session ends; throws cpm::Error when it is taken.
  GenerationSession(Engine& engine, ServerMetrics& metrics, std::vector<EngineRequest> requests,
                    SessionRegistry* registry = nullptr, std::string id = "");
  ~GenerationSession();
  GenerationSession(const GenerationSession&) = delete;
  GenerationSession& operator=(const GenerationSession&) = delete;

  // The next chunk of any choice, with its index; false after `timeout` without one.
  bool next(size_t* index, OutputChunk* chunk, std::chrono::milliseconds timeout);
  bool finished() const { return remaining_ == 0; }
  // Waits for everything; one merged chunk per choice.
  std::vector<OutputChunk> wait_all();
  void abort();

  size_t size() const { return ids_.size(); }
  const std::vector<EngineRequest>& requests() const { return requests_; }
  double elapsed_seconds() const;

 private:
  Engine& engine_;
  ServerMetrics& metrics_;
  SessionRegistry* registry_;
  std::string id_;
  std::vector<EngineRequest> requests_;
  std::vector<std::string> ids_;
  std::shared_ptr<RequestStream> stream_;
  std::vector<bool> done_;
  std::vector<std::chrono::steady_clock::time_point> first_token_, last_token_;
  size_t remaining_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace cpm

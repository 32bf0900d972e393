// Flags of the commands that run the serving engine (generate, serve), named as in sglang.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "model_options.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace cpm::app {

struct EngineFlags {
  ModelFlags model;
  int64_t max_running_requests = 64;
  int64_t chunked_prefill_size = 512;
  int64_t max_total_tokens = 0;
  std::string kv_cache_memory = "1G";
  double kv_cache_fraction = 0;
  bool disable_radix_cache = false;
  int64_t max_queued_requests = 4096;
  std::string speculative_algorithm = "none";
  int64_t speculative_num_draft_tokens = 4;
  int speculative_ngram_min_window = 1, speculative_ngram_max_window = 4;
};

void add_engine_flags(CLI::App* command, EngineFlags* flags);

// A loaded model's tokenizer (when the folder has one) and a running engine.
struct EngineSetup {
  std::optional<Tokenizer> tokenizer;
  std::unique_ptr<Engine> engine;
  std::vector<int32_t> eos_token_ids;
};
// `loaded` must outlive the setup (the engine runs its model).
std::unique_ptr<EngineSetup> start_engine(const EngineFlags& flags, const LoadedModel& loaded);

// "2G", "512M", "1048576": bytes. Throws cpm::Error on anything else.
int64_t parse_byte_size(const std::string& text);

}  // namespace cpm::app

#include "engine_flags.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_checks.h"
#include "core/error.h"

namespace cpm::app {

namespace {

// EOS ids from config.json, generation_config.json and the tokenizer.
std::vector<int32_t> stop_ids(const ModelWeights& weights, const Tokenizer* tokenizer) {
  std::set<int32_t> ids(weights.config().eos_token_ids.begin(), weights.config().eos_token_ids.end());
  const std::filesystem::path generation =
      std::filesystem::path(weights.model_dir()) / "generation_config.json";
  if (std::filesystem::exists(generation)) {
    try {
      nlohmann::json root = nlohmann::json::parse(std::ifstream(generation));
      const nlohmann::json eos = root.value("eos_token_id", nlohmann::json());
      if (eos.is_number_integer()) ids.insert(eos.get<int32_t>());
      for (const auto& id : eos.is_array() ? eos : nlohmann::json::array()) ids.insert(id.get<int32_t>());
    } catch (const nlohmann::json::exception& error) {
      fail(generation.string(), ": ", error.what());
    }
  }
  if (tokenizer != nullptr && tokenizer->eos_id() >= 0) ids.insert(tokenizer->eos_id());
  return {ids.begin(), ids.end()};
}

int64_t physical_memory_bytes() {
  return static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<int64_t>(::sysconf(_SC_PAGE_SIZE));
}

}  // namespace

int64_t parse_byte_size(const std::string& text) {
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string suffix = text.substr(used);
  double scale = 1;
  if (suffix == "K" || suffix == "KB" || suffix == "KiB")
    scale = 1024.0;
  else if (suffix == "M" || suffix == "MB" || suffix == "MiB")
    scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GB" || suffix == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (!suffix.empty())
    used = 0;
  if (used == 0 || !(value > 0)) fail("\"", text, "\" is not a memory size (examples: 2G, 512M, 1048576)");
  return static_cast<int64_t>(value * scale);
}

void add_engine_flags(CLI::App* command, EngineFlags* flags) {
  add_model_flags(command, &flags->model);
  add_tensor_parallel_flag(command, &flags->model);
  command->add_option("--max-running-requests", flags->max_running_requests, "requests decoding at once")
      ->check(kPositive)
      ->capture_default_str();
  command->add_option("--chunked-prefill-size", flags->chunked_prefill_size, "prompt tokens per step")
      ->check(kPositive)
      ->capture_default_str();
  command
      ->add_option("--max-total-tokens", flags->max_total_tokens,
                   "KV pool size in tokens (overrides the memory budget)")
      ->check(kNonNegative);
  command->add_option("--kv-cache-memory", flags->kv_cache_memory, "KV pool budget in bytes (2G, 512M, ...)")
      ->capture_default_str();
  command
      ->add_option("--kv-cache-fraction", flags->kv_cache_fraction,
                   "KV pool budget as a fraction of physical memory (overrides --kv-cache-memory)")
      ->check(CLI::Range(0.0, 0.95));
  command->add_flag("--disable-radix-cache", flags->disable_radix_cache, "no prefix caching");
  command
      ->add_option("--max-queued-requests", flags->max_queued_requests,
                   "requests waiting for admission before new ones are refused (HTTP 503)")
      ->check(kPositive)
      ->capture_default_str();
  command
      ->add_option("--speculative-algorithm", flags->speculative_algorithm,
                   "none, or ngram: decode checks tokens that followed an earlier occurrence of the "
                   "text's ending (prompt lookup), several per step when they prove right")
      ->check(CLI::IsMember({"none", "ngram", "NGRAM"}))
      ->capture_default_str();
  command
      ->add_option("--speculative-num-draft-tokens", flags->speculative_num_draft_tokens,
                   "tokens proposed per decode step (ngram)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  command
      ->add_option("--speculative-ngram-min-window", flags->speculative_ngram_min_window,
                   "shortest ending matched (ngram)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  command
      ->add_option("--speculative-ngram-max-window", flags->speculative_ngram_max_window,
                   "longest ending matched (ngram)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
}

std::unique_ptr<EngineSetup> start_engine(const EngineFlags& flags, const LoadedModel& loaded) {
  auto setup = std::make_unique<EngineSetup>();
  if (Tokenizer::exists(flags.model.model_path)) {
    setup->tokenizer = Tokenizer::load(flags.model.model_path);
  } else {
    std::cerr << "warning: " << flags.model.model_path
              << " has no tokenizer.json: only token-id prompts work\n";
  }
  const Tokenizer* tokenizer = setup->tokenizer ? &*setup->tokenizer : nullptr;
  setup->eos_token_ids = stop_ids(*loaded.weights, tokenizer);
  SchedulerOptions options;
  options.max_running_requests = flags.max_running_requests;
  options.chunked_prefill_size = flags.chunked_prefill_size;
  options.max_total_tokens = flags.max_total_tokens;
  options.kv_cache_memory = flags.kv_cache_fraction > 0
                                ? static_cast<int64_t>(flags.kv_cache_fraction * physical_memory_bytes())
                                : parse_byte_size(flags.kv_cache_memory);
  options.kv_cache_dtype = loaded.kv_cache_dtype;
  options.enable_radix_cache = !flags.disable_radix_cache;
  options.eos_token_ids = setup->eos_token_ids;
  if (flags.speculative_algorithm != "none") {
    if (flags.speculative_ngram_min_window > flags.speculative_ngram_max_window)
      fail("--speculative-ngram-min-window is above --speculative-ngram-max-window");
    options.speculative_num_draft_tokens = flags.speculative_num_draft_tokens;
    options.speculative_ngram_min_window = flags.speculative_ngram_min_window;
    options.speculative_ngram_max_window = flags.speculative_ngram_max_window;
  }
  setup->engine = std::make_unique<Engine>(*loaded.model, tokenizer, options, flags.max_queued_requests);
  const EngineStats stats = setup->engine->stats();
  const int64_t bytes_per_token =
      KvCache::bytes_per_token(setup->engine->model().config().num_hidden_layers,
                               setup->engine->model().attention().cache_row_width(), options.kv_cache_dtype);
  const int dp_size = setup->engine->data_parallel_size();
  std::cerr << "KV pool: " << stats.kv_capacity_tokens << " tokens ("
            << stats.kv_capacity_tokens * bytes_per_token << " bytes)";
  if (dp_size > 1) {
    std::cerr << " over " << dp_size << " data-parallel ranks, " << stats.kv_capacity_tokens / dp_size
              << " tokens each";
  }
  std::cerr << "; radix cache " << (options.enable_radix_cache ? "on" : "off") << "\n";
  return setup;
}

}  // namespace cpm::app

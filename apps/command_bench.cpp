// cpmserve bench: prefill and decode throughput of the model itself (no scheduler, no HTTP), like
// llama-bench's pp / tg tests, with the machine's memory bandwidth measured in the same run.
//   cpmserve bench --model-path DIR --dtype q4_0 --prompt-len 512 --gen-len 128 --threads 2
// `cpmserve bench serving ...` measures a running server instead (see command_bench_serving.cpp).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "commands.h"
#include "core/error.h"
#include "core/memory_bandwidth.h"
#include "kernels/compute_peak.h"
#include "model_options.h"

namespace cpm::app {

namespace {

struct BenchFlags {
  ModelFlags model;
  int64_t prompt_len = 512;
  int64_t gen_len = 128;
  int64_t batch_size = 1;
  int64_t context_depth = 0;  // tokens already in the cache before the measured decode
  int repeats = 3;
  bool json = false;
};

struct Summary {
  double median, min, max;
};

Summary summarize(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return {values[values.size() / 2], values.front(), values.back()};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One repeat: prefill every sequence of the batch in one step, then decode gen_len steps of one
// token per sequence. Returns {prefill tokens/s, decode tokens/s}.
std::pair<double, double> run_once(MiniCPM3& model, const BenchFlags& flags, DType kv_dtype, uint32_t seed) {
  const int64_t batch = flags.batch_size, vocab = model.config().vocab_size;
  const int64_t prompt = std::max(flags.prompt_len, flags.context_depth);
  const int64_t per_sequence = prompt + flags.gen_len;
  auto cache = model.make_cache(batch * per_sequence, kv_dtype);
  std::vector<std::vector<int32_t>> slots(batch, std::vector<int32_t>(per_sequence));
  for (int64_t b = 0; b < batch; ++b)
    std::iota(slots[b].begin(), slots[b].end(), static_cast<int32_t>(b * per_sequence));
  std::mt19937 random(seed);
  ForwardBatch prefill;
  for (int64_t b = 0; b < batch; ++b) {
    prefill.sequences.push_back({b * prompt, prompt, 0, slots[b].data()});
    for (int64_t i = 0; i < prompt; ++i) prefill.token_ids.push_back(static_cast<int32_t>(random() % vocab));
    prefill.logit_rows.push_back((b + 1) * prompt - 1);
  }
  std::vector<float> logits;
  auto start = std::chrono::steady_clock::now();
  model.forward(prefill, *cache, &logits);
  const double prefill_seconds = seconds_since(start);
  start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < flags.gen_len; ++step) {
    ForwardBatch decode;
    for (int64_t b = 0; b < batch; ++b) {
      decode.sequences.push_back({b, 1, prompt + step, slots[b].data()});
      decode.token_ids.push_back(static_cast<int32_t>(random() % vocab));
      decode.logit_rows.push_back(b);
    }
    model.forward(decode, *cache, &logits);
  }
  const double decode_seconds = seconds_since(start);
  return {static_cast<double>(batch * prompt) / prefill_seconds,
          static_cast<double>(batch * flags.gen_len) / std::max(decode_seconds, 1e-9)};
}

int run_bench(const BenchFlags& flags) {
  LoadedModel loaded = load_model(flags.model);
  MiniCPM3& model = *loaded.model;
  if (std::max(flags.prompt_len, flags.context_depth) + flags.gen_len > model.context_length()) {
    fail("--prompt-len plus --gen-len exceeds the context length ", model.context_length());
  }
  const double bandwidth = measure_read_bandwidth(*loaded.pool);
  const double fma_peak = measure_fma_peak(*loaded.pool);
  std::vector<double> prefill, decode;
  run_once(model, BenchFlags{flags.model, std::min<int64_t>(flags.prompt_len, 16), 2, 1, 0, 1, false},
           loaded.kv_cache_dtype, 0);  // warm-up: page in the weights
  for (int repeat = 0; repeat < flags.repeats; ++repeat) {
    const auto [p, d] = run_once(model, flags, loaded.kv_cache_dtype, static_cast<uint32_t>(repeat + 1));
    prefill.push_back(p);
    decode.push_back(d);
  }
  const Summary p = summarize(prefill), d = summarize(decode);
  const double weight_bytes = static_cast<double>(loaded.weights->weight_bytes_per_token());
  // A decode step reads every weight once for the whole batch: the limit is batch × bandwidth / bytes.
  const double decode_limit = static_cast<double>(flags.batch_size) * bandwidth / weight_bytes;
  // At depth, attention adds compute: each decoded token scores every cached token in every layer
  // (on average the depth plus half the decoded tokens). The step's limit is the weight streaming
  // plus that work at the machine's FMA peak.
  const double depth = static_cast<double>(std::max(flags.prompt_len, flags.context_depth));
  const double attention_flops = static_cast<double>(model.attention().flops_per_cached_token()) *
                                 static_cast<double>(model.config().num_hidden_layers) *
                                 (depth + static_cast<double>(flags.gen_len + 1) / 2);
  const double step_limit =
      static_cast<double>(flags.batch_size) /
      (weight_bytes / bandwidth + static_cast<double>(flags.batch_size) * attention_flops / fma_peak);
  nlohmann::ordered_json result = {{"model_path", flags.model.model_path},
                                   {"dtype", std::string(dtype_name(loaded.weights->matrix_dtype()))},
                                   {"threads", loaded.pool->num_threads()},
                                   {"attention_backend", model.attention().name()},
                                   {"batch_size", flags.batch_size},
                                   {"prompt_len", flags.prompt_len},
                                   {"gen_len", flags.gen_len},
                                   {"context_depth", std::max(flags.prompt_len, flags.context_depth)},
                                   {"repeats", flags.repeats},
                                   {"prefill_tokens_per_s", p.median},
                                   {"prefill_tokens_per_s_min", p.min},
                                   {"prefill_tokens_per_s_max", p.max},
                                   {"decode_tokens_per_s", d.median},
                                   {"decode_tokens_per_s_min", d.min},
                                   {"decode_tokens_per_s_max", d.max},
                                   {"weight_bytes_per_token", weight_bytes},
                                   {"memory_bandwidth_gb_s", bandwidth / 1e9},
                                   {"decode_limit_tokens_per_s", decode_limit},
                                   {"decode_roofline_fraction", d.median / decode_limit},
                                   {"fma_peak_gflop_s", fma_peak / 1e9},
                                   {"attention_flops_per_token", attention_flops},
                                   {"decode_step_limit_tokens_per_s", step_limit},
                                   {"decode_step_limit_fraction", d.median / step_limit},
                                   {"peak_rss_bytes", peak_resident_bytes()}};
  if (flags.json) {
    std::cout << result.dump() << "\n";
    return 0;
  }
  std::printf("model %s, weights %s, %d threads, batch %lld\n", flags.model.model_path.c_str(),
              std::string(dtype_name(loaded.weights->matrix_dtype())).c_str(), loaded.pool->num_threads(),
              static_cast<long long>(flags.batch_size));
  std::printf("prefill pp%lld: %.2f tokens/s (min %.2f, max %.2f, %d repeats)\n",
              static_cast<long long>(flags.prompt_len), p.median, p.min, p.max, flags.repeats);
  std::printf("decode  tg%lld: %.2f tokens/s (min %.2f, max %.2f)\n", static_cast<long long>(flags.gen_len),
              d.median, d.min, d.max);
  std::printf(
      "memory read bandwidth %.1f GB/s; weights %.3f GB per step; decode limit %.2f tokens/s; "
      "decode at %.0f%% of it\n",
      bandwidth / 1e9, weight_bytes / 1e9, decode_limit, 100 * d.median / decode_limit);
  std::printf(
      "f32 FMA peak %.0f GFLOP/s; attention %.2f GFLOP per token at this depth; with it the step limit is "
      "%.2f tokens/s; decode at %.0f%% of it\n",
      fma_peak / 1e9, attention_flops / 1e9, step_limit, 100 * d.median / step_limit);
  std::printf("peak RSS %.2f GB\n", static_cast<double>(peak_resident_bytes()) / 1e9);
  return 0;
}

}  // namespace

CommandRunner add_bench_command(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* command = app.add_subcommand("bench", "benchmark the model (or a server: bench serving)");
  add_model_flags(command, &flags->model);
  command->add_option("--prompt-len", flags->prompt_len, "prompt tokens per sequence (pp)")
      ->capture_default_str();
  command->add_option("--gen-len", flags->gen_len, "decoded tokens per sequence (tg)")->capture_default_str();
  command->add_option("--batch-size", flags->batch_size, "sequences decoded together")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--context-depth", flags->context_depth,
                      "cache depth before decoding (default: prompt-len)");
  command->add_option("--repeats", flags->repeats, "measured repeats (median reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--json", flags->json, "print one JSON object");
  CommandRunner serving = add_bench_serving_command(*command);
  CLI::App* serving_command = command->get_subcommand("serving");
  return
      [flags, serving, serving_command] { return serving_command->parsed() ? serving() : run_bench(*flags); };
}

}  // namespace cpm::app

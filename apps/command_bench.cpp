// cpmserve bench: prefill and decode throughput of the model itself (no scheduler, no HTTP), like
// llama-bench's pp / tg tests, with the machine's memory bandwidth measured in the same run.
//   cpmserve bench --model-path DIR --dtype q4_0 --prompt-len 512 --gen-len 128 --threads 2
// Under mpirun with --tp-size N it measures tensor parallelism, with the time spent communicating.
// `cpmserve bench serving ...` measures a running server instead (see command_bench_serving.cpp).
#include <algorithm>
#include <chrono>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "cli_checks.h"
#include "commands.h"
#include "core/error.h"
#include "core/memory_bandwidth.h"
#include "dist/mpi_communicator.h"
#include "dist/tensor_parallel_run.h"
#include "eval/latency_stats.h"
#include "kernels/compute_peak.h"
#include "kernels/cpu_features.h"
#include "model_options.h"

namespace cpm::app {

namespace {

struct BenchFlags {
  ModelFlags model;
  int64_t prompt_len = 512;
  int64_t gen_len = 128;
  int64_t batch_size = 1;
  int64_t context_depth = -1;  // tokens in the cache before the measured decode; -1: the prompt
  int repeats = 3;
  bool json = false;
};

// Decode continues the prompt unless --context-depth says otherwise (0: an empty cache, like
// llama-bench's tg; any depth: like its -d).
int64_t decode_depth(const BenchFlags& flags) {
  return flags.context_depth < 0 ? flags.prompt_len : flags.context_depth;
}

struct Summary {
  double median, min, max;
};

// The median of an even count is the mean of the middle two (numpy's), not the faster one.
Summary summarize(std::vector<double> values) {
  const LatencySummary summary = summarize_latencies(std::move(values));
  return {summary.median, summary.min, summary.max};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What one repeat measured. Communication is the leader's, over the repeat's prefill and decode steps.
struct RepeatResult {
  double prefill_tokens_per_s = 0, decode_tokens_per_s = 0;
  double decode_seconds = 0;
  std::vector<double> decode_step_seconds;  // each decode step's, in order
  CommunicationStats prefill_communication, decode_communication;
};

// a + sign × b, field by field.
CommunicationStats combine(const CommunicationStats& a, const CommunicationStats& b, int sign) {
  return {a.collectives + sign * b.collectives,
          a.collective_bytes + sign * b.collective_bytes,
          a.collective_seconds + sign * b.collective_seconds,
          a.broadcasts + sign * b.broadcasts,
          a.broadcast_bytes + sign * b.broadcast_bytes,
          a.broadcast_seconds + sign * b.broadcast_seconds};
}

// Every sequence of the batch given random tokens at positions [from, to), in one step.
ForwardBatch random_tokens(int64_t batch, int64_t from, int64_t to, int64_t vocab,
                           const std::vector<std::vector<int32_t>>& slots, std::mt19937& random) {
  const int64_t length = to - from;
  ForwardBatch step;
  for (int64_t b = 0; b < batch; ++b) {
    step.sequences.push_back({b * length, length, from, slots[b].data()});
    for (int64_t i = 0; i < length; ++i) step.token_ids.push_back(static_cast<int32_t>(random() % vocab));
    step.logit_rows.push_back((b + 1) * length - 1);
  }
  return step;
}

// One repeat: prefill every sequence of the batch in one step, then decode gen_len steps of one
// token per sequence. A cached row depends only on the tokens up to it, so a shallower decode depth
// decodes over the prompt's first rows; a deeper one is prefilled on from the prompt, untimed.
RepeatResult run_once(MiniCPM3& model, Communicator& group, const BenchFlags& flags, DType kv_dtype,
                      uint32_t seed) {
  const int64_t batch = flags.batch_size, vocab = model.config().vocab_size;
  const int64_t prompt = flags.prompt_len, depth = decode_depth(flags);
  const int64_t per_sequence = std::max(prompt, depth + flags.gen_len);
  auto cache = model.make_cache(batch * per_sequence, kv_dtype);
  std::vector<std::vector<int32_t>> slots(batch, std::vector<int32_t>(per_sequence));
  for (int64_t b = 0; b < batch; ++b)
    std::iota(slots[b].begin(), slots[b].end(), static_cast<int32_t>(b * per_sequence));
  std::mt19937 random(seed);
  std::vector<float> logits;
  RepeatResult result;
  CommunicationStats before = group.stats();
  auto start = std::chrono::steady_clock::now();
  model.forward(random_tokens(batch, 0, prompt, vocab, slots, random), *cache, &logits);
  const double prefill_seconds = seconds_since(start);
  result.prefill_communication = combine(group.stats(), before, -1);
  if (depth > prompt)
    model.forward(random_tokens(batch, prompt, depth, vocab, slots, random), *cache, &logits);
  before = group.stats();
  start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < flags.gen_len; ++step) {
    const auto step_start = std::chrono::steady_clock::now();
    ForwardBatch decode;
    for (int64_t b = 0; b < batch; ++b) {
      decode.sequences.push_back({b, 1, depth + step, slots[b].data()});
      decode.token_ids.push_back(static_cast<int32_t>(random() % vocab));
      decode.logit_rows.push_back(b);
    }
    model.forward(decode, *cache, &logits);
    result.decode_step_seconds.push_back(seconds_since(step_start));
  }
  result.decode_seconds = seconds_since(start);
  result.decode_communication = combine(group.stats(), before, -1);
  result.prefill_tokens_per_s = static_cast<double>(batch * prompt) / prefill_seconds;
  result.decode_tokens_per_s =
      static_cast<double>(batch * flags.gen_len) / std::max(result.decode_seconds, 1e-9);
  return result;
}

// The machine as every rank sees it at once: each measures while the others do, and the sums are the
// machine's bandwidth and FMA peak, and the weight bytes all ranks stream per step. Bandwidth is
// measured before the runs and again after them: on a shared machine it drifts within minutes, so
// decode is put against the mean of the two, and both are reported.
struct MachineFigures {
  double bandwidth_before = 0, bandwidth_after = 0, fma_peak = 0, weight_bytes = 0;
  double placed_bytes = 0, huge_page_bytes = 0;  // huge_page_bytes < 0: not known
  double bandwidth() const { return (bandwidth_before + bandwidth_after) / 2; }
};

// The sums over the group of each rank's figures.
void sum_over_group(Communicator& group, double* figures, int count) {
  if (group.size() <= 1) return;
  std::vector<float> sums(figures, figures + count);
  group.all_reduce_sum(sums.data(), count);
  std::copy(sums.begin(), sums.end(), figures);
}

MachineFigures measure_machine(const LoadedModel& loaded, Communicator& group) {
  group.barrier();
  // Unknown huge pages on any rank make the sum negative.
  const int64_t huge = loaded.weights->placed_huge_page_bytes();
  double figures[5] = {
      measure_read_bandwidth(*loaded.pool), 0, static_cast<double>(loaded.weights->weight_bytes_per_token()),
      static_cast<double>(loaded.weights->placed_bytes()), huge < 0 ? -1e30 : static_cast<double>(huge)};
  group.barrier();
  figures[1] = measure_fma_peak(*loaded.pool);
  sum_over_group(group, figures, 5);
  MachineFigures machine;
  machine.bandwidth_before = machine.bandwidth_after = figures[0];
  machine.fma_peak = figures[1];
  machine.weight_bytes = figures[2];
  machine.placed_bytes = figures[3];
  machine.huge_page_bytes = figures[4];
  return machine;
}

double measure_bandwidth_again(const LoadedModel& loaded, Communicator& group) {
  group.barrier();
  double bandwidth = measure_read_bandwidth(*loaded.pool);
  sum_over_group(group, &bandwidth, 1);
  return bandwidth;
}

// Per decode step, averaged over every measured repeat; with one rank, nothing.
nlohmann::ordered_json communication_report(const std::vector<RepeatResult>& repeats, const BenchFlags& flags,
                                            int ranks) {
  CommunicationStats decode, prefill;
  double decode_seconds = 0;
  for (const RepeatResult& r : repeats) {
    decode = combine(decode, r.decode_communication, 1);
    prefill = combine(prefill, r.prefill_communication, 1);
    decode_seconds += r.decode_seconds;
  }
  const double steps = static_cast<double>(flags.gen_len) * static_cast<double>(repeats.size());
  const double per_repeat = static_cast<double>(repeats.size());
  return {{"tp_size", ranks},
          {"decode_collectives_per_step", static_cast<double>(decode.collectives) / steps},
          {"decode_collective_bytes_per_step", static_cast<double>(decode.collective_bytes) / steps},
          {"decode_collective_seconds_per_step", decode.collective_seconds / steps},
          {"decode_broadcast_seconds_per_step", decode.broadcast_seconds / steps},
          {"decode_step_seconds", decode_seconds / steps},
          {"decode_communication_fraction",
           (decode.collective_seconds + decode.broadcast_seconds) / std::max(decode_seconds, 1e-9)},
          {"prefill_collective_seconds", prefill.collective_seconds / per_repeat},
          {"prefill_collective_bytes", static_cast<double>(prefill.collective_bytes) / per_repeat}};
}

// The human-readable form of the bench JSON.
void print_bench(const nlohmann::ordered_json& r) {
  const auto number = [&](const char* key) { return r[key].get<double>(); };
  std::printf("model %s, weights %s, %d threads, batch %lld\n", r["model_path"].get<std::string>().c_str(),
              r["dtype"].get<std::string>().c_str(), r["threads"].get<int>(),
              r["batch_size"].get<long long>());
  std::printf("cpu %s, %s kernels\n", r["cpu"].get<std::string>().c_str(),
              r["kernels"].get<std::string>().c_str());
  std::printf("prefill pp%lld: %.2f tokens/s (min %.2f, max %.2f, %d repeats)\n",
              r["prompt_len"].get<long long>(), number("prefill_tokens_per_s"),
              number("prefill_tokens_per_s_min"), number("prefill_tokens_per_s_max"),
              r["repeats"].get<int>());
  std::printf("decode  tg%lld: %.2f tokens/s (min %.2f, max %.2f); steps %.3g ms (p10 %.3g, p90 %.3g)\n",
              r["gen_len"].get<long long>(), number("decode_tokens_per_s"), number("decode_tokens_per_s_min"),
              number("decode_tokens_per_s_max"), number("decode_step_ms_p50"), number("decode_step_ms_p10"),
              number("decode_step_ms_p90"));
  std::printf(
      "memory read bandwidth %.1f GB/s (%.1f before the runs, %.1f after); weights %.3f GB per step; "
      "decode limit %.2f tokens/s; decode at %.0f%% of it\n",
      number("memory_bandwidth_gb_s"), number("memory_bandwidth_gb_s_before"),
      number("memory_bandwidth_gb_s_after"), number("weight_bytes_per_token") / 1e9,
      number("decode_limit_tokens_per_s"), 100 * number("decode_roofline_fraction"));
  std::printf(
      "f32 FMA peak %.0f GFLOP/s; attention %.2f GFLOP per token at this depth; with it the step limit is "
      "%.2f tokens/s; decode at %.0f%% of it\n",
      number("fma_peak_gflop_s"), number("attention_flops_per_token") / 1e9,
      number("decode_step_limit_tokens_per_s"), 100 * number("decode_step_limit_fraction"));
  std::printf("peak RSS %.2f GB", number("peak_rss_bytes") / 1e9);
  if (r["weights_huge_page_fraction"].is_number())
    std::printf("; weights in huge pages: %.1f%%", 100 * number("weights_huge_page_fraction"));
  std::printf("\n");
  if (!r.contains("communication")) return;
  const nlohmann::ordered_json& c = r["communication"];
  std::printf(
      "tensor parallel over %d ranks: per decode step %.0f collectives, %.0f bytes, %.3f ms in them and %.3f "
      "ms "
      "broadcasting the step (%.1f%% of the %.1f ms step); prefill %.3f s in collectives\n",
      c["tp_size"].get<int>(), c["decode_collectives_per_step"].get<double>(),
      c["decode_collective_bytes_per_step"].get<double>(),
      1e3 * c["decode_collective_seconds_per_step"].get<double>(),
      1e3 * c["decode_broadcast_seconds_per_step"].get<double>(),
      100 * c["decode_communication_fraction"].get<double>(), 1e3 * c["decode_step_seconds"].get<double>(),
      c["prefill_collective_seconds"].get<double>());
}

// The warm-up, then the measured repeats (the leader's part under tensor parallelism).
std::vector<RepeatResult> time_repeats(const BenchFlags& flags, LoadedModel& loaded, Communicator& group) {
  MiniCPM3& model = *loaded.model;
  run_once(model, group, BenchFlags{flags.model, std::min<int64_t>(flags.prompt_len, 16), 2, 1, -1, 1, false},
           loaded.kv_cache_dtype, 0);  // warm-up: page in the weights
  std::vector<RepeatResult> repeats;
  for (int repeat = 0; repeat < flags.repeats; ++repeat)
    repeats.push_back(
        run_once(model, group, flags, loaded.kv_cache_dtype, static_cast<uint32_t>(repeat + 1)));
  return repeats;
}

nlohmann::ordered_json bench_report(const BenchFlags& flags, const LoadedModel& loaded, int ranks,
                                    const std::vector<RepeatResult>& repeats, const MachineFigures& machine) {
  const MiniCPM3& model = *loaded.model;
  const double bandwidth = machine.bandwidth(), fma_peak = machine.fma_peak,
               weight_bytes = machine.weight_bytes;
  std::vector<double> prefill, decode, steps;
  for (const RepeatResult& r : repeats) {
    prefill.push_back(r.prefill_tokens_per_s);
    decode.push_back(r.decode_tokens_per_s);
    steps.insert(steps.end(), r.decode_step_seconds.begin(), r.decode_step_seconds.end());
  }
  // Step times pooled over the repeats: a p90 far above the median says the machine was disturbed
  // for part of the run; a slow run with a narrow spread was slow throughout.
  std::sort(steps.begin(), steps.end());
  const Summary p = summarize(prefill), d = summarize(decode);
  // A decode step reads every weight once for the whole batch: the limit is batch × bandwidth / bytes.
  const double decode_limit = static_cast<double>(flags.batch_size) * bandwidth / weight_bytes;
  // At depth, attention adds compute: each decoded token scores every cached token in every layer
  // (on average the depth plus half the decoded tokens). The step's limit is the weight streaming
  // plus that work at the machine's FMA peak.
  const double depth = static_cast<double>(decode_depth(flags));
  const double attention_flops = static_cast<double>(model.attention().flops_per_cached_token()) *
                                 static_cast<double>(model.config().num_hidden_layers) *
                                 (depth + static_cast<double>(flags.gen_len + 1) / 2);
  const double step_limit =
      static_cast<double>(flags.batch_size) /
      (weight_bytes / bandwidth + static_cast<double>(flags.batch_size) * attention_flops / fma_peak);
  nlohmann::ordered_json result = {{"model_path", flags.model.model_path},
                                   {"dtype", std::string(dtype_name(loaded.weights->matrix_dtype()))},
                                   {"threads", loaded.pool->num_threads()},
                                   {"cpu", cpu_model_name()},
                                   {"kernels", kernel_instruction_set()},
                                   {"tp_size", ranks},
                                   {"attention_backend", model.attention().name()},
                                   {"deterministic_inference", flags.model.deterministic_inference},
                                   {"bf16_prefill", model.bf16_prefill()},
                                   {"batch_size", flags.batch_size},
                                   {"prompt_len", flags.prompt_len},
                                   {"gen_len", flags.gen_len},
                                   {"context_depth", decode_depth(flags)},
                                   {"repeats", flags.repeats},
                                   {"prefill_tokens_per_s", p.median},
                                   {"prefill_tokens_per_s_min", p.min},
                                   {"prefill_tokens_per_s_max", p.max},
                                   {"decode_tokens_per_s", d.median},
                                   {"decode_tokens_per_s_min", d.min},
                                   {"decode_tokens_per_s_max", d.max},
                                   {"decode_step_ms_p10", 1e3 * percentile_of_sorted(steps, 10)},
                                   {"decode_step_ms_p50", 1e3 * percentile_of_sorted(steps, 50)},
                                   {"decode_step_ms_p90", 1e3 * percentile_of_sorted(steps, 90)},
                                   {"weight_bytes_per_token", weight_bytes},
                                   {"memory_bandwidth_gb_s", bandwidth / 1e9},
                                   {"memory_bandwidth_gb_s_before", machine.bandwidth_before / 1e9},
                                   {"memory_bandwidth_gb_s_after", machine.bandwidth_after / 1e9},
                                   {"decode_limit_tokens_per_s", decode_limit},
                                   {"decode_roofline_fraction", d.median / decode_limit},
                                   {"fma_peak_gflop_s", fma_peak / 1e9},
                                   {"attention_flops_per_token", attention_flops},
                                   {"decode_step_limit_tokens_per_s", step_limit},
                                   {"decode_step_limit_fraction", d.median / step_limit},
                                   {"peak_rss_bytes", peak_resident_bytes()}};
  // The share of the weights in huge pages: decode streams 4 KB pages slower (null: not known).
  if (machine.placed_bytes > 0 && machine.huge_page_bytes >= 0)
    result["weights_huge_page_fraction"] = machine.huge_page_bytes / machine.placed_bytes;
  else
    result["weights_huge_page_fraction"] = nullptr;
  if (ranks > 1) result["communication"] = communication_report(repeats, flags, ranks);
  return result;
}

int run_bench(const BenchFlags& flags) {
  if (flags.model.enable_dp_attention)
    fail(
        "bench measures the model under tensor parallelism; for DP attention measure a server (bench "
        "serving)");
  std::unique_ptr<Communicator> group = join_tensor_parallel_group(flags.model.tp_size);
  LoadedModel loaded = load_model(flags.model, group.get());
  MiniCPM3& model = *loaded.model;
  if (flags.prompt_len > model.context_length())
    fail("--prompt-len ", flags.prompt_len, " exceeds the context length ", model.context_length());
  if (decode_depth(flags) + flags.gen_len > model.context_length()) {
    fail(flags.context_depth < 0 ? "--prompt-len" : "--context-depth",
         " plus --gen-len exceeds the context length ", model.context_length());
  }
  MachineFigures machine = measure_machine(loaded, *group);
  std::vector<RepeatResult> repeats;
  std::exception_ptr failure;  // the leader's, kept until every rank knows of it
  run_tensor_parallel(group.get(), model, [&] {
    try {
      repeats = time_repeats(flags, loaded, *group);
    } catch (...) {
      failure = std::current_exception();
    }
    return 0;
  });
  double failed = failure ? 1 : 0;
  sum_over_group(*group, &failed, 1);  // so no rank waits below for a leader that failed
  if (failure) std::rethrow_exception(failure);
  if (failed != 0) return 1;
  machine.bandwidth_after = measure_bandwidth_again(loaded, *group);  // every rank, as before the runs
  if (group->rank() != 0) return 0;
  const nlohmann::ordered_json result = bench_report(flags, loaded, group->size(), repeats, machine);
  if (flags.json) {
    std::cout << result.dump() << "\n";
  } else {
    print_bench(result);
  }
  return 0;
}
}  // namespace

CommandRunner add_bench_command(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* command = app.add_subcommand("bench", "benchmark the model (or a server: bench serving)");
  add_model_flags(command, &flags->model);
  add_tensor_parallel_flag(command, &flags->model);
  command->add_option("--prompt-len", flags->prompt_len, "prompt tokens per sequence (pp)")
      ->check(kPositive)
      ->capture_default_str();
  command->add_option("--gen-len", flags->gen_len, "decoded tokens per sequence (tg)")
      ->check(kPositive)
      ->capture_default_str();
  command->add_option("--batch-size", flags->batch_size, "sequences decoded together")
      ->check(kPositive)
      ->capture_default_str();
  command
      ->add_option("--context-depth", flags->context_depth,
                   "cached tokens before the measured decode (default: the prompt; 0: an empty cache, like "
                   "llama-bench's tg; N: like its -d N)")
      ->check(kNonNegative);
  command->add_option("--repeats", flags->repeats, "measured repeats (median reported)")
      ->check(kPositive)
      ->capture_default_str();
  command->add_flag("--json", flags->json, "print one JSON object");
  CommandRunner serving = add_bench_serving_command(*command);
  CLI::App* serving_command = command->get_subcommand("serving");
  return
      [flags, serving, serving_command] { return serving_command->parsed() ? serving() : run_bench(*flags); };
}

}  // namespace cpm::app

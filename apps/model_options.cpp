#include "model_options.h"

#include <unistd.h>

#include <exception>
#include <filesystem>
#include <iostream>

#include "cli_checks.h"
#include "core/error.h"
#include "dist/setup_check.h"
#include "kernels/cpu_features.h"
#include "model/checkpoint_fingerprint.h"

namespace cpm::app {

namespace {

// Decode streams weights in 4 KB pages markedly slower than in huge pages; the kernel falls back to
// them when memory is fragmented (often by a large page cache), and the collapse at load may not undo it.
void warn_about_small_pages(const ModelWeights& weights) {
  const int64_t placed = weights.placed_bytes(), huge = weights.placed_huge_page_bytes();
  if (placed <= 0 || huge < 0 || static_cast<double>(huge) >= 0.9 * static_cast<double>(placed)) return;
  std::cerr << "warning: only " << 100 * huge / placed << "% of the weights are in huge pages (memory is "
            << "fragmented); decode may run slower. Freeing memory (e.g. as root: sync; echo 3 > "
               "/proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory) before loading helps\n";
}

}  // namespace

std::string default_model_path() {
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    const std::filesystem::path candidate = exe.parent_path().parent_path() / "models" / "demo";
    if (std::filesystem::is_directory(candidate)) return candidate.string();
  }
  return "models/demo";
}

void add_model_flags(CLI::App* command, ModelFlags* flags) {
  flags->model_path = default_model_path();
  command->add_option("--model-path", flags->model_path, "MiniCPM3 checkpoint folder (Hugging Face layout)")
      ->capture_default_str();
  command->add_option("--threads", flags->threads, "worker threads (0: all cores)")->check(kNonNegative);
  command
      ->add_option("--context-length", flags->context_length,
                   "context length (0: max_position_embeddings); fixes the LongRoPE factor list")
      ->check(kNonNegative);
  command->add_option("--attention-backend", flags->attention_backend, "latent or materialized")
      ->check(CLI::IsMember({"latent", "materialized"}))
      ->capture_default_str();
  command->add_flag("--enable-deterministic-inference", flags->deterministic_inference,
                    "bitwise the same logits for a request alone or batched, chunked or not, with a "
                    "cached prefix or after preemption: the latent backend then attends in the absorbed "
                    "form for prefill too (slower prefill)");
  command->add_flag("--enable-bf16-prefill", flags->bf16_prefill,
                    "prefill products with bf16 weights round the activations to bf16 and use the CPU's "
                    "bf16 dot products (AVX512_BF16; ignored without it), as llama.cpp does for bf16 and "
                    "f16 weights: faster bf16 prefill, logits moved by about 1e-3 relative");
  command->add_option("--dtype", flags->dtype, "weight storage: auto (as stored), f32, bf16, q8_0 or q4_0")
      ->check(CLI::IsMember({"auto", "f32", "bf16", "q8_0", "q4_0"}))
      ->capture_default_str();
  command->add_option("--kv-cache-dtype", flags->kv_cache_dtype, "f32 or bf16")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
}

void add_tensor_parallel_flag(CLI::App* command, ModelFlags* flags) {
  command
      ->add_option("--tp-size", flags->tp_size,
                   "tensor-parallel ranks, one process each: run under mpirun -np N with --tp-size N")
      ->check(kPositive)
      ->capture_default_str();
  command
      ->add_option("--dp-size", flags->dp_size,
                   "data-parallel attention ranks (with --enable-dp-attention; equal to --tp-size)")
      ->check(kPositive)
      ->capture_default_str();
  command->add_flag("--enable-dp-attention", flags->enable_dp_attention,
                    "each rank runs attention for its own requests with its own KV cache; the MLP, "
                    "embedding and lm_head stay split over --tp-size");
}

void check_parallel_flags(const ModelFlags& flags) {
  if (!flags.enable_dp_attention && flags.dp_size != 1) {
    fail("--dp-size ", flags.dp_size, " needs --enable-dp-attention (data-parallel attention is the only ",
         "data parallelism cpmserve runs)");
  }
  if (flags.enable_dp_attention && flags.dp_size != flags.tp_size) {
    fail(
        "--enable-dp-attention runs every tensor-parallel rank as its own data-parallel rank: give "
        "--dp-size ",
        "equal to --tp-size (got --dp-size ", flags.dp_size, " with --tp-size ", flags.tp_size, ")");
  }
}

namespace {

// Before loading gigabytes: every rank must be about to load the same model the same way.
void check_same_model_on_every_rank(const ModelFlags& flags, Communicator& group) {
  RankSetup setup;
  std::exception_ptr unreadable;
  try {
    setup.checkpoint = checkpoint_fingerprint(flags.model_path);
  } catch (const Error& error) {
    setup.readable = 0;  // still take part, so the other ranks are not left waiting
    setup.set_reason(error.what());
    unreadable = std::current_exception();
  }
  const std::string model_flags =
      flags.dtype + "|" + flags.attention_backend + "|" + std::to_string(flags.deterministic_inference) +
      "|" + std::to_string(flags.bf16_prefill) + "|" + std::to_string(flags.context_length) + "|" +
      std::to_string(flags.enable_dp_attention);
  setup.flags = fnv1a(model_flags.data(), model_flags.size());
  if (unreadable) {
    try {
      require_same_setup(group, setup);
    } catch (const Error&) {
    }
    std::rethrow_exception(unreadable);  // this rank's own reason is the useful message
  }
  require_same_setup(group, setup);
}

}  // namespace

LoadedModel load_model(const ModelFlags& flags, Communicator* group) {
  check_parallel_flags(flags);
  const bool reports = group == nullptr || group->rank() == 0;
  const bool dp_attention = flags.enable_dp_attention && group != nullptr && group->size() > 1;
  if (group != nullptr && group->size() > 1) check_same_model_on_every_rank(flags, *group);
  LoadedModel loaded;
  loaded.pool = std::make_unique<ThreadPool>(flags.threads);
  WeightLoadOptions options;
  options.pool = loaded.pool.get();
  options.show_progress = reports;
  if (group != nullptr) {
    options.tp_rank = group->rank();
    options.tp_size = group->size();
    options.dp_attention = dp_attention;
  }
  if (flags.dtype != "auto") {
    DType dtype;
    parse_dtype(flags.dtype, &dtype);
    options.dtype = dtype;
  }
  loaded.weights = ModelWeights::load(flags.model_path, options);
  loaded.model = std::make_unique<MiniCPM3>(
      loaded.weights,
      ModelOptions{flags.context_length, flags.attention_backend, group, dp_attention,
                   flags.deterministic_inference, flags.bf16_prefill},
      *loaded.pool);
  parse_dtype(flags.kv_cache_dtype, &loaded.kv_cache_dtype);
  if (!reports) return loaded;
  for (const std::string& warning : loaded.weights->warnings()) std::cerr << "warning: " << warning << "\n";
  const DType weights_dtype = loaded.weights->matrix_dtype();
  const bool bf16_prefill = flags.bf16_prefill && cpu_has_avx512_bf16() && weights_dtype == DType::kBF16;
  if (flags.bf16_prefill && !cpu_has_avx512_bf16()) {
    std::cerr << "warning: --enable-bf16-prefill has no effect: this CPU lacks AVX512_BF16\n";
  } else if (flags.bf16_prefill && weights_dtype != DType::kBF16) {
    std::cerr << "warning: --enable-bf16-prefill applies to bf16 weights only (these are "
              << dtype_name(weights_dtype) << ")\n";
  }
  const ModelConfig& config = loaded.weights->config();
  const int64_t kv_bytes = KvCache::bytes_per_token(
      config.num_hidden_layers, loaded.model->attention().cache_row_width(), loaded.kv_cache_dtype);
  std::cerr << "loaded " << flags.model_path << ": " << config.num_hidden_layers << " layers, hidden "
            << config.hidden_size << ", vocab " << config.vocab_size << ", weights "
            << dtype_name(loaded.weights->matrix_dtype()) << " (" << loaded.weights->weight_bytes_per_token()
            << " bytes read per token); attention backend " << loaded.model->attention().name()
            << (flags.deterministic_inference ? " (deterministic inference)" : "")
            << (bf16_prefill ? ", bf16 prefill products" : "") << ", KV cache " << kv_bytes
            << " bytes per token (" << flags.kv_cache_dtype << "), context " << loaded.model->context_length()
            << ", " << loaded.pool->num_threads() << " threads";
  if (group != nullptr && group->size() > 1) {
    std::cerr << "; tensor parallel over " << group->size() << " ranks (weights and KV cache per rank)";
    if (dp_attention) {
      std::cerr << " with data-parallel attention (every rank holds all attention weights and runs its own "
                   "requests)";
    }
  }
  std::cerr << "\n";
  warn_about_small_pages(*loaded.weights);
  return loaded;
}

}  // namespace cpm::app

// Options shared by every command that runs the model, and how they turn into a loaded model.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "core/communicator.h"
#include "core/thread_pool.h"
#include "model/minicpm3.h"

namespace cpm::app {

struct ModelFlags {
  std::string model_path;
  int threads = 0;
  int64_t context_length = 0;
  std::string attention_backend = "latent";
  bool deterministic_inference = false;  // latent backend: absorbed attention for every token
  bool bf16_prefill = false;             // prefill products with bf16 weights on bf16 activations
  std::string kv_cache_dtype = "f32";
  std::string dtype = "auto";  // weight storage: auto (as in the checkpoint), f32, bf16, q8_0, q4_0
  int tp_size = 1;             // tensor-parallel ranks (processes started by mpirun)
  int dp_size = 1;             // data-parallel attention ranks (with enable_dp_attention)
  bool enable_dp_attention = false;
};

// The built-in model: models/demo next to the build folder (build/../models/demo).
std::string default_model_path();
void add_model_flags(CLI::App* command, ModelFlags* flags);
// --tp-size, --dp-size and --enable-dp-attention, for the commands that run over a tensor-parallel
// group (logits, generate, serve).
void add_tensor_parallel_flag(CLI::App* command, ModelFlags* flags);
// Throws cpm::Error for a combination of --tp-size, --dp-size and --enable-dp-attention that does
// not run.
void check_parallel_flags(const ModelFlags& flags);

struct LoadedModel {
  std::shared_ptr<ModelWeights> weights;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<MiniCPM3> model;
  DType kv_cache_dtype = DType::kF32;
};
// Loads and reports what was loaded (KV bytes per token, warnings) on stderr. With a tensor-parallel
// group, loads this rank's shard, and only rank 0 reports.
LoadedModel load_model(const ModelFlags& flags, Communicator* group = nullptr);

}  // namespace cpm::app

// Deterministic random MiniCPM3 checkpoints in Hugging Face layout, for tests and benchmarks.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace cpm {

// Preset names: "tiny" (seconds to run), "demo" (the default model until a trained one exists) and
// "minicpm3-4b" (the real model's config: 62 layers, tied embeddings, its LongRoPE factors).
std::vector<std::string> random_checkpoint_presets();
// The config.json of a preset; throws cpm::Error for an unknown name.
nlohmann::ordered_json random_checkpoint_config(const std::string& preset);

// Writes DIR/config.json, DIR/generation_config.json and DIR/model.safetensors (weights in `dtype`,
// f32 or bf16) for `config`. The same seed gives the same bytes.
void write_random_checkpoint(const std::string& dir, const nlohmann::ordered_json& config, uint64_t seed,
                             DType dtype);

}  // namespace cpm

#include "model/random_checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace cpm {

namespace {

using nlohmann::ordered_json;

// xoshiro256**: fast and good enough for weights; seeded per tensor so tensors are independent.
class Random {
 public:
  explicit Random(uint64_t seed) {
    for (uint64_t& word : state_) word = split_mix(seed);
  }
  uint64_t next() {
    const uint64_t result = rotate(state_[1] * 5, 7) * 9, shifted = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= shifted;
    state_[3] = rotate(state_[3], 45);
    return result;
  }
  // Uniform in [-1, 1).
  float symmetric() { return static_cast<float>(static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0); }

 private:
  static uint64_t rotate(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t split_mix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
};

uint64_t hash_name(const std::string& name, uint64_t seed) {
  uint64_t hash = 1469598103934665603ull ^ seed;
  for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

// Uniform weights with standard deviation `std` (matrices) or 1 + small noise (norm vectors).
std::vector<uint8_t> random_tensor(const std::string& name, int64_t count, uint64_t seed, DType dtype,
                                   float std, bool is_norm) {
  Random random(hash_name(name, seed));
  const float amplitude = is_norm ? 0.1f : std * std::sqrt(3.0f);
  std::vector<uint8_t> bytes(dtype_bytes(dtype, count));
  for (int64_t i = 0; i < count; ++i) {
    const float value = (is_norm ? 1.0f : 0.0f) + amplitude * random.symmetric();
    if (dtype == DType::kF32) {
      std::memcpy(bytes.data() + 4 * i, &value, 4);
    } else {
      const uint16_t half = f32_to_bf16(value);
      std::memcpy(bytes.data() + 2 * i, &half, 2);
    }
  }
  return bytes;
}

ordered_json base_config() {
  return ordered_json{{"architectures", {"MiniCPM3ForCausalLM"}},
                      {"model_type", "minicpm3"},
                      {"bos_token_id", 1},
                      {"eos_token_id", {2}},
                      {"hidden_act", "silu"},
                      {"rms_norm_eps", 1e-5},
                      {"rope_theta", 10000.0},
                      {"attention_bias", false},
                      {"use_cache", true}};
}

ordered_json longrope(std::vector<double> short_factor, std::vector<double> long_factor, int64_t original) {
  return ordered_json{{"type", "longrope"},
                      {"long_factor", long_factor},
                      {"short_factor", short_factor},
                      {"original_max_position_embeddings", original}};
}

ordered_json tiny_config() {
  ordered_json config = base_config();
  config.update(ordered_json{{"hidden_size", 64},
                             {"num_hidden_layers", 2},
                             {"intermediate_size", 160},
                             {"num_attention_heads", 4},
                             {"num_key_value_heads", 4},
                             {"q_lora_rank", 32},
                             {"kv_lora_rank", 16},
                             {"qk_nope_head_dim", 16},
                             {"qk_rope_head_dim", 8},
                             {"v_head_dim", 12},
                             {"max_position_embeddings", 2048},
                             {"vocab_size", 512},
                             {"scale_emb", 10},
                             {"scale_depth", 1.3},
                             {"dim_model_base", 32},
                             {"tie_word_embeddings", true},
                             {"initializer_range", 0.08}});
  config["eos_token_id"] = {2, 510};  // </s> and <|im_end|> of the 512-piece tokenizer
  config["rope_scaling"] = longrope({1.0, 1.5, 3.0, 6.0}, {1.2, 2.5, 5.0, 12.0}, 2048);
  config["original_max_position_embeddings"] = 2048;
  return config;
}

ordered_json demo_config() {
  ordered_json config = base_config();
  config.update(ordered_json{{"hidden_size", 256},
                             {"num_hidden_layers", 4},
                             {"intermediate_size", 640},
                             {"num_attention_heads", 8},
                             {"num_key_value_heads", 8},
                             {"q_lora_rank", 128},
                             {"kv_lora_rank", 64},
                             {"qk_nope_head_dim", 32},
                             {"qk_rope_head_dim", 16},
                             {"v_head_dim", 32},
                             {"max_position_embeddings", 4096},
                             {"vocab_size", 2048},
                             {"scale_emb", 12},
                             {"scale_depth", 1.4},
                             {"dim_model_base", 64},
                             {"tie_word_embeddings", true},
                             {"initializer_range", 0.05}});
  config["rope_scaling"] =
      longrope({1.0, 1.1, 1.3, 1.7, 2.5, 4.0, 6.5, 9.0}, {1.1, 1.3, 1.7, 2.5, 4.0, 6.5, 9.0, 12.0}, 4096);
  config["original_max_position_embeddings"] = 4096;
  config["eos_token_id"] = {2, 2046};
  return config;
}

// MiniCPM3-4B's published config.json, values verbatim (no v_head_dim and no tie_word_embeddings key,
// as upstream: v_head_dim is then hidden / heads and the embedding is tied).
ordered_json minicpm3_4b_config() {
  const std::vector<double> factors = {
      1.0591234137867171, 1.1241891283591912, 1.2596935748670968, 1.5380380402321725,
      2.093982484148734,  3.1446935121267696, 4.937952647693647,  7.524541999994549,
      10.475458000005451, 13.062047352306353, 14.85530648787323,  15.906017515851266,
      16.461961959767827, 16.740306425132907, 16.87581087164081,  16.940876586213285};
  ordered_json config = base_config();
  config["eos_token_id"] = {2, 73440};
  config.update(ordered_json{{"initializer_range", 0.1},
                             {"hidden_size", 2560},
                             {"num_hidden_layers", 62},
                             {"intermediate_size", 6400},
                             {"max_position_embeddings", 32768},
                             {"num_attention_heads", 40},
                             {"num_key_value_heads", 40},
                             {"qk_nope_head_dim", 64},
                             {"qk_rope_head_dim", 32},
                             {"q_lora_rank", 768},
                             {"kv_lora_rank", 256},
                             {"torch_dtype", "bfloat16"},
                             {"vocab_size", 73448},
                             {"scale_emb", 12},
                             {"dim_model_base", 256},
                             {"scale_depth", 1.4}});
  config.erase("rope_theta");
  config["rope_scaling"] = longrope(factors, factors, 32768);
  return config;
}

void write_json(const std::filesystem::path& path, const ordered_json& value) {
  std::ofstream out(path);
  out << value.dump(2) << "\n";
  if (!out) fail(path.string(), ": cannot write");
}

}  // namespace

std::vector<std::string> random_checkpoint_presets() {
  return {"tiny", "demo", "minicpm3-4b"};
}

ordered_json random_checkpoint_config(const std::string& preset) {
  if (preset == "tiny") return tiny_config();
  if (preset == "demo") return demo_config();
  if (preset == "minicpm3-4b") return minicpm3_4b_config();
  fail("unknown preset \"", preset, "\" (choose tiny, demo or minicpm3-4b)");
}

void write_random_checkpoint(const std::string& dir, const ordered_json& config_json, uint64_t seed,
                             DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kBF16)
    fail("--dtype must be f32 or bf16 for a random checkpoint");
  const ModelConfig config = ModelConfig::from_json_text(config_json.dump(), "preset config");
  std::filesystem::create_directories(dir);
  ordered_json with_dtype = config_json;
  with_dtype["torch_dtype"] = dtype == DType::kF32 ? "float32" : "bfloat16";
  write_json(std::filesystem::path(dir) / "config.json", with_dtype);
  write_json(std::filesystem::path(dir) / "generation_config.json",
             ordered_json{{"bos_token_id", config.bos_token_id}, {"eos_token_id", config.eos_token_ids}});
  const float std = config_json.value("initializer_range", 0.05f);
  SafetensorsWriter writer;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t count = 1;
    for (int64_t dim : shape) count *= dim;
    const bool is_norm = shape.size() == 1;
    writer.add_produced(name, dtype, shape, dtype_bytes(dtype, count),
                        [=] { return random_tensor(name, count, seed, dtype, std, is_norm); });
  };
  const int64_t d = config.hidden_size, heads = config.num_attention_heads;
  add("model.embed_tokens.weight", {config.vocab_size, d});
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {d});
    add(p + "self_attn.q_a_proj.weight", {config.q_lora_rank, d});
    add(p + "self_attn.q_a_layernorm.weight", {config.q_lora_rank});
    add(p + "self_attn.q_b_proj.weight", {heads * config.qk_head_dim(), config.q_lora_rank});
    add(p + "self_attn.kv_a_proj_with_mqa.weight", {config.kv_lora_rank + config.qk_rope_head_dim, d});
    add(p + "self_attn.kv_a_layernorm.weight", {config.kv_lora_rank});
    add(p + "self_attn.kv_b_proj.weight",
        {heads * (config.qk_nope_head_dim + config.v_head_dim), config.kv_lora_rank});
    add(p + "self_attn.o_proj.weight", {d, heads * config.v_head_dim});
    add(p + "post_attention_layernorm.weight", {d});
    add(p + "mlp.gate_proj.weight", {config.intermediate_size, d});
    add(p + "mlp.up_proj.weight", {config.intermediate_size, d});
    add(p + "mlp.down_proj.weight", {d, config.intermediate_size});
  }
  add("model.norm.weight", {d});
  if (!config.tie_word_embeddings) add("lm_head.weight", {config.vocab_size, d});
  writer.set_metadata("format", "pt");
  writer.write((std::filesystem::path(dir) / "model.safetensors").string());
}

}  // namespace cpm

#include "model/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace cpm {

namespace {

using nlohmann::json;

class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  int64_t positive_int(const char* key) {
    const json& value = required(key);
    if (!value.is_number_integer() || value.get<int64_t>() <= 0) {
      fail(source_, ": \"", key, "\" must be a positive integer, got ", value.dump());
    }
    return value.get<int64_t>();
  }
  double positive_number(const char* key, double fallback, bool has_fallback) {
    if (!root_.contains(key) || root_[key].is_null()) {
      if (has_fallback) return fallback;
      fail(source_, ": missing required key \"", key, "\"");
    }
    const json& value = root_[key];
    if (!value.is_number() || !(value.get<double>() > 0) || !std::isfinite(value.get<double>())) {
      fail(source_, ": \"", key, "\" must be a positive number, got ", value.dump());
    }
    return value.get<double>();
  }
  const json& required(const char* key) {
    if (!root_.contains(key) || root_[key].is_null()) fail(source_, ": missing required key \"", key, "\"");
    return root_[key];
  }
  std::vector<float> factor_list(const json& scaling, const char* key, int64_t expected) {
    if (!scaling.contains(key) || !scaling[key].is_array()) {
      fail(source_, ": rope_scaling.", key, " must be a list of numbers");
    }
    std::vector<float> factors;
    for (const json& item : scaling[key]) {
      if (!item.is_number() || !(item.get<double>() > 0)) {
        fail(source_, ": rope_scaling.", key, " must hold positive numbers, got ", item.dump());
      }
      factors.push_back(item.get<float>());
    }
    if (static_cast<int64_t>(factors.size()) != expected) {
      fail(source_, ": rope_scaling.", key, " has ", factors.size(),
           " numbers, expected qk_rope_head_dim / 2 = ", expected);
    }
    return factors;
  }

 private:
  const json& root_;
  const std::string& source_;
};

void check_architecture(const json& root, const std::string& source) {
  bool is_minicpm3 = root.contains("model_type") && root["model_type"] == "minicpm3";
  if (root.contains("architectures") && root["architectures"].is_array()) {
    for (const json& name : root["architectures"]) is_minicpm3 |= name == "MiniCPM3ForCausalLM";
  }
  if (!is_minicpm3) {
    fail(source, ": not a MiniCPM3 checkpoint (model_type ",
         root.contains("model_type") ? root["model_type"].dump() : std::string("missing"),
         "; expected \"minicpm3\" or architectures containing \"MiniCPM3ForCausalLM\")");
  }
}

void read_rope_scaling(const json& root, ConfigReader& reader, ModelConfig& config,
                       const std::string& source) {
  if (!root.contains("rope_scaling") || root["rope_scaling"].is_null()) return;
  const json& scaling = root["rope_scaling"];
  if (!scaling.is_object()) fail(source, ": rope_scaling must be an object or null");
  std::string type = scaling.value("type", scaling.value("rope_type", std::string()));
  if (type != "longrope")
    fail(source, ": unsupported rope_scaling type \"", type, "\" (supported: longrope)");
  RopeScaling& rope = config.rope_scaling;
  rope.longrope = true;
  const int64_t half = config.qk_rope_head_dim / 2;
  rope.short_factor = reader.factor_list(scaling, "short_factor", half);
  rope.long_factor = reader.factor_list(scaling, "long_factor", half);
  const json* original = nullptr;
  if (scaling.contains("original_max_position_embeddings"))
    original = &scaling["original_max_position_embeddings"];
  else if (root.contains("original_max_position_embeddings"))
    original = &root["original_max_position_embeddings"];
  if (original == nullptr) fail(source, ": longrope needs original_max_position_embeddings");
  if (!original->is_number_integer() || original->get<int64_t>() <= 0) {
    fail(source, ": original_max_position_embeddings must be a positive integer");
  }
  rope.original_max_position_embeddings = original->get<int64_t>();
  if (scaling.contains("attention_factor") && !scaling["attention_factor"].is_null()) {
    if (!scaling["attention_factor"].is_number() || !(scaling["attention_factor"].get<double>() > 0)) {
      fail(source, ": rope_scaling.attention_factor must be a positive number");
    }
    rope.attention_factor = scaling["attention_factor"].get<double>();
  }
}

void read_token_ids(const json& root, ModelConfig& config, const std::string& source) {
  if (root.contains("bos_token_id") && root["bos_token_id"].is_number_integer()) {
    config.bos_token_id = root["bos_token_id"].get<int64_t>();
  }
  if (!root.contains("eos_token_id") || root["eos_token_id"].is_null()) return;
  const json& eos = root["eos_token_id"];
  auto add = [&](const json& id) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= config.vocab_size) {
      fail(source, ": eos_token_id ", id.dump(), " is not a token id below vocab_size ", config.vocab_size);
    }
    config.eos_token_ids.push_back(id.get<int64_t>());
  };
  if (eos.is_array()) {
    for (const json& id : eos) add(id);
  } else {
    add(eos);
  }
}

}  // namespace

double ModelConfig::residual_scale() const {
  return scale_depth / std::sqrt(static_cast<double>(num_hidden_layers));
}

ModelConfig ModelConfig::from_json_text(const std::string& text, const std::string& source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& error) {
    fail(source, ": malformed JSON: ", error.what());
  }
  if (!root.is_object()) fail(source, ": expected a JSON object at the top level");
  check_architecture(root, source);
  ConfigReader reader(root, source);
  ModelConfig config;
  config.vocab_size = reader.positive_int("vocab_size");
  config.hidden_size = reader.positive_int("hidden_size");
  config.num_hidden_layers = reader.positive_int("num_hidden_layers");
  config.num_attention_heads = reader.positive_int("num_attention_heads");
  config.intermediate_size = reader.positive_int("intermediate_size");
  config.q_lora_rank = reader.positive_int("q_lora_rank");
  config.kv_lora_rank = reader.positive_int("kv_lora_rank");
  config.qk_nope_head_dim = reader.positive_int("qk_nope_head_dim");
  config.qk_rope_head_dim = reader.positive_int("qk_rope_head_dim");
  config.max_position_embeddings = reader.positive_int("max_position_embeddings");
  if (root.contains("v_head_dim") && !root["v_head_dim"].is_null()) {
    config.v_head_dim = reader.positive_int("v_head_dim");
  } else {
    if (config.hidden_size % config.num_attention_heads != 0) {
      fail(source, ": v_head_dim is absent and hidden_size is not divisible by num_attention_heads");
    }
    config.v_head_dim = config.hidden_size / config.num_attention_heads;
  }
  if (config.qk_rope_head_dim % 2 != 0 || config.qk_rope_head_dim > 512) {
    fail(source, ": qk_rope_head_dim must be even and at most 512, got ", config.qk_rope_head_dim);
  }
  config.rms_norm_eps = reader.positive_number("rms_norm_eps", 1e-5, false);
  config.rope_theta = reader.positive_number("rope_theta", 10000.0, true);
  config.scale_emb = reader.positive_number("scale_emb", 1.0, true);
  config.scale_depth = reader.positive_number("scale_depth", 1.0, true);
  config.dim_model_base =
      reader.positive_number("dim_model_base", static_cast<double>(config.hidden_size), true);
  if (root.contains("tie_word_embeddings") && !root["tie_word_embeddings"].is_null()) {
    if (!root["tie_word_embeddings"].is_boolean())
      fail(source, ": tie_word_embeddings must be true or false");
    config.tie_word_embeddings = root["tie_word_embeddings"].get<bool>();
  }
  if (root.contains("hidden_act") && root["hidden_act"] != "silu") {
    fail(source, ": unsupported hidden_act ", root["hidden_act"].dump(), " (MiniCPM3 uses silu)");
  }
  if (root.value("attention_bias", false)) fail(source, ": attention_bias true is not supported by MiniCPM3");
  read_rope_scaling(root, reader, config, source);
  read_token_ids(root, config, source);
  return config;
}

ModelConfig ModelConfig::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return from_json_text(buffer.str(), path);
}

}  // namespace cpm

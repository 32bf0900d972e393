#include "model/weights.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"

namespace cpm {

namespace {

const TensorInfo& require_tensor(const CheckpointFiles& files, const std::string& model_dir,
                                 const std::string& name) {
  const TensorInfo* tensor = files.find(name);
  if (tensor == nullptr) fail(model_dir, ": missing tensor \"", name, "\"");
  return *tensor;
}

void check_shape(const TensorInfo& tensor, const std::vector<int64_t>& expected) {
  if (tensor.shape != expected) {
    TensorInfo wanted;
    wanted.shape = expected;
    fail(tensor.file, ": tensor \"", tensor.name, "\" has shape ", tensor.shape_string(), ", expected ",
         wanted.shape_string(), " from config.json");
  }
}

}  // namespace

MatrixView ModelWeights::matrix(const std::string& name, int64_t rows, int64_t cols) {
  const TensorInfo& tensor = require_tensor(*files_, model_dir_, name);
  check_shape(tensor, {rows, cols});
  used_.push_back(name);
  return MatrixView{tensor.dtype, rows, cols, tensor.data, tensor.num_bytes / rows};
}

std::vector<float> ModelWeights::vector(const std::string& name, int64_t size) {
  const TensorInfo& tensor = require_tensor(*files_, model_dir_, name);
  check_shape(tensor, {size});
  if (dtype_info(tensor.dtype).block_size != 1)
    fail(tensor.file, ": norm tensor \"", name, "\" must not be quantized");
  used_.push_back(name);
  std::vector<float> values(size);
  const MatrixView view{tensor.dtype, 1, size, tensor.data, tensor.num_bytes};
  for (int64_t i = 0; i < size; ++i) {
    switch (tensor.dtype) {
      case DType::kF32:
        values[i] = reinterpret_cast<const float*>(view.data)[i];
        break;
      case DType::kF16:
        values[i] = f16_to_f32(reinterpret_cast<const uint16_t*>(view.data)[i]);
        break;
      default:
        values[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(view.data)[i]);
        break;
    }
  }
  return values;
}

std::shared_ptr<ModelWeights> ModelWeights::load(const std::string& model_dir) {
  std::shared_ptr<ModelWeights> weights(new ModelWeights());
  weights->model_dir_ = model_dir;
  if (!std::filesystem::is_directory(model_dir)) fail(model_dir, ": model folder not found");
  weights->config_ = ModelConfig::from_file((std::filesystem::path(model_dir) / "config.json").string());
  weights->files_ = std::make_unique<CheckpointFiles>(model_dir);
  weights->bind_tensors();
  return weights;
}

void ModelWeights::bind_tensors() {
  const ModelConfig& c = config_;
  const int64_t d = c.hidden_size, heads = c.num_attention_heads;
  embed_tokens_ = matrix("model.embed_tokens.weight", c.vocab_size, d);
  if (dtype_info(embed_tokens_.dtype).block_size != 1 && !c.tie_word_embeddings) {
    fail(model_dir_, ": a quantized embedding is only supported when it is tied to lm_head");
  }
  norm_ = vector("model.norm.weight", d);
  layers_.resize(c.num_hidden_layers);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string prefix = "model.layers." + std::to_string(i) + ".";
    LayerWeights& layer = layers_[i];
    layer.input_layernorm = vector(prefix + "input_layernorm.weight", d);
    layer.q_a_proj = matrix(prefix + "self_attn.q_a_proj.weight", c.q_lora_rank, d);
    layer.q_a_layernorm = vector(prefix + "self_attn.q_a_layernorm.weight", c.q_lora_rank);
    layer.q_b_proj = matrix(prefix + "self_attn.q_b_proj.weight", heads * c.qk_head_dim(), c.q_lora_rank);
    layer.kv_a_proj_with_mqa =
        matrix(prefix + "self_attn.kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, d);
    layer.kv_a_layernorm = vector(prefix + "self_attn.kv_a_layernorm.weight", c.kv_lora_rank);
    layer.kv_b_proj = matrix(prefix + "self_attn.kv_b_proj.weight",
                             heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
    layer.o_proj = matrix(prefix + "self_attn.o_proj.weight", d, heads * c.v_head_dim);
    layer.post_attention_layernorm = vector(prefix + "post_attention_layernorm.weight", d);
    layer.gate_proj = matrix(prefix + "mlp.gate_proj.weight", c.intermediate_size, d);
    layer.up_proj = matrix(prefix + "mlp.up_proj.weight", c.intermediate_size, d);
    layer.down_proj = matrix(prefix + "mlp.down_proj.weight", d, c.intermediate_size);
  }
  if (c.tie_word_embeddings) {
    lm_head_ = embed_tokens_;
    if (files_->find("lm_head.weight") != nullptr) {
      used_.push_back("lm_head.weight");
      warnings_.push_back("lm_head.weight is present but tie_word_embeddings is true: using the embedding");
    }
  } else {
    lm_head_ = matrix("lm_head.weight", c.vocab_size, d);
  }
  std::set<std::string> used(used_.begin(), used_.end());
  for (const auto& [name, tensor] : files_->tensors()) {
    if (used.count(name)) continue;
    // Older exports carry rotary buffers; they are derived from the config, so skipping them is safe.
    if (name.find("rotary_emb.inv_freq") != std::string::npos) {
      warnings_.push_back("ignoring derived buffer " + name);
      continue;
    }
    fail(tensor->file, ": unknown tensor \"", name,
         "\" (not part of a MiniCPM3 checkpoint with this config)");
  }
}

int64_t ModelWeights::weight_bytes_per_token() const {
  int64_t total = lm_head_.num_bytes();
  for (const LayerWeights& layer : layers_) {
    for (const MatrixView* m : {&layer.q_a_proj, &layer.q_b_proj, &layer.kv_a_proj_with_mqa, &layer.kv_b_proj,
                                &layer.o_proj, &layer.gate_proj, &layer.up_proj, &layer.down_proj}) {
      total += m->num_bytes();
    }
  }
  return total;
}

}  // namespace cpm

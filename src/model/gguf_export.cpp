#include "model/gguf_export.h"

#include <cmath>
#include <tuple>

#include "core/error.h"
#include "model/rotary.h"
#include "model/weight_conversion.h"

namespace cpm {

namespace {

constexpr const char* kArch = "minicpm3";

std::string arch_key(const std::string& suffix) {
  return std::string(kArch) + "." + suffix;
}

uint32_t u32(int64_t value, const char* what) {
  if (value < 0 || value > static_cast<int64_t>(UINT32_MAX))
    fail("GGUF export: ", what, " ", value, " out of range");
  return static_cast<uint32_t>(value);
}

bool same(double a, double b) {
  return std::fabs(a - b) <= 1e-6 * std::fabs(b);
}

// The matrix in its file type: the mapped bytes when nothing changes, else converted row by row.
GgufWriter::Producer matrix_producer(std::shared_ptr<const ModelWeights> keep_alive, const MatrixView* matrix,
                                     DType type, ThreadPool* pool, std::string name) {
  return [keep_alive = std::move(keep_alive), matrix, type, pool, name = std::move(name)] {
    const MatrixView m = *matrix;
    const int64_t row_bytes = dtype_bytes(type, m.cols);
    if (m.dtype == type && m.row_bytes == row_bytes)
      return std::vector<uint8_t>(m.data, m.data + m.num_bytes());
    std::vector<uint8_t> storage;
    convert_matrix(m, type, &storage, *pool, name);
    return storage;
  };
}

GgufWriter::Producer floats_producer(std::vector<float> values) {
  return [values = std::move(values)] {
    const auto* bytes = reinterpret_cast<const uint8_t*>(values.data());
    return std::vector<uint8_t>(bytes, bytes + values.size() * sizeof(float));
  };
}

}  // namespace

DType parse_gguf_export_dtype(std::string_view text) {
  DType dtype;
  if (text == "f32" || text == "f16" || text == "bf16" || text == "q8_0" || text == "q4_0") {
    parse_dtype(text, &dtype);
    return dtype;
  }
  fail("unsupported GGUF type \"", text, "\" (supported: f32, f16, bf16, q8_0, q4_0)");
}

uint32_t llama_file_type_of(DType dtype) {
  switch (dtype) {  // llama.h's llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q4_0, MOSTLY_Q8_0, MOSTLY_BF16
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ8_0:
      return 7;
    case DType::kBF16:
      return 32;
  }
  fail("no llama file type for dtype ", static_cast<int>(dtype));
}

DType gguf_matrix_dtype(GgufMatrixRole role, DType stored, int64_t cols, DType target) {
  const int block = dtype_info(target).block_size;
  if (block == 1) return target;
  switch (role) {
    case GgufMatrixRole::kEmbedding:
    case GgufMatrixRole::kKvB:
      return stored;
    case GgufMatrixRole::kOutput:
      return target == DType::kQ4_0 ? DType::kQ8_0 : target;
    case GgufMatrixRole::kProjection:
      return cols % block == 0 ? target : stored;
  }
  return target;
}

std::vector<std::string> llama_cpp_constant_mismatches(const ModelConfig& config) {
  std::vector<std::string> out;
  for (auto [name, value, expected] :
       {std::tuple{"scale_emb", config.scale_emb, kLlamaCppMiniCPM3ScaleEmb},
        {"scale_depth", config.scale_depth, kLlamaCppMiniCPM3ScaleDepth},
        {"dim_model_base", config.dim_model_base, kLlamaCppMiniCPM3DimModelBase}}) {
    if (!same(value, expected)) {
      out.push_back(str_cat("config.json has ", name, " = ", value,
                            ", but llama.cpp's minicpm3 graph always uses ", expected,
                            " (its output would be wrong)"));
    }
  }
  return out;
}

std::vector<std::string> add_minicpm3_to_gguf(const std::shared_ptr<const ModelWeights>& weights,
                                              const GgufExportOptions& options, GgufWriter* writer) {
  const ModelConfig& c = weights->config();
  if (!weights->shard().is_whole()) fail("GGUF export needs the whole model, not a tensor-parallel shard");
  if (options.pool == nullptr) fail("GGUF export needs a thread pool");
  std::vector<std::string> warnings = llama_cpp_constant_mismatches(c);
  if (!warnings.empty() && !options.allow_constant_mismatch) {
    std::string message;
    for (const std::string& warning : warnings) message += (message.empty() ? "" : "; ") + warning;
    fail(message, "; pass --allow-constant-mismatch to export anyway");
  }
  const DType target = options.dtype;

  writer->add_string("general.architecture", kArch);
  writer->add_string("general.name", options.name);
  writer->add_uint32("general.file_type", llama_file_type_of(target));
  writer->add_uint32(arch_key("context_length"), u32(c.max_position_embeddings, "max_position_embeddings"));
  writer->add_uint32(arch_key("embedding_length"), u32(c.hidden_size, "hidden_size"));
  writer->add_uint32(arch_key("block_count"), u32(c.num_hidden_layers, "num_hidden_layers"));
  writer->add_uint32(arch_key("feed_forward_length"), u32(c.intermediate_size, "intermediate_size"));
  writer->add_uint32(arch_key("vocab_size"), u32(c.vocab_size, "vocab_size"));
  writer->add_uint32(arch_key("attention.head_count"), u32(c.num_attention_heads, "num_attention_heads"));
  // MLA: after kv_b_proj every head has its own key and value.
  writer->add_uint32(arch_key("attention.head_count_kv"), u32(c.num_attention_heads, "num_attention_heads"));
  writer->add_float32(arch_key("attention.layer_norm_rms_epsilon"), static_cast<float>(c.rms_norm_eps));
  writer->add_uint32(arch_key("attention.q_lora_rank"), u32(c.q_lora_rank, "q_lora_rank"));
  writer->add_uint32(arch_key("attention.kv_lora_rank"), u32(c.kv_lora_rank, "kv_lora_rank"));
  writer->add_uint32(arch_key("attention.key_length"), u32(c.qk_head_dim(), "qk head dim"));
  // llama.cpp would otherwise take hidden_size / heads, which is v_head_dim only by coincidence.
  writer->add_uint32(arch_key("attention.value_length"), u32(c.v_head_dim, "v_head_dim"));
  writer->add_uint32(arch_key("rope.dimension_count"), u32(c.qk_rope_head_dim, "qk_rope_head_dim"));
  writer->add_float32(arch_key("rope.freq_base"), static_cast<float>(c.rope_theta));
  writer->add_float32(arch_key("embedding_scale"), static_cast<float>(c.scale_emb));
  writer->add_float32(arch_key("residual_scale"), static_cast<float>(c.residual_scale()));
  writer->add_float32(arch_key("logit_scale"), static_cast<float>(c.logit_divisor()));
  const RopeScaling& rope = c.rope_scaling;
  if (rope.longrope) {
    writer->add_uint32(arch_key("rope.scaling.original_context_length"),
                       u32(rope.original_max_position_embeddings, "original_max_position_embeddings"));
    // LongRoPE's cos/sin multiplier; llama.cpp applies this key as its attention factor.
    const double attention_factor = RotaryEmbedding(c, c.max_position_embeddings).attention_factor();
    if (attention_factor != 1.0) {
      writer->add_float32(arch_key("rope.scaling.attn_factor"), static_cast<float>(attention_factor));
    }
  }

  ThreadPool* pool = options.pool;
  auto add_matrix = [&](const std::string& name, const MatrixView* m, GgufMatrixRole role) {
    if (m->layout != MatrixLayout::kRows)
      fail("internal: GGUF export needs the weights loaded with WeightLoadOptions::place_matrices off");
    const DType type = gguf_matrix_dtype(role, m->dtype, m->cols, target);
    if (dtype_info(type).block_size > 1 && m->cols % dtype_info(type).block_size != 0) {
      fail("cannot store ", name, " as ", dtype_name(type), ": its width ", m->cols, " is not a multiple of ",
           dtype_info(type).block_size);
    }
    writer->add_tensor(name, type, {m->rows, m->cols}, matrix_producer(weights, m, type, pool, name));
  };
  auto add_vector = [&](const std::string& name, const std::vector<float>& values) {
    // Norms stay f32, as llama.cpp keeps every 1-D tensor.
    writer->add_tensor(name, DType::kF32, {static_cast<int64_t>(values.size())}, floats_producer(values));
  };

  add_matrix("token_embd.weight", &weights->embed_tokens(), GgufMatrixRole::kEmbedding);
  add_vector("output_norm.weight", weights->norm());
  // A tied lm_head is left out (llama.cpp then reuses token_embd) unless it is stored differently.
  const bool tied = weights->lm_head().data == weights->embed_tokens().data;
  const MatrixView& head = weights->lm_head();
  if (!tied || gguf_matrix_dtype(GgufMatrixRole::kOutput, head.dtype, head.cols, target) !=
                   gguf_matrix_dtype(GgufMatrixRole::kEmbedding, head.dtype, head.cols, target)) {
    add_matrix("output.weight", &head, GgufMatrixRole::kOutput);
  }
  if (rope.longrope) {
    const size_t half = static_cast<size_t>(c.qk_rope_head_dim / 2);
    if (rope.long_factor.size() != half || rope.short_factor.size() != half) {
      fail("GGUF export: LongRoPE factor lists must have qk_rope_head_dim / 2 = ", half, " entries");
    }
    add_vector("rope_factors_long.weight", rope.long_factor);
    add_vector("rope_factors_short.weight", rope.short_factor);
  }
  for (size_t i = 0; i < weights->layers().size(); ++i) {
    const LayerWeights& l = weights->layers()[i];
    const std::string p = "blk." + std::to_string(i) + ".";
    add_vector(p + "attn_norm.weight", l.input_layernorm);
    add_matrix(p + "attn_q_a.weight", &l.q_a_proj, GgufMatrixRole::kProjection);
    add_vector(p + "attn_q_a_norm.weight", l.q_a_layernorm);
    add_matrix(p + "attn_q_b.weight", &l.q_b_proj, GgufMatrixRole::kProjection);
    add_matrix(p + "attn_kv_a_mqa.weight", &l.kv_a_proj_with_mqa, GgufMatrixRole::kProjection);
    add_vector(p + "attn_kv_a_norm.weight", l.kv_a_layernorm);
    add_matrix(p + "attn_kv_b.weight", &l.kv_b_proj, GgufMatrixRole::kKvB);
    add_matrix(p + "attn_output.weight", &l.o_proj, GgufMatrixRole::kProjection);
    add_vector(p + "ffn_norm.weight", l.post_attention_layernorm);
    add_matrix(p + "ffn_gate.weight", &l.gate_proj, GgufMatrixRole::kProjection);
    add_matrix(p + "ffn_up.weight", &l.up_proj, GgufMatrixRole::kProjection);
    add_matrix(p + "ffn_down.weight", &l.down_proj, GgufMatrixRole::kProjection);
  }
  return warnings;
}

}  // namespace cpm

// A MiniCPM3 checkpoint as a GGUF file llama.cpp loads as architecture "minicpm3": its
// hyper-parameter keys, tensor names and tensor types. (The tokenizer keys come from
// tokenizer/llama_vocab.h; apps/command_export_gguf.cpp puts the two together.)
//
// What llama.cpp's minicpm3 support expects (src/models/minicpm3.cpp, convert_hf_to_gguf.py's
// MiniCPM3Model, as of 2025):
// * Tensors keep the Hugging Face layout. Its rope is the NEOX kind (rotate halves), the same as
//   cpmserve's, so q_b_proj and kv_a_proj_with_mqa are written unpermuted.
// * LongRoPE factors are two f32 tensors "rope_factors_long.weight" / "rope_factors_short.weight"
//   (qk_rope_head_dim / 2 each); llama.cpp takes the long ones when the context exceeds
//   rope.scaling.original_context_length, like cpmserve's --context-length.
// * Its graph hard-codes MiniCPM3-4B's muP constants instead of reading them: scale_emb = 12,
//   scale_depth = 1.4 and dim_model_base = 256. A checkpoint with other values would run with wrong
//   scales there, so the export refuses it unless told otherwise. The values are still written
//   (embedding_scale, residual_scale, logit_scale, as for llama.cpp's "minicpm") for readers that
//   use them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_pool.h"
#include "model/gguf_writer.h"
#include "model/weights.h"

namespace cpm {

// The constants llama.cpp's minicpm3 graph uses regardless of the file.
inline constexpr double kLlamaCppMiniCPM3ScaleEmb = 12.0;
inline constexpr double kLlamaCppMiniCPM3ScaleDepth = 1.4;
inline constexpr double kLlamaCppMiniCPM3DimModelBase = 256.0;

// Parses an export type: f32, f16, bf16, q8_0 or q4_0; throws cpm::Error naming the others.
DType parse_gguf_export_dtype(std::string_view text);
// general.file_type (llama_ftype) of an export type.
uint32_t llama_file_type_of(DType dtype);

// Where a matrix sits in the model, which decides its type in the file.
enum class GgufMatrixRole { kEmbedding, kOutput, kKvB, kProjection };
// The type a matrix is written in. The float types convert every matrix, as llama.cpp's converter
// does. The block types give exactly the weights cpmserve runs with `--dtype q8_0|q4_0` (see
// ModelWeights::convert), so the two engines compute with the same numbers: the embedding and
// kv_b_proj stay as stored, lm_head is q8_0 for q4_0 (logits are sensitive to it), and a matrix too
// narrow for whole blocks stays as stored.
DType gguf_matrix_dtype(GgufMatrixRole role, DType stored, int64_t cols, DType target);

// Messages for each llama.cpp constant the config differs from (empty when it matches).
std::vector<std::string> llama_cpp_constant_mismatches(const ModelConfig& config);

struct GgufExportOptions {
  DType dtype = DType::kF16;
  std::string name;                      // general.name
  bool allow_constant_mismatch = false;  // export anyway (with warnings) when the constants differ
  ThreadPool* pool = nullptr;            // converts rows; must outlive GgufWriter::write
};

// Adds the architecture metadata and every tensor of `weights` (loaded without --dtype conversion)
// to `writer`; the tensors are converted while the file is written, so `weights` is kept alive by
// the writer's producers. Returns warnings. Throws cpm::Error for a checkpoint llama.cpp would run
// wrongly (see above) or that cannot be stored in the requested type.
std::vector<std::string> add_minicpm3_to_gguf(const std::shared_ptr<const ModelWeights>& weights,
                                              const GgufExportOptions& options, GgufWriter* writer);

}  // namespace cpm

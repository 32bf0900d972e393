#include "model/weights.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress_bar.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "kernels/row_groups.h"
#include "model/weight_conversion.h"

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

// m's rows, back to back (a column slice's rows leave the other columns behind), at out.
MatrixView copy_rows(const MatrixView& m, uint8_t* out, ThreadPool& pool) {
  const int64_t row_bytes = dtype_bytes(m.dtype, m.cols);
  const int64_t grain = std::max<int64_t>(1, (1 << 20) / row_bytes);  // about 1 MB a task
  pool.parallel_for(m.rows, grain, [&](int, int64_t begin, int64_t end) {
    if (m.row_bytes == row_bytes) {
      std::memcpy(out + begin * row_bytes, m.row(begin), (end - begin) * row_bytes);
    } else {
      for (int64_t r = begin; r < end; ++r) std::memcpy(out + r * row_bytes, m.row(r), row_bytes);
    }
  });
  return MatrixView{m.dtype, m.rows, m.cols, out, row_bytes, MatrixLayout::kRows};
}

}  // namespace

MatrixView ModelWeights::matrix(const std::string& name, int64_t rows, int64_t cols) {
  const TensorInfo& tensor = require_tensor(*files_, model_dir_, name);
  check_shape(tensor, {rows, cols});
  used_.push_back(name);
  return MatrixView{tensor.dtype, rows, cols, tensor.data, tensor.num_bytes / rows, MatrixLayout::kRows};
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

std::shared_ptr<ModelWeights> ModelWeights::load(const std::string& model_dir,
                                                 const WeightLoadOptions& options) {
  std::shared_ptr<ModelWeights> weights(new ModelWeights());
  weights->model_dir_ = model_dir;
  if (!std::filesystem::is_directory(model_dir)) fail(model_dir, ": model folder not found");
  weights->config_ = ModelConfig::from_file((std::filesystem::path(model_dir) / "config.json").string());
  weights->files_ = std::make_unique<CheckpointFiles>(model_dir);
  weights->shard_ =
      TensorShard::split(weights->config_, options.tp_rank, options.tp_size, options.dp_attention);
  weights->bind_tensors();
  if (!weights->shard_.is_whole()) weights->keep_shard();
  // A private pool only when there is work for one and the caller gave none.
  std::unique_ptr<ThreadPool> own_pool;
  auto pool = [&]() -> ThreadPool& {
    if (options.pool != nullptr) return *options.pool;
    if (own_pool == nullptr) own_pool = std::make_unique<ThreadPool>(0);
    return *own_pool;
  };
  if (options.dtype && *options.dtype != weights->matrix_dtype()) weights->convert(options, pool());
  if (options.place_matrices) weights->place_matrices(pool);
  if (options.decode_kv_b_q8_0) weights->quantize_kv_b_for_decode(pool);
  return weights;
}

// Every matrix the forward pass reads moves into one buffer of huge pages (core/large_buffer.h), off
// the checkpoint's mapped 4 KB pages (or a conversion's heap): on a Zen 5 (2 cores), bf16 decode
// streamed its weights 1.4-2.6x as fast from there (docs/PERFORMANCE.md). Block-quantized matrices
// that only matmul reads are grouped by eight rows on the way where the kernels want it; the others
// (the embedding, kv_b_proj, whose rows are read directly, and float matrices) are copied as they are.
void ModelWeights::place_matrices(const std::function<ThreadPool&()>& pool) {
  const bool tied = lm_head_.data == embed_tokens_.data;
  struct Placement {
    MatrixView* matrix;
    bool grouped;  // else copied as it is
  };
  // The embedding and kv_b_proj are read by rows, never grouped.
  std::vector<Placement> placements = {{&embed_tokens_, false}};
  const auto add = [&](MatrixView* m) { placements.push_back({m, matmul_prefers_row_groups(*m)}); };
  if (!tied) add(&lm_head_);
  for (LayerWeights& l : layers_) {
    for (MatrixView* m :
         {&l.q_a_proj, &l.q_b_proj, &l.kv_a_proj_with_mqa, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      add(m);
    placements.push_back({&l.kv_b_proj, false});
  }
  std::erase_if(placements, [](const Placement& p) { return p.matrix->rows == 0 || p.matrix->cols == 0; });
  // One buffer for all (each matrix at a cache line), not one per matrix rounded to 2 MB.
  constexpr int64_t kAlign = 64;
  std::vector<int64_t> offsets;
  int64_t total = 0;
  for (const Placement& p : placements) {
    offsets.push_back(total);
    total += ((p.grouped ? grouped_bytes(*p.matrix) : p.matrix->num_bytes()) + kAlign - 1) / kAlign * kAlign;
  }
  if (total == 0) return;
  placed_ = LargeBuffer(static_cast<size_t>(total));
  for (size_t i = 0; i < placements.size(); ++i) {
    const auto [matrix, grouped] = placements[i];
    const MatrixView replaced = *matrix;
    uint8_t* out = placed_.data() + offsets[i];
    *matrix = grouped ? cpm::group_rows(replaced, out, pool()) : copy_rows(replaced, out, pool());
    release(replaced);
  }
  // Where memory was too fragmented for a fault to get a huge page, part of the buffer is in 4 KB
  // pages, which decode streams slower. This mends a few: on a Zen 5 with the page cache filling
  // memory, a bf16 load went from 94.6% to 98.1% huge pages, and at 83% it failed (docs/PERFORMANCE.md).
  placed_.collapse_to_huge_pages();
  if (tied) lm_head_ = embed_tokens_;
}

void ModelWeights::quantize_kv_b_for_decode(const std::function<ThreadPool&()>& get_pool) {
  const ModelConfig& c = config_;
  const int64_t nope = c.qk_nope_head_dim, v = c.v_head_dim, rank = c.kv_lora_rank, kv = nope + v;
  if (layers_.empty() || dtype_info(matrix_dtype()).block_size == 1) return;
  if (dtype_info(layers_[0].kv_b_proj.dtype).block_size != 1) return;
  if (nope % 32 != 0 || rank % 32 != 0 || v % kRowsPerGroup != 0) return;  // toy shapes keep the rows
  const int64_t heads = layers_[0].kv_b_proj.rows / kv;
  ThreadPool& pool = get_pool();
  const MatrixView absorb_shape = make_matrix_view(DType::kQ8_0, heads * rank, nope, nullptr);
  const MatrixView expand_shape = make_matrix_view(DType::kQ8_0, heads * v, rank, nullptr);
  const bool grouped = matmul_prefers_row_groups(absorb_shape);
  const auto bytes_of = [&](const MatrixView& m) {
    return ((grouped ? grouped_bytes(m) : m.num_bytes()) + 63) / 64 * 64;
  };
  const int64_t expand_offset = bytes_of(absorb_shape), layer_bytes = expand_offset + bytes_of(expand_shape);
  decode_kv_b_ = LargeBuffer(static_cast<size_t>(layer_bytes * static_cast<int64_t>(layers_.size())));
  std::vector<uint8_t> absorb(absorb_shape.num_bytes()), expand(expand_shape.num_bytes());
  const auto place = [&](const MatrixView& rows, uint8_t* out) {
    if (grouped) return cpm::group_rows(rows, out, pool);
    std::memcpy(out, rows.data, rows.num_bytes());
    return make_matrix_view(rows.dtype, rows.rows, rows.cols, out);
  };
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerWeights& l = layers_[i];
    pool.parallel_for(heads, 1, [&](int, int64_t begin, int64_t end) {
      std::vector<float> block(kv * rank), column(nope);
      for (int64_t h = begin; h < end; ++h) {
        for (int64_t r = 0; r < kv; ++r) load_row(l.kv_b_proj, h * kv + r, block.data() + r * rank);
        for (int64_t j = 0; j < rank; ++j) {  // W_uk's column j: latent j's weight in each nope row
          for (int64_t r = 0; r < nope; ++r) column[r] = block[r * rank + j];
          quantize_row_q8_0(
              column.data(), nope,
              reinterpret_cast<BlockQ8_0*>(absorb.data() + (h * rank + j) * absorb_shape.row_bytes));
        }
        for (int64_t r = 0; r < v; ++r)
          quantize_row_q8_0(
              block.data() + (nope + r) * rank, rank,
              reinterpret_cast<BlockQ8_0*>(expand.data() + (h * v + r) * expand_shape.row_bytes));
      }
    });
    uint8_t* out = decode_kv_b_.data() + static_cast<int64_t>(i) * layer_bytes;
    l.kv_b_absorb = place(make_matrix_view(DType::kQ8_0, heads * rank, nope, absorb.data()), out);
    l.kv_b_expand =
        place(make_matrix_view(DType::kQ8_0, heads * v, rank, expand.data()), out + expand_offset);
  }
  decode_kv_b_.collapse_to_huge_pages();  // as place_matrices does
}

// Frees a matrix's previous storage: its conversion buffer, or its pages of the mapped checkpoint.
void ModelWeights::release(const MatrixView& replaced) {
  for (std::vector<uint8_t>& storage : converted_) {
    if (storage.data() == replaced.data) {
      std::vector<uint8_t>().swap(storage);
      return;
    }
  }
  release_mapped_pages(replaced.data,
                       (replaced.rows - 1) * replaced.row_bytes + dtype_bytes(replaced.dtype, replaced.cols));
}

void ModelWeights::convert(const WeightLoadOptions& options, ThreadPool& pool) {
  const DType target = *options.dtype;
  const DType head_target = target == DType::kQ4_0 ? DType::kQ8_0 : target;
  // kv_b_proj (3% of MiniCPM3-4B's weights) stays as stored under the block formats: latent
  // attention reads it row by row for every head of every token, where a float row beats
  // dequantizing blocks; the float formats convert it like the rest.
  const bool keep_kv_b = dtype_info(target).block_size > 1;
  std::vector<std::pair<MatrixView*, std::string>> work;
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerWeights& l = layers_[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (auto [m, name] : {std::pair{&l.q_a_proj, "self_attn.q_a_proj"},
                           {&l.q_b_proj, "self_attn.q_b_proj"},
                           {&l.kv_a_proj_with_mqa, "self_attn.kv_a_proj_with_mqa"},
                           {&l.o_proj, "self_attn.o_proj"},
                           {&l.gate_proj, "mlp.gate_proj"},
                           {&l.up_proj, "mlp.up_proj"},
                           {&l.down_proj, "mlp.down_proj"}}) {
      work.push_back({m, p + name + ".weight"});
    }
  }
  if (!keep_kv_b) {
    for (size_t i = 0; i < layers_.size(); ++i) {
      work.push_back(
          {&layers_[i].kv_b_proj, "model.layers." + std::to_string(i) + ".self_attn.kv_b_proj.weight"});
    }
  }
  ProgressBar progress(std::string("converting to ") + std::string(dtype_name(target)),
                       static_cast<int64_t>(work.size()) + 1, options.show_progress);
  converted_.reserve(work.size() + 1);
  for (auto& [matrix, name] : work) {
    if (matrix->cols % dtype_info(target).block_size != 0) {
      // Too narrow for whole blocks (only in toy models): keep it as stored.
      warnings_.push_back(name + " stays " + std::string(dtype_name(matrix->dtype)) + ": its width " +
                          std::to_string(matrix->cols) + " is not a multiple of 32");
    } else if (matrix->dtype != target) {
      converted_.emplace_back();
      *matrix = convert_matrix(*matrix, target, &converted_.back(), pool, name);
    }
    progress.advance();
  }
  if (lm_head_.dtype != head_target) {
    converted_.emplace_back();
    lm_head_ = convert_matrix(lm_head_, head_target, &converted_.back(), pool, "lm_head.weight");
  }
  progress.advance();
}

std::vector<std::pair<std::string, const MatrixView*>> ModelWeights::named_matrices() const {
  std::vector<std::pair<std::string, const MatrixView*>> out = {
      {"model.embed_tokens.weight", &embed_tokens_}};
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerWeights& l = layers_[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.insert(out.end(), {{p + "self_attn.q_a_proj.weight", &l.q_a_proj},
                           {p + "self_attn.q_b_proj.weight", &l.q_b_proj},
                           {p + "self_attn.kv_a_proj_with_mqa.weight", &l.kv_a_proj_with_mqa},
                           {p + "self_attn.kv_b_proj.weight", &l.kv_b_proj},
                           {p + "self_attn.o_proj.weight", &l.o_proj},
                           {p + "mlp.gate_proj.weight", &l.gate_proj},
                           {p + "mlp.up_proj.weight", &l.up_proj},
                           {p + "mlp.down_proj.weight", &l.down_proj}});
  }
  if (lm_head_.data != embed_tokens_.data) out.push_back({"lm_head.weight", &lm_head_});
  for (const auto& [name, matrix] : out) {
    if (matrix->layout != MatrixLayout::kRows)
      fail("internal: ", name,
           " is grouped by rows; writers load with WeightLoadOptions::place_matrices off");
  }
  return out;
}

std::vector<std::pair<std::string, const std::vector<float>*>> ModelWeights::named_vectors() const {
  std::vector<std::pair<std::string, const std::vector<float>*>> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerWeights& l = layers_[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.insert(out.end(), {{p + "input_layernorm.weight", &l.input_layernorm},
                           {p + "self_attn.q_a_layernorm.weight", &l.q_a_layernorm},
                           {p + "self_attn.kv_a_layernorm.weight", &l.kv_a_layernorm},
                           {p + "post_attention_layernorm.weight", &l.post_attention_layernorm}});
  }
  out.push_back({"model.norm.weight", &norm_});
  return out;
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
  // A cpmserve-quantized checkpoint of a tied model stores its own (higher-precision) lm_head copy.
  const bool quantized_copy =
      files_->metadata().count("cpmserve_format") > 0 && files_->find("lm_head.weight");
  if (c.tie_word_embeddings && quantized_copy) {
    lm_head_ = matrix("lm_head.weight", c.vocab_size, d);
  } else if (c.tie_word_embeddings) {
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

// Slices are views into the mapped files, so a rank only ever reads the bytes of its own part (a
// column slice reads a run of each row).
void ModelWeights::keep_shard() {
  const ModelConfig& c = config_;
  const TensorShard& s = shard_;
  const int64_t qk = c.qk_head_dim(), kv = c.qk_nope_head_dim + c.v_head_dim, v = c.v_head_dim;
  const bool tied = lm_head_.data == embed_tokens_.data;
  embed_tokens_ = embed_tokens_.row_slice(s.vocab.begin, s.vocab.size());
  lm_head_ = tied ? embed_tokens_ : lm_head_.row_slice(s.vocab.begin, s.vocab.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerWeights& l = layers_[i];
    l.q_b_proj = l.q_b_proj.row_slice(s.heads.begin * qk, s.heads.size() * qk);
    l.kv_b_proj = l.kv_b_proj.row_slice(s.heads.begin * kv, s.heads.size() * kv);
    l.gate_proj = l.gate_proj.row_slice(s.intermediate.begin, s.intermediate.size());
    l.up_proj = l.up_proj.row_slice(s.intermediate.begin, s.intermediate.size());
    // Input-column slices of a block-quantized matrix must start and end on block boundaries.
    for (auto [matrix, width] :
         {std::pair{&l.o_proj, s.heads.size() * v}, {&l.down_proj, s.intermediate.size()}}) {
      const int block = dtype_info(matrix->dtype).block_size;
      if (width % block != 0) {
        fail(model_dir_, ": ", dtype_name(matrix->dtype), " weights cannot be split ", s.size,
             " ways: ", matrix == &l.o_proj ? "o_proj" : "down_proj", " would get ", width,
             " input columns per rank, not a multiple of its block size ", block);
      }
    }
    l.o_proj = l.o_proj.column_slice(s.heads.begin * v, s.heads.size() * v);
    l.down_proj = l.down_proj.column_slice(s.intermediate.begin, s.intermediate.size());
  }
}

int64_t ModelWeights::weight_bytes_per_token() const {
  int64_t total = lm_head_.num_bytes();
  for (const LayerWeights& layer : layers_) {
    for (const MatrixView* m : {&layer.q_a_proj, &layer.q_b_proj, &layer.kv_a_proj_with_mqa, &layer.o_proj,
                                &layer.gate_proj, &layer.up_proj, &layer.down_proj}) {
      total += m->num_bytes();
    }
    // Decode reads kv_b_proj's q8_0 copies where there are some.
    total += layer.kv_b_absorb.rows > 0 ? layer.kv_b_absorb.num_bytes() + layer.kv_b_expand.num_bytes()
                                        : layer.kv_b_proj.num_bytes();
  }
  return total;
}

}  // namespace cpm

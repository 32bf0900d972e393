// The GGUF writer and the MiniCPM3 export, read back by an independent minimal GGUF reader written
// here from the format description (so a writer bug is not mirrored by shared code).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <variant>

#include "core/error.h"
#include "kernels/quantize.h"
#include "model/gguf_export.h"
#include "model/random_checkpoint.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace cpm {
namespace {

namespace fs = std::filesystem;

using Value = std::variant<uint64_t, int64_t, double, bool, std::string, std::vector<std::string>,
                           std::vector<double>, std::vector<int64_t>>;

struct ReadTensor {
  std::vector<uint64_t> dims;  // innermost first, as stored
  uint32_t type = 0;
  uint64_t offset = 0;
};

struct ReadFile {
  uint32_t version = 0;
  std::map<std::string, Value> metadata;
  std::vector<std::string> tensor_order;
  std::map<std::string, ReadTensor> tensors;
  uint64_t data_start = 0;
  std::string bytes;

  std::string tensor_bytes(const std::string& name, size_t size) const {
    return bytes.substr(data_start + tensors.at(name).offset, size);
  }
};

class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    T value;
    if (pos_ + sizeof(T) > bytes_.size()) throw std::runtime_error("truncated");
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string string() {
    const uint64_t size = get<uint64_t>();
    std::string text = bytes_.substr(pos_, size);
    pos_ += size;
    return text;
  }
  Value scalar(uint32_t type) {
    switch (type) {
      case 4:
        return uint64_t{get<uint32_t>()};
      case 5:
        return int64_t{get<int32_t>()};
      case 6:
        return double{get<float>()};
      case 7:
        return get<uint8_t>() != 0;
      case 8:
        return string();
      default:
        throw std::runtime_error("unexpected type " + std::to_string(type));
    }
  }
  Value value(uint32_t type) {
    if (type != 9) return scalar(type);
    const uint32_t element = get<uint32_t>();
    const uint64_t count = get<uint64_t>();
    if (element == 8) {
      std::vector<std::string> out;
      for (uint64_t i = 0; i < count; ++i) out.push_back(string());
      return out;
    }
    if (element == 6) {
      std::vector<double> out;
      for (uint64_t i = 0; i < count; ++i) out.push_back(get<float>());
      return out;
    }
    std::vector<int64_t> out;
    for (uint64_t i = 0; i < count; ++i) out.push_back(get<int32_t>());
    return out;
  }
  size_t pos() const { return pos_; }

 private:
  const std::string& bytes_;
  size_t pos_ = 0;
};

ReadFile read_gguf(const std::string& path) {
  ReadFile file;
  std::ifstream in(path, std::ios::binary);
  file.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  Reader reader(file.bytes);
  EXPECT_EQ(reader.get<uint32_t>(), 0x46554747u);  // "GGUF" read as little-endian
  file.version = reader.get<uint32_t>();
  const uint64_t num_tensors = reader.get<uint64_t>();
  const uint64_t num_metadata = reader.get<uint64_t>();
  for (uint64_t i = 0; i < num_metadata; ++i) {
    const std::string key = reader.string();
    file.metadata[key] = reader.value(reader.get<uint32_t>());
  }
  for (uint64_t i = 0; i < num_tensors; ++i) {
    const std::string name = reader.string();
    ReadTensor tensor;
    const uint32_t dims = reader.get<uint32_t>();
    for (uint32_t d = 0; d < dims; ++d) tensor.dims.push_back(reader.get<uint64_t>());
    tensor.type = reader.get<uint32_t>();
    tensor.offset = reader.get<uint64_t>();
    file.tensor_order.push_back(name);
    file.tensors[name] = tensor;
  }
  file.data_start = (reader.pos() + 31) / 32 * 32;
  return file;
}

template <typename T>
std::vector<uint8_t> as_bytes(const std::vector<T>& values) {
  const auto* p = reinterpret_cast<const uint8_t*>(values.data());
  return {p, p + values.size() * sizeof(T)};
}

TEST(GgufWriterTest, MetadataAndTensorsRoundTrip) {
  GgufWriter writer;
  writer.add_string("general.architecture", "minicpm3");
  writer.add_uint32("a.u32", 4000000000u);
  writer.add_int32("a.i32", -7);
  writer.add_float32("a.f32", 0.25f);
  writer.add_bool("a.bool", true);
  writer.add_string_array("a.strings", {"<s>", "", "▁hello"});
  writer.add_float32_array("a.floats", {0.0f, -1.5f});
  writer.add_int32_array("a.ints", {1, 6, 3});
  const std::vector<float> vector = {1, 2, 3, 4, 5};  // 20 bytes: the next tensor must be padded
  const std::vector<uint16_t> matrix(3 * 7, 0x3c00);  // f16 ones, [3, 7]: 42 bytes
  writer.add_tensor("v.weight", DType::kF32, {5}, [&] { return as_bytes(vector); });
  writer.add_tensor("m.weight", DType::kF16, {3, 7}, [&] { return as_bytes(matrix); });
  writer.add_tensor("last.weight", DType::kF32, {1}, [&] { return as_bytes(std::vector<float>{9}); });
  const test::TempDir dir;
  const std::string path = dir.file("round_trip.gguf");
  writer.write(path);
  EXPECT_FALSE(fs::exists(path + ".partial"));

  const ReadFile file = read_gguf(path);
  EXPECT_EQ(file.version, 3u);
  ASSERT_EQ(file.metadata.size(), 8u);
  EXPECT_EQ(std::get<std::string>(file.metadata.at("general.architecture")), "minicpm3");
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("a.u32")), 4000000000u);
  EXPECT_EQ(std::get<int64_t>(file.metadata.at("a.i32")), -7);
  EXPECT_EQ(std::get<double>(file.metadata.at("a.f32")), 0.25);
  EXPECT_TRUE(std::get<bool>(file.metadata.at("a.bool")));
  EXPECT_EQ(std::get<std::vector<std::string>>(file.metadata.at("a.strings")),
            (std::vector<std::string>{"<s>", "", "▁hello"}));
  EXPECT_EQ(std::get<std::vector<double>>(file.metadata.at("a.floats")), (std::vector<double>{0.0, -1.5}));
  EXPECT_EQ(std::get<std::vector<int64_t>>(file.metadata.at("a.ints")), (std::vector<int64_t>{1, 6, 3}));

  ASSERT_EQ(file.tensor_order, (std::vector<std::string>{"v.weight", "m.weight", "last.weight"}));
  EXPECT_EQ(file.tensors.at("v.weight").dims, (std::vector<uint64_t>{5}));
  EXPECT_EQ(file.tensors.at("m.weight").dims, (std::vector<uint64_t>{7, 3}));  // innermost first
  EXPECT_EQ(file.tensors.at("v.weight").type, 0u);
  EXPECT_EQ(file.tensors.at("m.weight").type, 1u);
  // Offsets are relative to the aligned data section and themselves multiples of 32.
  EXPECT_EQ(file.tensors.at("v.weight").offset, 0u);
  EXPECT_EQ(file.tensors.at("m.weight").offset, 32u);
  EXPECT_EQ(file.tensors.at("last.weight").offset, 96u);
  EXPECT_EQ(file.data_start % 32, 0u);
  EXPECT_EQ(file.bytes.size(), file.data_start + 128);  // the last tensor is padded too
  const std::vector<uint8_t> m = as_bytes(matrix);
  EXPECT_EQ(file.tensor_bytes("m.weight", 42), std::string(m.begin(), m.end()));
  EXPECT_EQ(file.tensor_bytes("v.weight", 20), std::string(reinterpret_cast<const char*>(vector.data()), 20));
  // Padding between tensors is zeros.
  EXPECT_EQ(file.tensor_bytes("v.weight", 32).substr(20), std::string(12, '\0'));
}

TEST(GgufWriterTest, RejectsDuplicatesWrongSizesAndUnwritablePaths) {
  GgufWriter writer;
  writer.add_uint32("k", 1);
  EXPECT_THROW(writer.add_uint32("k", 2), Error);
  writer.add_tensor("t", DType::kF32, {4}, [] { return std::vector<uint8_t>(8); });  // 8 of 16 bytes
  EXPECT_THROW(writer.add_tensor("t", DType::kF32, {4}, [] { return std::vector<uint8_t>(16); }), Error);
  EXPECT_THROW(writer.add_tensor("q", DType::kQ8_0, {2, 40}, [] { return std::vector<uint8_t>(); }), Error);
  const test::TempDir dir;
  const std::string path = dir.file("short.gguf");
  try {
    writer.write(path);
    FAIL() << "a short tensor was written";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("expected 16"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));

  GgufWriter empty;
  try {
    empty.write("/nonexistent-folder/out.gguf");
    FAIL() << "wrote into a missing folder";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("cannot write /nonexistent-folder/out.gguf"), std::string::npos)
        << error.what();
  }
}

// ggml's block_q8_0: fp16 scale, then 32 int8 values (value * scale).
TEST(GgufWriterTest, Q8_0BlockBytesMatchGgml) {
  std::vector<float> x(32);
  for (int i = 0; i < 31; ++i) x[i] = static_cast<float>(4 * i - 64);
  x[31] = 127;  // largest magnitude 127: the scale is exactly 1.0 (fp16 0x3c00), values are x itself
  std::vector<uint8_t> block(34);
  quantize_row_q8_0(x.data(), 32, reinterpret_cast<BlockQ8_0*>(block.data()));
  std::vector<uint8_t> expected = {0x00, 0x3c};
  for (int i = 0; i < 31; ++i) expected.push_back(static_cast<uint8_t>(static_cast<int8_t>(4 * i - 64)));
  expected.push_back(127);
  EXPECT_EQ(block, expected);
}

// ggml's block_q4_0: fp16 scale, then 16 bytes; byte j holds element j in its low nibble and element
// j + 16 in its high nibble, each meaning (nibble - 8) * scale.
TEST(GgufWriterTest, Q4_0BlockBytesMatchGgml) {
  std::vector<float> x(32);
  for (int i = 0; i < 16; ++i) x[i] = (static_cast<float>(i) - 8) * 0.5f;        // nibbles 0..15
  for (int i = 16; i < 32; ++i) x[i] = (static_cast<float>(31 - i) - 8) * 0.5f;  // nibbles 15..0
  std::vector<uint8_t> block(18);
  quantize_row_q4_0(x.data(), 32, reinterpret_cast<BlockQ4_0*>(block.data()));
  const std::vector<uint8_t> expected = {0x00, 0x38,  // 0.5 in fp16
                                         0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
                                         0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};
  EXPECT_EQ(block, expected);
}

TEST(GgufExportTest, UnsupportedTypeIsNamed) {
  try {
    parse_gguf_export_dtype("q5_k");
    FAIL() << "q5_k accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("unsupported GGUF type \"q5_k\""), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("f32, f16, bf16, q8_0, q4_0"), std::string::npos);
  }
  EXPECT_EQ(parse_gguf_export_dtype("q4_0"), DType::kQ4_0);
}

TEST(GgufExportTest, RefusesConstantsLlamaCppHardCodes) {
  // tiny-a's scale_emb, scale_depth and dim_model_base all differ from MiniCPM3-4B's.
  const std::string dir = test::test_data_dir() + "/golden/tiny-a";
  auto weights = ModelWeights::load(dir);
  ThreadPool pool(1);
  GgufWriter writer;
  GgufExportOptions options;
  options.pool = &pool;
  try {
    add_minicpm3_to_gguf(weights, options, &writer);
    FAIL() << "exported a checkpoint llama.cpp would run wrongly";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("dim_model_base"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("--allow-constant-mismatch"), std::string::npos);
  }
  options.allow_constant_mismatch = true;
  GgufWriter allowed;
  EXPECT_FALSE(add_minicpm3_to_gguf(weights, options, &allowed).empty());
}

class GgufExportTypeTest : public ::testing::TestWithParam<std::string> {};

// The block types hold exactly what cpmserve runs with the same --dtype, tensor by tensor.
TEST_P(GgufExportTypeTest, TensorsAreTheWeightsCpmserveRuns) {
  const std::string dir = test::test_data_dir() + "/golden/tiny-a";
  const DType dtype = parse_gguf_export_dtype(GetParam());
  ThreadPool pool(2);
  auto stored = ModelWeights::load(dir);
  GgufWriter writer;
  GgufExportOptions options;
  options.dtype = dtype;
  options.name = "tiny-a";
  options.pool = &pool;
  options.allow_constant_mismatch = true;
  add_minicpm3_to_gguf(stored, options, &writer);
  const test::TempDir out;
  const std::string path = out.file("tiny-a-" + GetParam() + ".gguf");
  writer.write(path);
  const ReadFile file = read_gguf(path);
  const ModelConfig& c = stored->config();

  EXPECT_EQ(std::get<std::string>(file.metadata.at("general.architecture")), "minicpm3");
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("general.file_type")), llama_file_type_of(dtype));
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("minicpm3.block_count")), 2u);
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("minicpm3.embedding_length")), 64u);
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("minicpm3.attention.key_length")), 24u);
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("minicpm3.attention.value_length")), 16u);
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("minicpm3.rope.dimension_count")), 8u);
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("minicpm3.attention.q_lora_rank")), 32u);
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("minicpm3.attention.kv_lora_rank")), 16u);
  EXPECT_EQ(std::get<uint64_t>(file.metadata.at("minicpm3.rope.scaling.original_context_length")), 4096u);
  // token_embd, output_norm, output (tiny-a is untied), the two rope factor lists, 12 per layer.
  const uint64_t expected_tensors = 3 + 2 + 12 * c.num_hidden_layers;
  EXPECT_EQ(file.tensors.size(), expected_tensors);
  for (const auto& [name, tensor] : file.tensors) EXPECT_EQ(tensor.offset % 32, 0u) << name;
  EXPECT_EQ(file.tensors.at("rope_factors_long.weight").dims, (std::vector<uint64_t>{4}));
  EXPECT_EQ(file.tensor_bytes("rope_factors_short.weight", 16),
            std::string(reinterpret_cast<const char*>(c.rope_scaling.short_factor.data()), 16));
  EXPECT_EQ(file.tensors.at("blk.1.attn_norm.weight").type, 0u);  // norms stay f32

  if (dtype_info(dtype).block_size == 1) {
    EXPECT_EQ(file.tensors.at("blk.0.attn_kv_b.weight").type, ggml_type_of(dtype));
    EXPECT_EQ(file.tensors.at("output.weight").type, ggml_type_of(dtype));
    return;
  }
  WeightLoadOptions load_options{dtype, &pool};
  load_options.place_matrices = false;  // compared byte for byte, row-major
  auto runs = ModelWeights::load(dir, load_options);
  std::map<std::string, const MatrixView*> by_name;
  for (const auto& [name, m] : runs->named_matrices()) by_name[name] = m;
  by_name["lm_head.weight"] = &runs->lm_head();
  const std::map<std::string, std::string> gguf_name = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"lm_head.weight", "output.weight"},
      {"model.layers.1.self_attn.q_a_proj.weight", "blk.1.attn_q_a.weight"},
      {"model.layers.1.self_attn.q_b_proj.weight", "blk.1.attn_q_b.weight"},
      {"model.layers.1.self_attn.kv_a_proj_with_mqa.weight", "blk.1.attn_kv_a_mqa.weight"},
      {"model.layers.1.self_attn.kv_b_proj.weight", "blk.1.attn_kv_b.weight"},
      {"model.layers.1.self_attn.o_proj.weight", "blk.1.attn_output.weight"},
      {"model.layers.1.mlp.gate_proj.weight", "blk.1.ffn_gate.weight"},
      {"model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight"},
      {"model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"}};
  for (const auto& [hf, gguf] : gguf_name) {
    const MatrixView& m = *by_name.at(hf);
    const ReadTensor& tensor = file.tensors.at(gguf);
    EXPECT_EQ(tensor.type, ggml_type_of(m.dtype)) << gguf;
    EXPECT_EQ(tensor.dims,
              (std::vector<uint64_t>{static_cast<uint64_t>(m.cols), static_cast<uint64_t>(m.rows)}))
        << gguf;
    EXPECT_EQ(file.tensor_bytes(gguf, m.num_bytes()),
              std::string(reinterpret_cast<const char*>(m.data), m.num_bytes()))
        << gguf;
  }
}

// A tied lm_head is left to llama.cpp's reuse of token_embd, unless the block types store it apart.
TEST(GgufExportTest, TiedOutputOnlyWhenStoredApart) {
  const test::TempDir scratch;
  const std::string dir = scratch.file("tiny-tied");
  nlohmann::ordered_json config = random_checkpoint_config("tiny");
  ASSERT_TRUE(config.value("tie_word_embeddings", true));
  write_random_checkpoint(dir, config, 7, DType::kBF16);
  ThreadPool pool(2);
  auto weights = ModelWeights::load(dir);
  for (const char* type : {"f16", "q4_0"}) {
    GgufWriter writer;
    GgufExportOptions options;
    options.dtype = parse_gguf_export_dtype(type);
    options.pool = &pool;
    options.allow_constant_mismatch = true;
    add_minicpm3_to_gguf(weights, options, &writer);
    const std::string path = scratch.file(std::string("tiny-tied-") + type + ".gguf");
    writer.write(path);
    const ReadFile file = read_gguf(path);
    if (options.dtype == DType::kF16) {
      EXPECT_EQ(file.tensors.count("output.weight"), 0u);
      EXPECT_EQ(file.tensors.at("token_embd.weight").type, 1u);
    } else {
      EXPECT_EQ(file.tensors.at("output.weight").type, 8u);       // q8_0, as cpmserve's lm_head
      EXPECT_EQ(file.tensors.at("token_embd.weight").type, 30u);  // bf16, as stored
      EXPECT_EQ(file.tensors.at("blk.0.ffn_up.weight").type, 2u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, GgufExportTypeTest, ::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0"));

}  // namespace
}  // namespace cpm

// Every kind of bad checkpoint ends in a cpm::Error that names the file and the problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/safetensors.h"
#include "model/sequence_runner.h"
#include "model/weights.h"
#include "test_paths.h"

namespace cpm {
namespace {

namespace fs = std::filesystem;

class CheckpointErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = test::test_data_dir() + "/golden/tiny-c";
    dir_ = fs::temp_directory_path() / ("cpm_ckpt_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy_file(source_ + "/config.json", dir_ / "config.json");
    fs::copy_file(source_ + "/model.safetensors", dir_ / "model.safetensors");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Rewrites model.safetensors, letting `edit` drop (return false) or change tensors.
  void rewrite(const std::function<bool(std::string& name, std::vector<int64_t>& shape,
                                        std::vector<uint8_t>& bytes)>& edit) {
    SafetensorsWriter writer;
    {
      SafetensorsFile original(source_ + "/model.safetensors");
      for (const auto& [name, tensor] : original.tensors()) {
        std::string new_name = name;
        std::vector<int64_t> shape = tensor.shape;
        std::vector<uint8_t> bytes(tensor.data, tensor.data + tensor.num_bytes);
        if (edit(new_name, shape, bytes)) writer.add(new_name, tensor.dtype, shape, bytes);
      }
    }
    writer.write((dir_ / "model.safetensors").string());
  }
  void write_file(const std::string& name, const std::string& text) {
    std::ofstream out(dir_ / name, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::string load_error() {
    try {
      ModelWeights::load(dir_.string());
    } catch (const Error& error) {
      return error.what();
    }
    ADD_FAILURE() << "loading succeeded but an error was expected";
    return "";
  }

  std::string source_;
  fs::path dir_;
};

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << text

TEST_F(CheckpointErrorsTest, GoodCopyLoads) {
  EXPECT_NO_THROW(ModelWeights::load(dir_.string()));
}

TEST_F(CheckpointErrorsTest, TruncatedFile) {
  fs::resize_file(dir_ / "model.safetensors", fs::file_size(dir_ / "model.safetensors") - 100);
  const std::string message = load_error();
  EXPECT_CONTAINS(message, "model.safetensors");
  EXPECT_CONTAINS(message, "truncated");
}

TEST_F(CheckpointErrorsTest, HeaderLengthPastEnd) {
  std::string bytes(16, '\0');
  bytes[0] = '\xff';
  bytes[1] = '\xff';
  bytes[2] = '\xff';
  write_file("model.safetensors", bytes);
  EXPECT_CONTAINS(load_error(), "bad safetensors header");
}

TEST_F(CheckpointErrorsTest, HeaderNotJson) {
  std::string bytes = std::string("\x08\0\0\0\0\0\0\0", 8) + "{notjson";
  write_file("model.safetensors", bytes);
  const std::string message = load_error();
  EXPECT_CONTAINS(message, "bad safetensors header");
  EXPECT_CONTAINS(message, "model.safetensors");
}

TEST_F(CheckpointErrorsTest, TooShortFile) {
  write_file("model.safetensors", "abc");
  EXPECT_CONTAINS(load_error(), "too short");
}

TEST_F(CheckpointErrorsTest, MissingTensor) {
  rewrite([](std::string& name, auto&, auto&) { return name != "model.layers.1.mlp.up_proj.weight"; });
  EXPECT_CONTAINS(load_error(), "missing tensor \"model.layers.1.mlp.up_proj.weight\"");
}

TEST_F(CheckpointErrorsTest, WrongShape) {
  rewrite([](std::string& name, std::vector<int64_t>& shape, auto&) {
    if (name == "model.layers.0.self_attn.kv_b_proj.weight") std::swap(shape[0], shape[1]);
    return true;
  });
  const std::string message = load_error();
  EXPECT_CONTAINS(message, "kv_b_proj.weight");
  EXPECT_CONTAINS(message, "expected [256, 32]");
}

TEST_F(CheckpointErrorsTest, UnknownTensor) {
  rewrite([](std::string& name, auto&, auto&) {
    if (name == "model.norm.weight") name = "model.extra_norm.weight";
    return true;
  });
  const std::string message = load_error();
  EXPECT_TRUE(message.find("model.norm.weight") != std::string::npos ||
              message.find("model.extra_norm.weight") != std::string::npos)
      << message;
}

TEST_F(CheckpointErrorsTest, ExtraUnknownTensorIsNotIgnored) {
  SafetensorsWriter writer;
  {
    SafetensorsFile original(source_ + "/model.safetensors");
    for (const auto& [name, tensor] : original.tensors()) {
      writer.add(name, tensor.dtype, tensor.shape,
                 std::vector<uint8_t>(tensor.data, tensor.data + tensor.num_bytes));
    }
  }
  writer.add("model.layers.0.self_attn.surprise.weight", DType::kF32, {2}, std::vector<uint8_t>(8, 0));
  writer.write((dir_ / "model.safetensors").string());
  EXPECT_CONTAINS(load_error(), "unknown tensor \"model.layers.0.self_attn.surprise.weight\"");
}

TEST_F(CheckpointErrorsTest, MalformedConfig) {
  write_file("config.json", "{\"model_type\": \"minicpm3\", ");
  const std::string message = load_error();
  EXPECT_CONTAINS(message, "config.json");
  EXPECT_CONTAINS(message, "malformed JSON");
}

TEST_F(CheckpointErrorsTest, ConfigWrongModelType) {
  write_file("config.json", R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})");
  EXPECT_CONTAINS(load_error(), "not a MiniCPM3 checkpoint");
}

TEST_F(CheckpointErrorsTest, ConfigNumberOutOfRange) {
  std::ifstream in(source_ + "/config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string key = "\"num_attention_heads\": 8";
  ASSERT_NE(text.find(key), std::string::npos);
  text.replace(text.find(key), key.size(), "\"num_attention_heads\": -8");
  write_file("config.json", text);
  EXPECT_CONTAINS(load_error(), "\"num_attention_heads\" must be a positive integer");
}

TEST_F(CheckpointErrorsTest, MissingConfig) {
  fs::remove(dir_ / "config.json");
  EXPECT_CONTAINS(load_error(), "config.json: cannot open");
}

TEST_F(CheckpointErrorsTest, MissingFolder) {
  fs::remove_all(dir_);
  EXPECT_CONTAINS(load_error(), "model folder not found");
}

TEST_F(CheckpointErrorsTest, ShardedCheckpointLoadsAndMatches) {
  // Split the tensors over two shards with an index, as large Hugging Face checkpoints are.
  SafetensorsWriter first, second;
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  {
    SafetensorsFile original(source_ + "/model.safetensors");
    int count = 0;
    for (const auto& [name, tensor] : original.tensors()) {
      const bool to_first = count++ % 2 == 0;
      (to_first ? first : second)
          .add(name, tensor.dtype, tensor.shape,
               std::vector<uint8_t>(tensor.data, tensor.data + tensor.num_bytes));
      index["weight_map"][name] =
          to_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
  }
  fs::remove(dir_ / "model.safetensors");
  first.write((dir_ / "model-00001-of-00002.safetensors").string());
  second.write((dir_ / "model-00002-of-00002.safetensors").string());
  write_file("model.safetensors.index.json", index.dump());
  ThreadPool pool(1);
  MiniCPM3 sharded(ModelWeights::load(dir_.string()), {}, pool);
  MiniCPM3 single(ModelWeights::load(source_), {}, pool);
  SequenceRunner a(sharded, 4), b(single, 4);
  EXPECT_EQ(a.feed({1, 2, 3}), b.feed({1, 2, 3}));

  fs::remove(dir_ / "model-00002-of-00002.safetensors");
  EXPECT_CONTAINS(load_error(), "model-00002-of-00002.safetensors: cannot open");
}

}  // namespace
}  // namespace cpm

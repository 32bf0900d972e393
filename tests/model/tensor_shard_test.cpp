// TensorShard ranges and the weight slices a rank keeps: the right rows and columns of the mapped
// checkpoint, without copies.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "model/weights.h"
#include "test_paths.h"

namespace cpm {
namespace {

ModelConfig small_config() {
  ModelConfig config;
  config.num_attention_heads = 8;
  config.intermediate_size = 256;
  config.vocab_size = 512;
  return config;
}

TEST(TensorShard, SplitsEveryDimensionEvenly) {
  const TensorShard shard = TensorShard::split(small_config(), 1, 4);
  EXPECT_EQ(shard.heads.begin, 2);
  EXPECT_EQ(shard.heads.end, 4);
  EXPECT_EQ(shard.intermediate.begin, 64);
  EXPECT_EQ(shard.intermediate.end, 128);
  EXPECT_EQ(shard.vocab.begin, 128);
  EXPECT_EQ(shard.vocab.end, 256);
  EXPECT_FALSE(shard.is_whole());
  EXPECT_TRUE(TensorShard::whole(small_config()).is_whole());
}

TEST(TensorShard, RefusesUnevenSplitsNamingTheDimension) {
  ModelConfig config = small_config();
  auto message = [&](int size) {
    try {
      TensorShard::split(config, 0, size);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  EXPECT_NE(message(3).find("num_attention_heads (8)"), std::string::npos) << message(3);
  config.num_attention_heads = 12;
  config.intermediate_size = 250;
  EXPECT_NE(message(4).find("intermediate_size (250)"), std::string::npos) << message(4);
  config.intermediate_size = 256;
  config.vocab_size = 510;
  EXPECT_NE(message(4).find("vocab_size (510)"), std::string::npos) << message(4);
  EXPECT_THROW(TensorShard::split(config, 0, 0), Error);
}

// Rank 1 of 2 on tiny-c: views into the whole model's storage at the right offsets.
TEST(TensorShard, WeightsKeepTheirRowsAndColumns) {
  const std::string dir = test::test_data_dir() + "/golden/tiny-c";
  const auto whole = ModelWeights::load(dir);
  WeightLoadOptions options;
  options.tp_rank = 1;
  options.tp_size = 2;
  const auto part = ModelWeights::load(dir, options);
  const ModelConfig& c = whole->config();
  EXPECT_EQ(part->config().num_attention_heads, c.num_attention_heads) << "config() stays whole";
  const LayerWeights& w = whole->layers()[1];
  const LayerWeights& p = part->layers()[1];
  const int64_t heads = c.num_attention_heads / 2, inter = c.intermediate_size / 2, vocab = c.vocab_size / 2;
  const int64_t qk = c.qk_head_dim(), kv = c.qk_nope_head_dim + c.v_head_dim, v = c.v_head_dim;
  const int64_t element = dtype_bytes(w.o_proj.dtype, 1);
  // Different mappings of the same file: compare bytes, not addresses.
  auto same_bytes = [](const MatrixView& a, int64_t a_row, int64_t a_col, const MatrixView& b,
                       int64_t element) {
    return std::memcmp(a.row(a_row) + a_col * element, b.row(0), b.cols * element) == 0;
  };
  EXPECT_EQ(p.q_b_proj.rows, heads * qk);
  EXPECT_TRUE(same_bytes(w.q_b_proj, heads * qk, 0, p.q_b_proj, element));
  EXPECT_EQ(p.kv_b_proj.rows, heads * kv);
  EXPECT_TRUE(same_bytes(w.kv_b_proj, heads * kv, 0, p.kv_b_proj, element));
  EXPECT_EQ(p.gate_proj.rows, inter);
  EXPECT_TRUE(same_bytes(w.up_proj, inter, 0, p.up_proj, element));
  EXPECT_EQ(p.o_proj.rows, c.hidden_size);
  EXPECT_EQ(p.o_proj.cols, heads * v);
  EXPECT_TRUE(same_bytes(w.o_proj, 0, heads * v, p.o_proj, element));
  EXPECT_EQ(p.down_proj.cols, inter);
  EXPECT_TRUE(same_bytes(w.down_proj, 0, inter, p.down_proj, element));
  EXPECT_EQ(p.down_proj.num_bytes(), c.hidden_size * inter * element);
  EXPECT_EQ(part->lm_head().rows, vocab);
  EXPECT_TRUE(same_bytes(whole->lm_head(), vocab, 0, part->lm_head(), element));
  EXPECT_EQ(p.q_a_proj.rows, w.q_a_proj.rows) << "q_a_proj is computed whole on every rank";
}

}  // namespace
}  // namespace cpm

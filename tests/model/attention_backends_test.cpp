// The latent (absorbed) and materialized attention backends compute the same function: on every
// golden checkpoint, for prompts of 1 to 300 tokens and 32 decoded tokens, their logits agree within
// the golden tolerance at every step. So does the latent backend's default, with materialized prefill
// chunks, in one chunk or after a cached prefix, with its heads expanded all at once or in groups;
// deterministic inference keeps it absorbed throughout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "model/latent_attention.h"
#include "model/reference_cases.h"
#include "model/sequence_runner.h"
#include "test_paths.h"

namespace cpm {
namespace {

constexpr float kTolerance = 5e-4f;

using test::max_difference;

std::vector<int32_t> random_prompt(int64_t length, int64_t vocab, uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<int32_t> ids(length);
  for (int32_t& id : ids) id = static_cast<int32_t>(random() % vocab);
  return ids;
}

class BackendAgreementTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BackendAgreementTest, LogitsAgreeAtEveryStep) {
  const std::string dir = test::test_data_dir() + "/golden/" + GetParam();
  ThreadPool pool(2);
  auto weights = ModelWeights::load(dir);
  MiniCPM3 latent(weights, ModelOptions{0, "latent", nullptr, false, /*deterministic_inference=*/true}, pool);
  MiniCPM3 materialized(weights, ModelOptions{0, "materialized"}, pool);
  MiniCPM3 latent_materialized_prefill(weights, ModelOptions{0, "latent"}, pool);
  const int64_t vocab = weights->config().vocab_size;
  for (int64_t length : {1, 2, 17, 64, 150, 300}) {
    SCOPED_TRACE("prompt length " + std::to_string(length));
    const std::vector<int32_t> prompt = random_prompt(length, vocab, static_cast<uint32_t>(length));
    SequenceRunner a(latent, length + 32), b(materialized, length + 32);
    SequenceRunner c(latent_materialized_prefill, length + 32);
    std::vector<float> logits_a = a.feed(prompt, true), logits_b = b.feed(prompt, true);
    std::vector<float> logits_c = c.feed(prompt, true);
    EXPECT_LT(max_difference(logits_a, logits_b), kTolerance);
    EXPECT_LT(max_difference(logits_c, logits_b), kTolerance);
    for (int step = 0; step < 32; ++step) {
      // All continue with the same token (the latent backend's greedy choice).
      const auto last = logits_a.end() - vocab;
      const int32_t next = static_cast<int32_t>(std::max_element(last, logits_a.end()) - last);
      logits_a = a.feed({next});
      logits_b = b.feed({next});
      logits_c = c.feed({next});
      ASSERT_LT(max_difference(logits_a, logits_b), kTolerance) << "decode step " << step;
      ASSERT_LT(max_difference(logits_c, logits_b), kTolerance) << "decode step " << step;
    }
  }
}

TEST_P(BackendAgreementTest, MaterializedPrefillAfterACachedPrefix) {
  const std::string dir = test::test_data_dir() + "/golden/" + GetParam();
  ThreadPool pool(2);
  auto weights = ModelWeights::load(dir);
  MiniCPM3 materialized(weights, ModelOptions{0, "materialized"}, pool);
  MiniCPM3 model(weights, ModelOptions{0, "latent"}, pool);
  const std::vector<int32_t> prompt = random_prompt(300, weights->config().vocab_size, 11);
  SequenceRunner whole(materialized, 300), chunked(model, 300);
  const std::vector<float> expected = whole.feed(prompt, true);
  const int64_t vocab = weights->config().vocab_size;
  // Chunks of 90, 1, 9 and 200 tokens: the last ones attend to a cached prefix.
  int64_t done = 0;
  for (int64_t size : {90, 1, 9, 200}) {
    SCOPED_TRACE("chunk from " + std::to_string(done));
    const std::vector<int32_t> chunk(prompt.begin() + done, prompt.begin() + done + size);
    const std::vector<float> logits = chunked.feed(chunk, true);
    const std::vector<float> reference(expected.begin() + done * vocab,
                                       expected.begin() + (done + size) * vocab);
    EXPECT_LT(max_difference(logits, reference), kTolerance);
    done += size;
  }
}

TEST(MaterializedPrefillTest, ChosenWhereItSavesWork) {
  ThreadPool pool(1);
  // tiny-c: 8 heads, nope 16, rope 16, v 16, rank 32, so a (query, cached row) pair costs 80
  // multiply-adds absorbed and 48 materialized, and expanding a row costs 8192.
  const ModelConfig config = ModelWeights::load(test::test_data_dir() + "/golden/tiny-c")->config();
  const LatentAttention attention(config, pool, true);
  auto prefers = [&](int64_t num_new, int64_t num_cached) {
    return attention.prefers_materialized(SequenceSpan{0, num_new, num_cached, nullptr});
  };
  EXPECT_TRUE(prefers(2, 0));
  EXPECT_TRUE(prefers(300, 0));
  EXPECT_FALSE(prefers(1, 0));     // decode
  EXPECT_FALSE(prefers(1, 5000));  // decode at depth
  EXPECT_FALSE(prefers(2, 1000));  // a short chunk after a long prefix: the expansion dominates
  EXPECT_TRUE(prefers(200, 100));
  EXPECT_TRUE(prefers(512, 8000));  // long contexts too: their heads are expanded in groups
  // A head's expansion, keys and values take 32 + 32 + 16 floats per context row here.
  EXPECT_EQ(attention.heads_per_expansion(1000), 8);
  const LatentAttention small(config, pool, true, 3 * 1000 * 80 * 4);
  EXPECT_EQ(small.heads_per_expansion(1000), 3);
  EXPECT_EQ(small.heads_per_expansion(1001), 2);
  EXPECT_EQ(small.heads_per_expansion(100000), 1);
}

// One layer of tiny-c's shapes for the latent backend alone: random bf16 kv_b_proj and a source of
// random inputs (the tests below compare two ways of running it bit for bit).
struct RandomLatentLayer {
  explicit RandomLatentLayer(uint32_t seed)
      : config(ModelWeights::load(test::test_data_dir() + "/golden/tiny-c")->config()), random(seed) {
    kv_b.resize(heads * kv * rank);
    for (uint16_t& value : kv_b) value = f32_to_bf16(0.2f * normal(random));
    weights.kv_b_proj = make_matrix_view(DType::kBF16, heads * kv, rank, kv_b.data());
  }
  std::vector<float> randoms(int64_t count) {
    std::vector<float> values(count);
    for (float& value : values) value = normal(random);
    return values;
  }

  const ModelConfig config;
  const int64_t heads = config.num_attention_heads, qk = config.qk_head_dim(), v = config.v_head_dim;
  const int64_t kv = config.qk_nope_head_dim + v, rank = config.kv_lora_rank;
  const int64_t width = rank + config.qk_rope_head_dim;
  std::mt19937 random;
  std::normal_distribution<float> normal{0.0f, 1.0f};
  std::vector<uint16_t> kv_b;
  LayerWeights weights;
};

// Expanding heads in groups (a smaller scratch budget) gives every head the same bits as expanding
// them all at once, for a chunk after a cached prefix.
TEST(MaterializedPrefillTest, HeadGroupsGiveTheSameBits) {
  ThreadPool pool(2);
  RandomLatentLayer layer(5);
  const ModelConfig& config = layer.config;
  const int64_t heads = layer.heads, qk = layer.qk, v = layer.v, kv = layer.kv, width = layer.width;
  const int64_t cached = 37, fresh = 29, context = cached + fresh;
  const std::vector<float> prefix = layer.randoms(cached * width), compressed = layer.randoms(fresh * width);
  const std::vector<float> queries = layer.randoms(fresh * heads * qk);
  std::vector<int32_t> slots(context);
  for (int64_t s = 0; s < context; ++s) slots[s] = static_cast<int32_t>(context - 1 - s);  // any order
  ForwardBatch batch;
  batch.token_ids.assign(fresh, 0);
  batch.sequences.push_back({0, fresh, cached, slots.data()});
  auto attend = [&](int64_t budget) {
    LatentAttention attention(config, pool, true, budget);
    EXPECT_TRUE(attention.prefers_materialized(batch.sequences[0]));
    KvCache cache(1, context, width, DType::kF32);
    for (int64_t s = 0; s < cached; ++s) cache.write_row(0, slots[s], prefix.data() + s * width);
    std::vector<float> out(fresh * heads * v);
    attention.attend(0, layer.weights, batch, AttentionInputs{queries.data(), compressed.data(), width},
                     cache, out.data());
    return out;
  };
  const int64_t per_head = context * (kv + qk + v) * static_cast<int64_t>(sizeof(float));
  const std::vector<float> together = attend(LatentAttention::kExpansionBudgetBytes);
  for (int64_t group : {1, 3}) {
    SCOPED_TRACE("heads per group " + std::to_string(group));
    const std::vector<float> grouped = attend(group * per_head);
    ASSERT_EQ(grouped.size(), together.size());
    for (size_t i = 0; i < grouped.size(); ++i) ASSERT_EQ(grouped[i], together[i]) << "output " << i;
  }
}

// Decode in one parallel region (a short context) and with the cached rows split for the scores (a
// long one) give the same bits, on f32 and bf16 caches, for one token and for two on three threads.
TEST(LatentDecodeTest, OneRegionAndSplitRowsGiveTheSameBits) {
  RandomLatentLayer layer(9);
  const ModelConfig& config = layer.config;
  const int64_t heads = layer.heads, qk = layer.qk, v = layer.v, width = layer.width, context = 45;
  const std::vector<float> rows = layer.randoms(2 * context * width), queries = layer.randoms(2 * heads * qk);
  std::vector<int32_t> slots(2 * context);
  for (int64_t s = 0; s < 2 * context; ++s) slots[s] = static_cast<int32_t>((s * 7) % (2 * context));
  for (DType cache_dtype : {DType::kF32, DType::kBF16}) {
    for (int tokens : {1, 2}) {
      SCOPED_TRACE(std::string(dtype_name(cache_dtype)) + ", " + std::to_string(tokens) + " tokens");
      ThreadPool pool(tokens + 1);  // decode: fewer tokens than threads
      ForwardBatch batch;
      batch.token_ids.assign(tokens, 0);
      for (int t = 0; t < tokens; ++t)
        batch.sequences.push_back({t, 1, context - 1 - t, slots.data() + t * context});
      auto attend = [&](int64_t one_pass_bytes) {
        LatentAttention attention(config, pool, false, LatentAttention::kExpansionBudgetBytes,
                                  one_pass_bytes);
        KvCache cache(1, 2 * context, width, cache_dtype);
        for (int64_t s = 0; s < 2 * context; ++s) cache.write_row(0, slots[s], rows.data() + s * width);
        std::vector<float> out(tokens * heads * v);
        attention.attend(0, layer.weights, batch, AttentionInputs{queries.data(), rows.data(), width}, cache,
                         out.data());
        return out;
      };
      const std::vector<float> one_region = attend(LatentAttention::kOnePassCacheBytes), split = attend(0);
      ASSERT_EQ(one_region.size(), split.size());
      for (size_t i = 0; i < split.size(); ++i) ASSERT_EQ(one_region[i], split[i]) << "output " << i;
    }
  }
}

TEST_P(BackendAgreementTest, Bf16CacheKeepsGreedyOutput) {
  // A bf16 cache moves logits by more than the f32 tolerance; greedy tokens and a looser bound hold.
  const std::string dir = test::test_data_dir() + "/golden/" + GetParam();
  ThreadPool pool(2);
  auto weights = ModelWeights::load(dir);
  MiniCPM3 model(weights, ModelOptions{0, "latent"}, pool);
  const std::vector<int32_t> prompt = random_prompt(40, weights->config().vocab_size, 7);
  SequenceRunner f32(model, 41, DType::kF32), bf16(model, 41, DType::kBF16);
  const std::vector<float> a = f32.feed(prompt), b = bf16.feed(prompt);
  EXPECT_LT(max_difference(a, b), 0.05f);
  EXPECT_EQ(std::max_element(a.begin(), a.end()) - a.begin(),
            std::max_element(b.begin(), b.end()) - b.begin());
}

INSTANTIATE_TEST_SUITE_P(Golden, BackendAgreementTest, ::testing::Values("tiny-a", "tiny-c"),
                         [](const auto& info) { return info.param == "tiny-a" ? "tiny_a" : "tiny_c"; });

}  // namespace
}  // namespace cpm

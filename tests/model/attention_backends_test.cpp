// The latent (absorbed) and materialized attention backends compute the same function: on every
// golden checkpoint, for prompts of 1 to 300 tokens and 32 decoded tokens, their logits agree within
// the golden tolerance at every step. So does the latent backend's default, with materialized prefill
// chunks, in one chunk or after a cached prefix; deterministic inference keeps it absorbed throughout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "model/latent_attention.h"
#include "model/sequence_runner.h"
#include "test_paths.h"

namespace cpm {
namespace {

constexpr float kTolerance = 5e-4f;

float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

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
  EXPECT_TRUE(prefers(64, LatentAttention::kMaxExpandedRows - 64));
  EXPECT_FALSE(prefers(64, LatentAttention::kMaxExpandedRows - 63));  // past the scratch cap
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

// Every sampling parameter, on hand-made logits.
#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "runtime/token_constraint.h"

namespace cpm {
namespace {

std::vector<float> logits_of(std::initializer_list<float> values) {
  return values;
}

int32_t sample_once(SamplingParams params, std::vector<float> logits, const std::vector<int32_t>& prompt = {},
                    std::vector<int32_t> eos = {}) {
  Sampler sampler(params, prompt, std::move(eos));
  return sampler.sample(logits.data(), static_cast<int64_t>(logits.size())).token;
}

std::map<int32_t, int> histogram(SamplingParams params, const std::vector<float>& logits, int draws) {
  std::map<int32_t, int> counts;
  params.seed = 12345;
  Sampler sampler(params, {}, {});
  for (int i = 0; i < draws; ++i) {
    std::vector<float> copy = logits;
    ++counts[sampler.sample(copy.data(), static_cast<int64_t>(copy.size())).token];
  }
  return counts;
}

TEST(SamplerTest, TemperatureZeroIsArgmax) {
  SamplingParams params;
  params.temperature = 0;
  EXPECT_EQ(sample_once(params, logits_of({0.1f, 2.0f, 1.9f})), 1);
}

TEST(SamplerTest, TopKOneIsGreedyAtAnyTemperature) {
  SamplingParams params;
  params.temperature = 5;
  params.top_k = 1;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sample_once(params, logits_of({0.1f, 2.0f, 1.9f, 1.95f})), 1);
}

TEST(SamplerTest, TopKRestrictsToBestK) {
  SamplingParams params;
  params.top_k = 2;
  auto counts = histogram(params, logits_of({1.0f, 1.1f, 0.9f, 1.05f}), 400);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
}

TEST(SamplerTest, TopPKeepsSmallestPrefixReachingMass) {
  SamplingParams params;
  params.top_p = 0.5f;
  // Probabilities about 0.47, 0.35, 0.17: top_p 0.5 keeps the first two.
  auto counts = histogram(params, logits_of({std::log(0.47f), std::log(0.35f), std::log(0.17f)}), 600);
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_GT(counts[0], counts[1]);
  EXPECT_GT(counts[1], 0);
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
  SamplingParams params;
  params.min_p = 0.5f;
  auto counts = histogram(params, logits_of({std::log(0.5f), std::log(0.3f), std::log(0.2f)}), 600);
  EXPECT_EQ(counts.count(2), 0u);  // 0.2 < 0.5 * 0.5
  EXPECT_GT(counts[1], 0);
}

TEST(SamplerTest, TemperatureSharpens) {
  SamplingParams cold, hot;
  cold.temperature = 0.2f;
  hot.temperature = 2.0f;
  const std::vector<float> logits = {1.0f, 0.5f};
  EXPECT_GT(histogram(cold, logits, 500)[0], histogram(hot, logits, 500)[0]);
}

TEST(SamplerTest, SameSeedSameTokens) {
  SamplingParams params;
  params.seed = 7;
  const std::vector<float> logits = {0.3f, 0.2f, 0.25f, 0.1f, 0.15f};
  Sampler a(params, {}, {}), b(params, {}, {});
  for (int i = 0; i < 50; ++i) {
    std::vector<float> x = logits, y = logits;
    EXPECT_EQ(a.sample(x.data(), 5).token, b.sample(y.data(), 5).token);
  }
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingParams params;
  params.temperature = 0;
  params.repetition_penalty = 2.0f;
  // Token 0 (seen in the prompt) at 2.0 drops to 1.0 < 1.5.
  EXPECT_EQ(sample_once(params, logits_of({2.0f, 1.5f}), {0}), 1);
  // A negative seen logit gets more negative: token 1 at -1 becomes -2 < -1.5.
  EXPECT_EQ(sample_once(params, logits_of({-1.5f, -1.0f}), {1}), 0);
}

TEST(SamplerTest, FrequencyAndPresencePenaltiesCountOutputs) {
  SamplingParams params;
  params.temperature = 0;
  params.frequency_penalty = 0.4f;
  Sampler sampler(params, {}, {});
  std::vector<float> logits = {1.0f, 0.5f};
  EXPECT_EQ(sampler.sample(logits.data(), 2).token, 0);  // 1.0 vs 0.5
  logits = {1.0f, 0.5f};
  EXPECT_EQ(sampler.sample(logits.data(), 2).token, 0);  // 0.6 vs 0.5
  logits = {1.0f, 0.5f};
  EXPECT_EQ(sampler.sample(logits.data(), 2).token, 1);  // 0.2 vs 0.5

  SamplingParams presence;
  presence.temperature = 0;
  presence.presence_penalty = 0.6f;
  Sampler once(presence, {}, {});
  logits = {1.0f, 0.5f};
  EXPECT_EQ(once.sample(logits.data(), 2).token, 0);
  logits = {1.0f, 0.5f};
  EXPECT_EQ(once.sample(logits.data(), 2).token, 1);  // 0.4 vs 0.5
}

TEST(SamplerTest, MinNewTokensMasksEosAndStopIds) {
  SamplingParams params;
  params.temperature = 0;
  params.min_new_tokens = 2;
  params.stop_token_ids = {1};
  Sampler sampler(params, {}, {0});
  std::vector<float> logits = {5.0f, 4.0f, 1.0f};
  EXPECT_EQ(sampler.sample(logits.data(), 3).token, 2);
  logits = {5.0f, 4.0f, 1.0f};
  EXPECT_EQ(sampler.sample(logits.data(), 3).token, 2);
  logits = {5.0f, 4.0f, 1.0f};
  EXPECT_EQ(sampler.sample(logits.data(), 3).token, 0);  // min reached: EOS allowed
}

TEST(SamplerTest, LogprobsAreLogSoftmaxOfModelLogits) {
  SamplingParams params;
  params.temperature = 0;
  params.return_logprob = true;
  params.top_logprobs = 2;
  Sampler sampler(params, {}, {});
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  const SampledToken result = sampler.sample(logits.data(), 3);
  EXPECT_EQ(result.token, 0);
  EXPECT_NEAR(result.logprob, std::log(0.5f), 1e-6);
  ASSERT_EQ(result.top_logprobs.size(), 2u);
  EXPECT_EQ(result.top_logprobs[1].token, 1);
  EXPECT_NEAR(result.top_logprobs[1].logprob, std::log(0.3f), 1e-6);
}

TEST(SamplingParamsTest, OutOfRangeIsRejectedWithItsName) {
  auto message = [](auto edit) {
    SamplingParams params;
    edit(params);
    try {
      params.validate();
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message([](SamplingParams& p) { p.temperature = -1; }).find("temperature"), std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.top_p = 0; }).find("top_p"), std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.top_k = -5; }).find("top_k"), std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.min_p = 2; }).find("min_p"), std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.repetition_penalty = 0; }).find("repetition_penalty"),
            std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.frequency_penalty = 3; }).find("frequency_penalty"),
            std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.presence_penalty = -3; }).find("presence_penalty"),
            std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.max_new_tokens = -1; }).find("max_new_tokens"),
            std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.min_new_tokens = 500; }).find("min_new_tokens"),
            std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.top_logprobs = 50; }).find("top_logprobs"), std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) { p.stop = {""}; }).find("stop"), std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) {
              p.logit_bias = {{3, 101.0f}};
            }).find("logit_bias"),
            std::string::npos);
  EXPECT_NE(message([](SamplingParams& p) {
              p.logit_bias = {{-1, 1.0f}};
            }).find("logit_bias"),
            std::string::npos);
  EXPECT_EQ(message([](SamplingParams&) {}), "accepted");
}

TEST(SamplerTest, LogitBiasIsAddedBeforeChoosing) {
  SamplingParams params;
  params.temperature = 0;
  params.logit_bias = {{0, 5.0f}};
  EXPECT_EQ(sample_once(params, logits_of({1.0f, 3.0f, 2.0f})), 0);
  params.logit_bias = {{1, -100.0f}};
  EXPECT_EQ(sample_once(params, logits_of({1.0f, 3.0f, 2.0f})), 2);
  params.temperature = 1;
  const auto counts = histogram(params, logits_of({1.0f, 3.0f, 2.0f}), 2000);
  EXPECT_EQ(counts.count(1), 0u);
}

// Only the mask's tokens (and the extra ones) can come out, greedy or sampled, also when token 0 is
// masked: the exponentials are shifted by the largest logit left, not by the first one.
TEST(SamplerTest, MaskedTokensAreNeverChosen) {
  TokenMask mask;
  mask.bits = {0b01010};  // tokens 1 and 3
  mask.allowed = 2;
  for (float temperature : {0.0f, 1.0f, 5.0f}) {
    SamplingParams params;
    params.temperature = temperature;
    params.seed = 9;
    Sampler sampler(params, {}, {});
    std::map<int32_t, int> counts;
    for (int i = 0; i < 500; ++i) {
      std::vector<float> logits = logits_of({9.0f, 1.0f, 8.0f, 1.5f, 7.0f});
      ++counts[sampler.sample(logits.data(), 5, &mask, {4}).token];
    }
    for (const auto& [token, count] : counts) {
      EXPECT_TRUE(token == 1 || token == 3 || token == 4) << token << " at temperature " << temperature;
    }
    if (temperature == 0.0f) {
      EXPECT_EQ(counts[4], 500);
    } else if (temperature == 5.0f) {
      EXPECT_GT(counts[1], 0);
    }
  }
}

}  // namespace
}  // namespace cpm

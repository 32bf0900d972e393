// The golden reference cases (tests/data/golden, copied from ../shared/golden): last-position logits
// within 5e-4 and greedy continuations token for token, with the prompt in one step and one token at a
// time, for both attention backends.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/sequence_runner.h"
#include "test_paths.h"

namespace cpm {
namespace {

constexpr float kLogitTolerance = 5e-4f;

struct GoldenCase {
  std::vector<int32_t> prompt_ids;
  std::vector<float> last_logits;
  std::vector<int32_t> greedy;
};

std::vector<GoldenCase> load_cases(const std::string& dir) {
  std::ifstream in(dir + "/cases.json");
  nlohmann::json root = nlohmann::json::parse(in);
  std::vector<GoldenCase> cases;
  for (const auto& item : root) {
    cases.push_back({item["prompt_ids"].get<std::vector<int32_t>>(),
                     item["last_logits"].get<std::vector<float>>(),
                     item["greedy_16"].get<std::vector<int32_t>>()});
  }
  return cases;
}

int32_t argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<int32_t> greedy_continue(SequenceRunner& runner, std::vector<float> logits, int count) {
  std::vector<int32_t> output;
  for (int i = 0; i < count; ++i) {
    output.push_back(argmax(logits));
    if (i + 1 < count) logits = runner.feed({output.back()});
  }
  return output;
}

class GoldenTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(GoldenTest, LogitsAndGreedyMatchReference) {
  const auto& [checkpoint, backend] = GetParam();
  const std::string dir = test::test_data_dir() + "/golden/" + checkpoint;
  ThreadPool pool(2);
  MiniCPM3 model(ModelWeights::load(dir), ModelOptions{0, backend}, pool);
  for (const GoldenCase& golden : load_cases(dir)) {
    const int64_t length = static_cast<int64_t>(golden.prompt_ids.size());
    SCOPED_TRACE("prompt length " + std::to_string(length));
    SequenceRunner batched(model, length + 16);
    std::vector<float> logits = batched.feed(golden.prompt_ids);
    ASSERT_EQ(logits.size(), golden.last_logits.size());
    float worst = 0;
    for (size_t i = 0; i < logits.size(); ++i)
      worst = std::max(worst, std::fabs(logits[i] - golden.last_logits[i]));
    EXPECT_LT(worst, kLogitTolerance);
    RecordProperty("max_error_len" + std::to_string(length), std::to_string(worst));
    EXPECT_EQ(greedy_continue(batched, logits, 16), golden.greedy);

    SequenceRunner stepwise(model, length + 16);
    for (int32_t id : golden.prompt_ids) logits = stepwise.feed({id});
    EXPECT_EQ(greedy_continue(stepwise, logits, 16), golden.greedy);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCheckpoints, GoldenTest,
                         ::testing::Combine(::testing::Values("tiny-a", "tiny-c"),
                                            ::testing::Values("latent", "materialized")),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param) + "_" + std::get<1>(info.param);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace cpm

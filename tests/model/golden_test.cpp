// The golden reference cases (tests/data/golden, copied from ../shared/golden): last-position logits
// within 5e-4 and greedy continuations token for token, with the prompt in one step and one token at a
// time, for both attention backends.
#include <gtest/gtest.h>

#include <algorithm>

#include "model/reference_cases.h"
#include "test_paths.h"

namespace cpm {
namespace {

class GoldenTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(GoldenTest, LogitsAndGreedyMatchReference) {
  const auto& [checkpoint, backend] = GetParam();
  const std::string dir = test::test_data_dir() + "/golden/" + checkpoint;
  ThreadPool pool(2);
  MiniCPM3 model(ModelWeights::load(dir), ModelOptions{0, backend}, pool);
  test::expect_matches_reference(model, test::load_reference_cases(dir + "/cases.json"));
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

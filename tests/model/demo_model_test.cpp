// The shipped demo model (models/demo) against its PyTorch reference: tools/demo_model/write_cases.py
// computed these logits in float64 with the training module, from the same safetensors file.
#include <gtest/gtest.h>

#include "model/reference_cases.h"
#include "test_paths.h"

namespace cpm {
namespace {

class DemoModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DemoModelTest, LogitsAndGreedyMatchPyTorch) {
  const std::string dir = test::source_dir() + "/models/demo";
  ThreadPool pool(2);
  MiniCPM3 model(ModelWeights::load(dir), ModelOptions{0, GetParam()}, pool);
  const auto cases = test::load_reference_cases(test::test_data_dir() + "/demo/consistency_cases.json");
  ASSERT_GE(cases.size(), 4u);
  test::expect_matches_reference(model, cases);
}

INSTANTIATE_TEST_SUITE_P(BothBackends, DemoModelTest, ::testing::Values("latent", "materialized"));

}  // namespace
}  // namespace cpm

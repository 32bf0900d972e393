// --enable-bf16-prefill (ModelOptions::bf16_prefill): prefill products with bf16 weights on activations
// rounded to bf16. Prompts of 48 tokens or more take that path on CPUs with AVX512_BF16 (their logits
// then differ from the f32 activations' run); the logits stay close to the reference and greedy tokens
// are kept on the trained demo model. Without AVX512_BF16 the option changes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "model/reference_cases.h"
#include "model/sequence_runner.h"
#include "test_paths.h"

namespace cpm {
namespace {

using test::cosine;

using test::max_difference;

ModelOptions bf16_prefill_options() {
  ModelOptions options;
  options.bf16_prefill = true;
  return options;
}

// The golden tiny-a checkpoint (bf16 weights) against its float64 reference.
TEST(Bf16Prefill, GoldenLogitsStayClose) {
  const std::string dir = test::test_data_dir() + "/golden/tiny-a";
  ThreadPool pool(2);
  auto weights = ModelWeights::load(dir);
  MiniCPM3 exact(weights, {}, pool), rounded(weights, bf16_prefill_options(), pool);
  EXPECT_TRUE(rounded.bf16_prefill());
  for (const test::ReferenceCase& reference : test::load_reference_cases(dir + "/cases.json")) {
    const int64_t length = static_cast<int64_t>(reference.prompt_ids.size());
    SCOPED_TRACE("prompt length " + std::to_string(length));
    SequenceRunner exact_run(exact, length), rounded_run(rounded, length);
    const std::vector<float> a = exact_run.feed(reference.prompt_ids),
                             b = rounded_run.feed(reference.prompt_ids);
    ::testing::Test::RecordProperty("max_error_len" + std::to_string(length),
                                    std::to_string(max_difference(b, reference.last_logits)));
    EXPECT_LT(max_difference(b, reference.last_logits), 5e-3f);
    EXPECT_GE(cosine(b, reference.last_logits), 0.99999);
    // The path ran: long prompts' logits moved by the rounding, short ones' did not.
    if (length >= kFastestMinRows && cpu_has_avx512_bf16()) {
      EXPECT_NE(a, b);
    } else {
      EXPECT_EQ(a, b);
    }
  }
}

// The trained demo model (f32 in its checkpoint) loaded as bf16: every PyTorch reference case keeps its
// greedy tokens, as without the option.
TEST(Bf16Prefill, TrainedModelKeepsGreedyTokens) {
  const std::string dir = test::source_dir() + "/models/demo";
  const auto cases = test::load_reference_cases(test::test_data_dir() + "/demo/consistency_cases.json");
  ThreadPool pool(2);
  MiniCPM3 model(ModelWeights::load(dir, {DType::kBF16, &pool}), bf16_prefill_options(), pool);
  bool some_long = false;
  for (const test::ReferenceCase& reference : cases) {
    const int64_t length = static_cast<int64_t>(reference.prompt_ids.size());
    SCOPED_TRACE("prompt length " + std::to_string(length));
    some_long = some_long || length >= kFastestMinRows;
    SequenceRunner run(model, length + 16);
    const std::vector<float> logits = run.feed(reference.prompt_ids);
    ::testing::Test::RecordProperty("cosine_len" + std::to_string(length),
                                    std::to_string(cosine(logits, reference.last_logits)));
    EXPECT_GE(cosine(logits, reference.last_logits), 0.9999);
    EXPECT_EQ(test::greedy_continue(run, logits, 16), reference.greedy);
  }
  EXPECT_TRUE(some_long) << "no case runs the bf16 prefill path";
}

TEST(Bf16Prefill, RefusedWithDeterministicInference) {
  const std::string dir = test::test_data_dir() + "/golden/tiny-a";
  ThreadPool pool(1);
  ModelOptions options = bf16_prefill_options();
  options.deterministic_inference = true;
  try {
    MiniCPM3 model(ModelWeights::load(dir), options, pool);
    FAIL() << "bf16 prefill with deterministic inference was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("deterministic inference"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace cpm

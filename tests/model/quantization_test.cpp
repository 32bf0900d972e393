// Weights converted at load keep logits close to f32: q8_0 within cosine 0.999 on every golden
// checkpoint, on one of MiniCPM3-4B's shapes and on the trained demo model, whose greedy tokens it keeps;
// q4_0 within 0.99 on tiny-a. (On tiny-c, an untrained random model, q4_0 reaches 0.98, and no 8-bit
// format keeps every greedy token: the golden margins are 2e-3. docs/PERFORMANCE.md records the figures.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "model/random_checkpoint.h"
#include "model/reference_cases.h"
#include "model/sequence_runner.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace cpm {
namespace {

using test::cosine;

class QuantizationTest : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizationTest, LogitsStayClose) {
  const std::string dir = test::test_data_dir() + "/golden/" + GetParam();
  const double q4_bound = GetParam() == "tiny-a" ? 0.99 : 0.95;
  ThreadPool pool(2);
  MiniCPM3 reference(ModelWeights::load(dir, {DType::kF32, &pool}), {}, pool);
  MiniCPM3 q8(ModelWeights::load(dir, {DType::kQ8_0, &pool}), {}, pool);
  MiniCPM3 q4(ModelWeights::load(dir, {DType::kQ4_0, &pool}), {}, pool);
  EXPECT_EQ(q8.weights().layers()[0].q_b_proj.dtype, DType::kQ8_0);
  EXPECT_EQ(q4.weights().layers()[0].gate_proj.dtype, DType::kQ4_0);
  EXPECT_EQ(q4.weights().lm_head().dtype, DType::kQ8_0);
  std::ifstream in(dir + "/cases.json");
  const nlohmann::json cases = nlohmann::json::parse(in);
  for (const auto& item : cases) {
    const auto prompt = item["prompt_ids"].get<std::vector<int32_t>>();
    SCOPED_TRACE("prompt length " + std::to_string(prompt.size()));
    SequenceRunner f32_run(reference, prompt.size()), q8_run(q8, prompt.size()), q4_run(q4, prompt.size());
    const std::vector<float> a = f32_run.feed(prompt), b = q8_run.feed(prompt), c = q4_run.feed(prompt);
    EXPECT_GE(cosine(a, b), 0.999);
    EXPECT_GE(cosine(a, c), q4_bound);
  }
}

// Block-quantized matrices grouped by eight rows at load (the default, where AVX2 runs) give the
// logits of row-major ones bit for bit, in prefill (panels) and decode (group tiles), and writers
// cannot read them by mistake.
TEST_P(QuantizationTest, RowGroupsGiveTheSameLogits) {
  const std::string dir = test::test_data_dir() + "/golden/" + GetParam();
  ThreadPool pool(2);
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    SCOPED_TRACE(dtype_name(dtype));
    WeightLoadOptions row_major{dtype, &pool};
    row_major.place_matrices = false;
    MiniCPM3 plain(ModelWeights::load(dir, row_major), {}, pool);
    MiniCPM3 grouped(ModelWeights::load(dir, {dtype, &pool}), {}, pool);
    const MatrixLayout expected = cpu_has_avx2() ? MatrixLayout::kRowGroupsOf8 : MatrixLayout::kRows;
    EXPECT_EQ(grouped.weights().layers()[0].gate_proj.layout, expected);
    EXPECT_EQ(grouped.weights().lm_head().layout, expected);  // stored apart from the embedding
    EXPECT_EQ(grouped.weights().layers()[0].kv_b_proj.layout, MatrixLayout::kRows);
    EXPECT_EQ(grouped.weights().embed_tokens().layout, MatrixLayout::kRows);
    EXPECT_EQ(plain.weights().layers()[0].gate_proj.layout, MatrixLayout::kRows);
    if (cpu_has_avx2()) {
      EXPECT_THROW(grouped.weights().named_matrices(), Error);
    }
    std::ifstream in(dir + "/cases.json");
    std::vector<int32_t> prompt;  // the longest case
    for (const auto& item : nlohmann::json::parse(in)) {
      auto ids = item["prompt_ids"].get<std::vector<int32_t>>();
      if (ids.size() > prompt.size()) prompt = std::move(ids);
    }
    ASSERT_GE(prompt.size(), 2u);
    SequenceRunner plain_run(plain, prompt.size() + 2), grouped_run(grouped, prompt.size() + 2);
    EXPECT_EQ(plain_run.feed(prompt, true), grouped_run.feed(prompt, true));  // prefill
    for (int32_t token : {prompt[0], prompt[1]})                              // decode
      EXPECT_EQ(plain_run.feed({token}), grouped_run.feed({token}));
  }
}

// A checkpoint with MiniCPM3-4B's shapes: its preset (hidden 2560, 40 heads, q_lora_rank 768,
// kv_lora_rank 256, intermediate 6400, the 73,448-token vocabulary, tied embeddings) cut to 2 of its
// 62 layers so the test runs in seconds. A prefill, then decode steps (the decode kernels). q8_0 keeps
// cosine 0.999 (0.9997 measured); q4_0 reaches 0.981, short of the 0.99 the issue asks: q4_0 rounds these
// uniform random weights with 5.9% rms error, and 0.99 needs about 4.3%, more than any scalar 4-bit code
// gets from uniform values (the weights rounded to 5 bits reach 0.995; docs/PERFORMANCE.md,
// "Quantization accuracy"), so the bound here guards against regressions only.
TEST(QuantizationShapes, MiniCPM3_4bLogitsStayClose) {
  test::TempDir dir;
  nlohmann::ordered_json config = random_checkpoint_config("minicpm3-4b");
  config["num_hidden_layers"] = 2;
  // MiniCPM's muP initialization: hidden matrices at initializer_range / sqrt(hidden_size /
  // dim_model_base), here 0.1 / sqrt(10). At the unscaled 0.1 the random attention is so peaked that
  // rounding the f32 weights to bf16 alone moves the logits to cosine 0.99985.
  config["initializer_range"] = 0.1 / std::sqrt(10.0);
  write_random_checkpoint(dir.str(), config, 5, DType::kBF16);
  ThreadPool pool(2);
  MiniCPM3 reference(ModelWeights::load(dir.str(), {DType::kF32, &pool}), {}, pool);
  const std::vector<int32_t> prompt = {1, 5, 1234, 73000, 42, 9876, 31, 2024, 60001, 7};
  const std::vector<int32_t> decoded = {333, 44444, 2};
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    SCOPED_TRACE(dtype_name(dtype));
    const double bound = dtype == DType::kQ8_0 ? 0.999 : 0.975;
    MiniCPM3 quantized(ModelWeights::load(dir.str(), {dtype, &pool}), {}, pool);
    const int64_t capacity = static_cast<int64_t>(prompt.size() + decoded.size());
    SequenceRunner f32_run(reference, capacity), quantized_run(quantized, capacity);
    EXPECT_GE(cosine(f32_run.feed(prompt), quantized_run.feed(prompt)), bound) << "prefill";
    for (int32_t token : decoded)
      EXPECT_GE(cosine(f32_run.feed({token}), quantized_run.feed({token})), bound) << "decode " << token;
  }
}

double relative_rms_error(const std::vector<float>& got, const std::vector<float>& want) {
  double error = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    error += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(error / norm);
}

// Under the block formats decode multiplies through kv_b_proj's q8_0 copies (W_uk transposed per head,
// and W_uv): each head's product within q8_0's rounding of the bf16 rows', logits too, and decode's
// bytes count the copies. Float formats and writers keep the rows only.
TEST(QuantizationShapes, DecodeTakesKvBCopiesInQ8_0) {
  test::TempDir dir;
  write_random_checkpoint(dir.str(), random_checkpoint_config("demo"), 6, DType::kBF16);
  ThreadPool pool(2);
  WeightLoadOptions rows_only{DType::kQ8_0, &pool};
  rows_only.decode_kv_b_q8_0 = false;
  const auto with_rows = ModelWeights::load(dir.str(), rows_only);
  const auto with_copies = ModelWeights::load(dir.str(), {DType::kQ8_0, &pool});
  EXPECT_EQ(with_rows->layers()[0].kv_b_absorb.rows, 0);
  EXPECT_EQ(ModelWeights::load(dir.str(), {DType::kBF16, &pool})->layers()[0].kv_b_absorb.rows, 0);
  const ModelConfig& c = with_copies->config();
  const int64_t heads = c.num_attention_heads, nope = c.qk_nope_head_dim, v = c.v_head_dim;
  const int64_t rank = c.kv_lora_rank, kv = nope + v;
  const LayerWeights& layer = with_copies->layers()[1];
  ASSERT_EQ(layer.kv_b_absorb.dtype, DType::kQ8_0);
  ASSERT_EQ(layer.kv_b_absorb.rows, heads * rank);
  ASSERT_EQ(layer.kv_b_absorb.cols, nope);
  ASSERT_EQ(layer.kv_b_expand.rows, heads * v);
  ASSERT_EQ(layer.kv_b_expand.cols, rank);
  const int64_t copies = layer.kv_b_absorb.num_bytes() + layer.kv_b_expand.num_bytes();
  EXPECT_EQ(with_rows->weight_bytes_per_token() - with_copies->weight_bytes_per_token(),
            c.num_hidden_layers * (layer.kv_b_proj.num_bytes() - copies));
  std::mt19937 random(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t h : {int64_t{0}, heads - 1}) {
    SCOPED_TRACE("head " + std::to_string(h));
    std::vector<float> query(nope), latent(rank), absorbed(rank), want_absorbed(rank), output(v),
        want_output(v);
    for (float& x : query) x = normal(random);
    for (float& x : latent) x = normal(random);
    const float* in = query.data();
    float* out = want_absorbed.data();
    combine_rows(layer.kv_b_proj, h * kv, nope, &in, &out, 1);
    matvec_rows(layer.kv_b_absorb, h * rank, rank, query.data(), absorbed.data());
    EXPECT_LT(relative_rms_error(absorbed, want_absorbed), 0.01);
    in = latent.data();
    out = want_output.data();
    dot_rows(layer.kv_b_proj, h * kv + nope, v, &in, &out, 1);
    matvec_rows(layer.kv_b_expand, h * v, v, latent.data(), output.data());
    EXPECT_LT(relative_rms_error(output, want_output), 0.01);
  }
  // Logits: as close to f32 as q8_0 with kv_b_proj's rows (0.99987-0.99993 measured for both), and
  // to those within q8_0's own rounding.
  MiniCPM3 rows_model(with_rows, {}, pool), copies_model(with_copies, {}, pool);
  MiniCPM3 f32_model(ModelWeights::load(dir.str(), {DType::kF32, &pool}), {}, pool);
  const std::vector<int32_t> prompt = {1, 50, 700, 1999, 3, 1024};
  SequenceRunner rows_run(rows_model, 10), copies_run(copies_model, 10), f32_run(f32_model, 10);
  for (const auto& tokens : std::vector<std::vector<int32_t>>{prompt, {5}, {600}, {2047}, {9}}) {
    SCOPED_TRACE("after token " + std::to_string(tokens.back()));
    const std::vector<float> rows = rows_run.feed(tokens), copied = copies_run.feed(tokens);
    EXPECT_GE(cosine(f32_run.feed(tokens), copied), 0.999);
    EXPECT_GE(cosine(rows, copied), 0.9995);
  }
}

// The random checkpoints above are harsh: even their weights rounded to 8 bits with f32 activations flip
// greedy tokens (their margins are 2e-3 to 3e-2; docs/PERFORMANCE.md, "Quantization accuracy"). The
// trained demo model is not: under q8_0 every PyTorch reference case keeps its 16 greedy tokens, at
// cosine 0.99988-0.99999; q4_0 stays at 0.98746-0.99995 (the 121-token case the least) and keeps the
// greedy tokens where the margins are wide.
TEST(QuantizationDemo, TrainedModelKeepsGreedyTokens) {
  const std::string dir = test::source_dir() + "/models/demo";
  const auto cases = test::load_reference_cases(test::test_data_dir() + "/demo/consistency_cases.json");
  ASSERT_GE(cases.size(), 5u);
  ThreadPool pool(2);
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    SCOPED_TRACE(dtype_name(dtype));
    MiniCPM3 model(ModelWeights::load(dir, {dtype, &pool}), {}, pool);
    int cases_kept = 0;
    for (const test::ReferenceCase& reference : cases) {
      SCOPED_TRACE("prompt length " + std::to_string(reference.prompt_ids.size()));
      SequenceRunner run(model, static_cast<int64_t>(reference.prompt_ids.size()) + 16);
      const std::vector<float> logits = run.feed(reference.prompt_ids);
      EXPECT_GE(cosine(logits, reference.last_logits), dtype == DType::kQ8_0 ? 0.9995 : 0.985);
      const std::vector<int32_t> greedy = test::greedy_continue(run, logits, 16);
      if (dtype == DType::kQ8_0) {
        EXPECT_EQ(greedy, reference.greedy);
      }
      cases_kept += greedy == reference.greedy;
    }
    if (dtype == DType::kQ4_0) {
      EXPECT_GE(cases_kept, 4);  // the 1-token prompt's margin is 0.014
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, QuantizationTest, ::testing::Values("tiny-a", "tiny-c"),
                         [](const auto& info) { return info.param == "tiny-a" ? "tiny_a" : "tiny_c"; });

}  // namespace
}  // namespace cpm

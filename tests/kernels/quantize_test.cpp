// Quantized formats: round-trip error bounds, and quantized matmuls against a reference that uses
// the dequantized weights and q8_0-quantized activations (exactly what the kernels compute).
#include "kernels/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/matmul_tiles.h"
#include "random_values.h"

namespace cpm {
namespace {

using test::normal_floats;

// q8_0 is symmetric: half a step. q4_0 spans -8..7 steps, so a value opposite the block's extreme can
// be one full step off.
TEST(QuantizeTest, RoundTripErrorIsWithinOneRoundingStep) {
  const std::vector<float> x = normal_floats(32 * 40, 1);
  std::vector<BlockQ8_0> q8(40);
  std::vector<BlockQ4_0> q4(40);
  quantize_row_q8_0(x.data(), x.size(), q8.data());
  quantize_row_q4_0(x.data(), x.size(), q4.data());
  std::vector<float> back8(x.size()), back4(x.size());
  dequantize_row_q8_0(q8.data(), x.size(), back8.data());
  dequantize_row_q4_0(q4.data(), x.size(), back4.data());
  for (int b = 0; b < 40; ++b) {
    const float step8 = f16_to_f32(q8[b].scale), step4 = std::fabs(f16_to_f32(q4[b].scale));
    for (int i = 0; i < 32; ++i) {
      const int k = b * 32 + i;
      EXPECT_LE(std::fabs(back8[k] - x[k]), 0.5f * step8 * 1.001f + 1e-6f);
      EXPECT_LE(std::fabs(back4[k] - x[k]), step4 * 1.001f + 1e-6f);
    }
  }
  std::vector<float> zeros(32, 0.0f), back(32, 1.0f);
  quantize_row_q4_0(zeros.data(), 32, q4.data());
  dequantize_row_q4_0(q4.data(), 32, back.data());
  for (float v : back) EXPECT_EQ(v, 0.0f);
}

class QuantMatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(QuantMatmulTest, MatchesDequantizedReferenceAndIsBatchIndependent) {
  const DType dtype = GetParam();
  const int64_t out = 37, in = 96;
  const std::vector<float> w = normal_floats(out * in, 2);
  std::vector<uint8_t> bytes(dtype_bytes(dtype, out * in));
  std::vector<float> dequantized(out * in);
  for (int64_t o = 0; o < out; ++o) {
    uint8_t* row = bytes.data() + o * dtype_bytes(dtype, in);
    if (dtype == DType::kQ8_0) {
      quantize_row_q8_0(w.data() + o * in, in, reinterpret_cast<BlockQ8_0*>(row));
      dequantize_row_q8_0(reinterpret_cast<BlockQ8_0*>(row), in, dequantized.data() + o * in);
    } else {
      quantize_row_q4_0(w.data() + o * in, in, reinterpret_cast<BlockQ4_0*>(row));
      dequantize_row_q4_0(reinterpret_cast<BlockQ4_0*>(row), in, dequantized.data() + o * in);
    }
  }
  const MatrixView view = make_matrix_view(dtype, out, in, bytes.data());
  const int64_t rows = 6;
  const std::vector<float> x = normal_floats(rows * in, 3);
  std::vector<float> y(rows * out), single(out);
  ThreadPool pool(2);
  matmul(pool, x.data(), rows, view, y.data());
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<BlockQ8_0> xq(in / 32);
    std::vector<float> x_back(in);
    quantize_row_q8_0(x.data() + r * in, in, xq.data());
    dequantize_row_q8_0(xq.data(), in, x_back.data());
    matmul(pool, x.data() + r * in, 1, view, single.data());
    for (int64_t o = 0; o < out; ++o) {
      double expected = 0;
      for (int64_t k = 0; k < in; ++k) expected += static_cast<double>(dequantized[o * in + k]) * x_back[k];
      EXPECT_NEAR(y[r * out + o], expected, 1e-3);
      EXPECT_EQ(y[r * out + o], single[o]) << "row " << r << " output " << o;  // bitwise, alone or batched
    }
  }
  // The portable path computes the same function, bit for bit.
  std::vector<kernels::ActivationBlock> xq(rows * in / 32);
  for (int64_t r = 0; r < rows; ++r)
    kernels::quantize_activations(x.data() + r * in, in, xq.data() + r * in / 32);
  std::vector<float> portable(rows * out);
  kernels::matmul_range_portable(x.data(), xq.data(), rows, in, view, 0, out, portable.data(), out);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(portable[i], y[i]) << i;
}

// Activation blocks hold exactly quantize_row_q8_0's values and scale, and the block sum (times 8)
// that the q4_0 kernels subtract.
TEST(QuantizeTest, ActivationBlocksMatchQ8_0) {
  const std::vector<float> x = normal_floats(64, 4);
  std::vector<BlockQ8_0> q8(2);
  std::vector<kernels::ActivationBlock> blocks(2);
  quantize_row_q8_0(x.data(), 64, q8.data());
  kernels::quantize_activations(x.data(), 64, blocks.data());
  for (int b = 0; b < 2; ++b) {
    EXPECT_EQ(blocks[b].scale, f16_to_f32(q8[b].scale));
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      EXPECT_EQ(blocks[b].values[i], q8[b].values[i]);
      sum += q8[b].values[i];
    }
    EXPECT_EQ(blocks[b].offset, 8 * sum);
  }
}

// The AVX2 activation quantizer gives the portable one's blocks bit for bit, on ordinary values and on
// blocks of zeros, exact ties (k + 0.5 steps), tiny, huge, infinite and NaN values.
TEST(QuantizeTest, Avx2ActivationBlocksMatchPortable) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
  std::vector<float> x = normal_floats(32 * 64, 9);
  for (int b = 0; b < 64; ++b) {
    float* block = x.data() + 32 * b;
    const float magnitude = std::ldexp(1.0f, b % 16 * 4 - 30);  // 2^-30 .. 2^30
    for (int i = 0; i < 32; ++i) block[i] *= magnitude;
  }
  std::fill(x.begin(), x.begin() + 32, 0.0f);
  for (int i = 0; i < 32; ++i) x[32 + i] = i == 0 ? 127.0f : static_cast<float>(i) - 16.5f;  // ties
  x[64 + 3] = std::numeric_limits<float>::infinity();
  x[96 + 7] = std::numeric_limits<float>::quiet_NaN();
  x[128 + 5] = -1e30f;
  x[160 + 9] = 1e-40f;  // subnormal
  std::vector<kernels::ActivationBlock> portable(64), avx2(64);
  kernels::quantize_activations_portable(x.data(), x.size(), portable.data());
  kernels::quantize_activations_avx2(x.data(), x.size(), avx2.data());
  for (int b = 0; b < 64; ++b) {
    EXPECT_EQ(std::memcmp(&portable[b].scale, &avx2[b].scale, sizeof(float)), 0) << "block " << b;
    for (int i = 0; i < 32; ++i) EXPECT_EQ(portable[b].values[i], avx2[b].values[i]) << b << " " << i;
    EXPECT_EQ(portable[b].offset, avx2[b].offset) << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, QuantMatmulTest, ::testing::Values(DType::kQ8_0, DType::kQ4_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace cpm

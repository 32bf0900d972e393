// matmul in SummationOrder::kFastest: float weights over kFastestMinRows (48) rows or more take the packed
// GEMM, whose outputs are each one fused multiply-add chain over the reduced dimension in order. So they must
// be bitwise that chain in scalar code, for row counts around the 6-row tiles and the 516-row passes, widths
// around the 8-wide packing and the 256-deep blocks, output counts that leave fewer than 16 outputs (those
// take the batch-invariant tiles), strided inputs and outputs, and any thread count. Everything else
// (quantized weights, fewer rows, no AVX2) is the batch-invariant order, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "random_values.h"

namespace cpm {
namespace {

using test::normal_floats;

struct Matrix {
  std::vector<uint8_t> bytes;
  std::vector<float> widened;  // the stored values as f32
  MatrixView view;
};

Matrix make_matrix(DType dtype, int64_t out, int64_t in, uint32_t seed) {
  Matrix m;
  const std::vector<float> w = normal_floats(out * in, seed);
  m.bytes.resize(dtype_bytes(dtype, out * in));
  m.widened.resize(out * in);
  for (int64_t i = 0; i < out * in; ++i) {
    if (dtype == DType::kF32) {
      reinterpret_cast<float*>(m.bytes.data())[i] = w[i];
      m.widened[i] = w[i];
    } else if (dtype == DType::kF16) {
      const uint16_t bits = f32_to_f16(w[i]);
      reinterpret_cast<uint16_t*>(m.bytes.data())[i] = bits;
      m.widened[i] = f16_to_f32(bits);
    } else if (dtype == DType::kBF16) {
      const uint16_t bits = f32_to_bf16(w[i]);
      reinterpret_cast<uint16_t*>(m.bytes.data())[i] = bits;
      m.widened[i] = bf16_to_f32(bits);
    }
  }
  if (dtype == DType::kQ8_0) {
    for (int64_t o = 0; o < out; ++o)
      quantize_row_q8_0(w.data() + o * in, in,
                        reinterpret_cast<BlockQ8_0*>(m.bytes.data() + o * dtype_bytes(dtype, in)));
  }
  m.view = make_matrix_view(dtype, out, in, m.bytes.data());
  return m;
}

// The documented order: acc = fma(x[k], w[k], acc) for k in order, from 0.
float fma_chain(const float* x, const float* w, int64_t n) {
  float acc = 0.0f;
  for (int64_t k = 0; k < n; ++k) acc = std::fma(x[k], w[k], acc);
  return acc;
}

struct Shape {
  int64_t rows, in, out;
};

// For each shape, matmul in `order` on 1, 2 and 3 threads, with strided x and y: every output must be
// expected(r, o), where expected = expectation(shape, w, x, x_stride, y_stride), and nothing past a
// row's outputs may be written.
template <typename Expectation>
void expect_outputs(DType dtype, std::initializer_list<Shape> shapes, SummationOrder order,
                    const Expectation& expectation) {
  for (const Shape shape : shapes) {
    const Matrix w = make_matrix(dtype, shape.out, shape.in, 7);
    const int64_t x_stride = shape.in + 5, y_stride = shape.out + 3;
    const std::vector<float> x = normal_floats(shape.rows * x_stride, 8);
    const auto expected = expectation(shape, w, x, x_stride, y_stride);
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> y(shape.rows * y_stride, -1.0f);
      matmul(pool, x.data(), shape.rows, x_stride, w.view, y.data(), y_stride, order);
      for (int64_t r = 0; r < shape.rows; ++r) {
        for (int64_t o = 0; o < shape.out; ++o) {
          ASSERT_EQ(y[r * y_stride + o], expected(r, o))
              << shape.rows << " rows, " << shape.in << " wide, " << shape.out << " outputs, " << threads
              << " threads, row " << r << " output " << o;
        }
        for (int64_t o = shape.out; o < y_stride; ++o)
          ASSERT_EQ(y[r * y_stride + o], -1.0f) << "wrote past the row's outputs";
      }
    }
  }
}

// The same product in one order on one thread.
std::vector<float> single_thread_product(const Shape& shape, const Matrix& w, const std::vector<float>& x,
                                         int64_t x_stride, int64_t y_stride, SummationOrder order) {
  std::vector<float> y(shape.rows * y_stride, -1.0f);
  ThreadPool single(1);
  matmul(single, x.data(), shape.rows, x_stride, w.view, y.data(), y_stride, order);
  return y;
}

class FastestMatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(FastestMatmulTest, PackedOutputsAreTheFmaChainTheRestBatchInvariant) {
  // 48-59 rows: whole tiles, then a partial last tile of 1, 2 or 5 rows; 523: two passes of 262;
  // widths with a tail under 8, exactly one block, a short last block, none (zeros); 45 outputs: 32
  // packed and 13 left over.
  expect_outputs(GetParam(),
                 {Shape{48, 64, 32}, Shape{49, 13, 45}, Shape{50, 256, 16}, Shape{59, 263, 112},
                  Shape{523, 40, 21}, Shape{64, 520, 200}, Shape{48, 0, 20}},
                 SummationOrder::kFastest,
                 [](const Shape& shape, const Matrix& w, const std::vector<float>& x, int64_t x_stride,
                    int64_t y_stride) {
                   const std::vector<float> invariant = single_thread_product(
                       shape, w, x, x_stride, y_stride, SummationOrder::kBatchInvariant);
                   // Without AVX2 (CPM_DISABLE_AVX2, the kernels_portable test) every output is
                   // batch-invariant.
                   const int64_t packed_outputs = cpu_has_avx2() ? shape.out / 16 * 16 : 0;
                   return [=, &w, &x](int64_t r, int64_t o) {
                     return o < packed_outputs ? fma_chain(x.data() + r * x_stride,
                                                           w.widened.data() + o * shape.in, shape.in)
                                               : invariant[r * y_stride + o];
                   };
                 });
}

// Both orders on the same product, which must give the same bits.
void expect_fastest_is_batch_invariant(const Matrix& w, int64_t rows, uint32_t seed) {
  const std::vector<float> x = normal_floats(rows * w.view.cols, seed);
  ThreadPool pool(2);
  std::vector<float> invariant(rows * w.view.rows), fastest(rows * w.view.rows);
  matmul(pool, x.data(), rows, w.view, invariant.data());
  matmul(pool, x.data(), rows, w.view, fastest.data(), SummationOrder::kFastest);
  EXPECT_EQ(fastest, invariant);
}

TEST_P(FastestMatmulTest, FewRowsAreTheBatchInvariantBits) {
  expect_fastest_is_batch_invariant(make_matrix(GetParam(), 40, 96, 3), kFastestMinRows - 1, 4);
}

TEST_P(FastestMatmulTest, SeveralOutputsOfOneInputMatchSeparateProducts) {
  const DType dtype = GetParam();
  const Matrix a = make_matrix(dtype, 50, 72, 5), b = make_matrix(dtype, 33, 72, 6);
  const int64_t rows = kFastestMinRows + 12;
  const std::vector<float> x = normal_floats(rows * 72, 9);
  ThreadPool pool(2);
  std::vector<float> ya(rows * 50), yb(rows * 33), together_a(rows * 50), together_b(rows * 33);
  matmul(pool, x.data(), rows, a.view, ya.data(), SummationOrder::kFastest);
  matmul(pool, x.data(), rows, b.view, yb.data(), SummationOrder::kFastest);
  matmul_same_input(pool, x.data(), rows, 72,
                    {{&a.view, together_a.data(), 50}, {&b.view, together_b.data(), 33}},
                    SummationOrder::kFastest);
  EXPECT_EQ(together_a, ya);
  EXPECT_EQ(together_b, yb);
}

// Quantized weights have one order only.
TEST(FastestMatmul, QuantizedWeightsKeepTheirOrder) {
  expect_fastest_is_batch_invariant(make_matrix(DType::kQ8_0, 48, 64, 1), kFastestMinRows + 12, 2);
}

// SummationOrder::kFastestBf16 on bf16 weights with AVX512_BF16: x rounded to bf16 (nearest even),
// then per pair of columns in order acc += x[2p + 1] * w[2p + 1], acc += x[2p] * w[2p], each product
// exact (vdpbf16ps's order; an odd last column pairs with zero). Without the instructions the order is
// kFastest's, bit for bit.
float bf16_pair_chain(const float* x, const float* w, int64_t n) {
  float acc = 0.0f;
  for (int64_t k = 0; k < n; k += 2) {
    if (k + 1 < n) acc = std::fma(bf16_to_f32(f32_to_bf16(x[k + 1])), w[k + 1], acc);
    acc = std::fma(bf16_to_f32(f32_to_bf16(x[k])), w[k], acc);
  }
  return acc;
}

TEST(FastestBf16Matmul, PackedOutputsArePairChainsOfRoundedActivations) {
  // As above, with every output packed (13 left over run as a zero-padded tile of 16); widths odd,
  // under 16, a short last block.
  expect_outputs(DType::kBF16,
                 {Shape{48, 64, 32}, Shape{49, 13, 45}, Shape{50, 256, 16}, Shape{59, 263, 112},
                  Shape{523, 40, 21}, Shape{64, 521, 200}, Shape{48, 0, 20}},
                 SummationOrder::kFastestBf16,
                 [](const Shape& shape, const Matrix& w, const std::vector<float>& x, int64_t x_stride,
                    int64_t y_stride) {
                   const std::vector<float> fastest =
                       single_thread_product(shape, w, x, x_stride, y_stride, SummationOrder::kFastest);
                   const bool bf16_products = cpu_has_avx512_bf16() && shape.in > 0;
                   return [=, &w, &x](int64_t r, int64_t o) {
                     return bf16_products ? bf16_pair_chain(x.data() + r * x_stride,
                                                            w.widened.data() + o * shape.in, shape.in)
                                          : fastest[r * y_stride + o];
                   };
                 });
}

// Other weights, and several outputs of one input not all bf16, keep kFastest's bits.
TEST(FastestBf16Matmul, OtherWeightsKeepTheFastestOrder) {
  const int64_t rows = kFastestMinRows + 12;
  const std::vector<float> x = normal_floats(rows * 72, 9);
  ThreadPool pool(2);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kQ8_0}) {
    const Matrix w = make_matrix(dtype, 40, 64, 3);
    std::vector<float> fastest(rows * 40), bf16(rows * 40);
    matmul(pool, x.data(), rows, 72, w.view, fastest.data(), 40, SummationOrder::kFastest);
    matmul(pool, x.data(), rows, 72, w.view, bf16.data(), 40, SummationOrder::kFastestBf16);
    EXPECT_EQ(bf16, fastest) << dtype_name(dtype);
  }
  const Matrix a = make_matrix(DType::kBF16, 50, 64, 5), b = make_matrix(DType::kF32, 33, 64, 6);
  std::vector<float> ya(rows * 50), yb(rows * 33), together_a(rows * 50), together_b(rows * 33);
  matmul_same_input(pool, x.data(), rows, 72, {{&a.view, ya.data(), 50}, {&b.view, yb.data(), 33}},
                    SummationOrder::kFastest);
  matmul_same_input(pool, x.data(), rows, 72,
                    {{&a.view, together_a.data(), 50}, {&b.view, together_b.data(), 33}},
                    SummationOrder::kFastestBf16);
  EXPECT_EQ(together_a, ya);
  EXPECT_EQ(together_b, yb);
}

INSTANTIATE_TEST_SUITE_P(FloatFormats, FastestMatmulTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(dtype_name(info.param));
                         });

}  // namespace
}  // namespace cpm

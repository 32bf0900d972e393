// Every kernel against a plain double-precision reference, for every weight type and for both the
// AVX2 and the portable code paths.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "kernels/attention_kernels.h"
#include "kernels/cpu_features.h"
#include "kernels/dot_kernels.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "kernels/row_groups.h"
#include "kernels/vector_ops.h"
#include "kernels/vector_ops_internal.h"

namespace cpm {
namespace {

std::vector<float> random_floats(size_t count, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<float> values(count);
  for (float& value : values) value = uniform(random);
  return values;
}

// A weight matrix stored in `dtype`, plus its exact f32 values.
struct TestMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
  MatrixView view;
};

TestMatrix make_matrix(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
  TestMatrix m;
  m.values = random_floats(rows * cols, seed);
  m.bytes.resize(dtype_bytes(dtype, rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(m.bytes.data() + 4 * i, &m.values[i], 4);
    } else {
      const uint16_t half = dtype == DType::kBF16 ? f32_to_bf16(m.values[i]) : f32_to_f16(m.values[i]);
      m.values[i] = dtype == DType::kBF16 ? bf16_to_f32(half) : f16_to_f32(half);
      std::memcpy(m.bytes.data() + 2 * i, &half, 2);
    }
  }
  m.view = make_matrix_view(dtype, rows, cols, m.bytes.data());
  return m;
}

class MatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTest, MatchesReferenceForOddShapesAndZeroRows) {
  ThreadPool pool(2);
  for (auto [rows, out, in] : {std::tuple{0, 5, 8}, {1, 37, 67}, {3, 64, 256}, {5, 33, 40}}) {
    const TestMatrix w = make_matrix(GetParam(), out, in, 1);
    const std::vector<float> x = random_floats(std::max(rows, 1) * in, 2);
    std::vector<float> y(std::max(rows, 1) * out, -7.0f);
    matmul(pool, x.data(), rows, w.view, y.data());
    for (int r = 0; r < rows; ++r) {
      for (int o = 0; o < out; ++o) {
        double expected = 0;
        for (int k = 0; k < in; ++k) expected += static_cast<double>(x[r * in + k]) * w.values[o * in + k];
        EXPECT_NEAR(y[r * out + o], expected, 1e-4 * std::sqrt(in));
      }
    }
    if (rows == 0) {
      EXPECT_EQ(y[0], -7.0f);  // zero rows: nothing written
    }
  }
}

TEST_P(MatmulTest, RowResultsDoNotDependOnBatchOrThreads) {
  // 7 and 21 rows: decode tiles of 4 rows and single ones; 49 outputs: tiles of 2 and 1. A width of
  // 104 (a multiple of 8) also takes the AVX-512 tiles of 8 outputs where the CPU has them.
  ThreadPool one(1), two(2);
  for (int64_t in : {100, 104}) {
    const TestMatrix w = make_matrix(GetParam(), 49, in, 3);
    for (int rows : {7, 21}) {
      const std::vector<float> x = random_floats(rows * in, 4);
      std::vector<float> batched(rows * 49), single(49);
      matmul(two, x.data(), rows, w.view, batched.data());
      for (int r = 0; r < rows; ++r) {
        matmul(one, x.data() + r * in, 1, w.view, single.data());
        for (int o = 0; o < 49; ++o)
          ASSERT_EQ(single[o], batched[r * 49 + o]) << in << " wide, " << rows << " rows, row " << r;
      }
    }
  }
}

// Prefill over float weights runs in panels of the reduced dimension (512 wide) and row blocks of
// 128: widths and row counts across those edges, with and without a tail past the last multiple of 8
// (without one, eight outputs' lane sums are taken at once), still give each row bit for bit what it
// gets alone.
TEST_P(MatmulTest, PrefillPanelsEqualSingleRows) {
  ThreadPool two(2), one(1);
  const int64_t rows = 134, out = 29;
  for (int64_t in : {2 * 1024 + 13, 1024 + 8}) {
    const TestMatrix w = make_matrix(GetParam(), out, in, 7);
    const std::vector<float> x = random_floats(rows * in, 8);
    std::vector<float> batched(rows * out), single(out);
    matmul(two, x.data(), rows, w.view, batched.data());
    for (int64_t r = 0; r < rows; ++r) {
      matmul(one, x.data() + r * in, 1, w.view, single.data());
      for (int64_t o = 0; o < out; ++o)
        ASSERT_EQ(single[o], batched[r * out + o]) << "in " << in << " row " << r << " output " << o;
    }
  }
}

TEST_P(MatmulTest, AvxAndPortableRowKernelsAgree) {
  const TestMatrix w = make_matrix(GetParam(), 1, 77, 5);
  const std::vector<float> x = random_floats(77, 6);
  const int index = kernels::dtype_index(GetParam());
  const float portable = kernels::portable_row_kernels().dot[index](w.view.data, x.data(), 77);
  const float avx2 = kernels::avx2_row_kernels().dot[index](w.view.data, x.data(), 77);
  EXPECT_NEAR(portable, avx2, 1e-5);
  std::vector<float> a(77, 1.0f), b(77, 1.0f);
  kernels::portable_row_kernels().axpy[index](w.view.data, 0.5f, a.data(), 77);
  kernels::avx2_row_kernels().axpy[index](w.view.data, 0.5f, b.data(), 77);
  for (int i = 0; i < 77; ++i) EXPECT_NEAR(a[i], b[i], 1e-6);
}

// combine and dots over several inputs give, bit for bit, the single-row loops they replace, in both
// tables, for widths that take the tiled AVX2 paths (multiples of 8 and of 32) and widths that don't.
TEST_P(MatmulTest, ManyRowKernelsEqualTheirSingleRowLoops) {
  const int index = kernels::dtype_index(GetParam());
  for (const kernels::RowKernels* table : {&kernels::portable_row_kernels(), &kernels::avx2_row_kernels()}) {
    for (int64_t n : {8, 24, 64, 77, 88, 256}) {
      for (int64_t tokens : {1, 2, 3, 5, 9}) {
        const int64_t k = 7, stride = dtype_bytes(GetParam(), n + 3);  // rows padded: a stride of their own
        const TestMatrix w = make_matrix(GetParam(), k, n + 3, 7);
        const std::vector<float> x = random_floats(tokens * n, 8);
        std::vector<float> expected(tokens * n), got(tokens * n, -1.0f);
        std::vector<const float*> inputs(tokens), small_inputs(tokens);
        std::vector<float*> outputs(tokens);
        std::vector<float> small_expected(tokens * k), small_got(tokens * k, -1.0f);
        std::vector<float*> small_outputs(tokens);
        for (int64_t t = 0; t < tokens; ++t) {
          small_inputs[t] = x.data() + t * n;  // k = 7 mixing factors from each input's start
          outputs[t] = got.data() + t * n;
          for (int64_t i = 0; i < k; ++i)
            table->axpy[index](w.view.data + i * stride, x[t * n + i], expected.data() + t * n, n);
          inputs[t] = x.data() + t * n;
          small_outputs[t] = small_got.data() + t * k;
          for (int64_t o = 0; o < k; ++o)
            small_expected[t * k + o] = table->dot[index](w.view.data + o * stride, x.data() + t * n, n);
        }
        // The rows asked for ahead (here the same rows again) change nothing.
        for (const uint8_t* next : {static_cast<const uint8_t*>(nullptr), w.view.data}) {
          table->combine[index](w.view.data, stride, k, small_inputs.data(), outputs.data(), tokens, n, next);
          table->dots[index](w.view.data, stride, k, inputs.data(), small_outputs.data(), tokens, n, next);
          for (int64_t i = 0; i < tokens * n; ++i) ASSERT_EQ(expected[i], got[i]) << "n " << n << " at " << i;
          for (int64_t i = 0; i < tokens * k; ++i)
            ASSERT_EQ(small_expected[i], small_got[i]) << "n " << n << " at " << i;
          std::fill(got.begin(), got.end(), -1.0f);
          std::fill(small_got.begin(), small_got.end(), -1.0f);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WeightTypes, MatmulTest, ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(VectorOpsTest, RmsNormSiluSoftmax) {
  const std::vector<float> x = random_floats(37, 7), w = random_floats(37, 8);
  std::vector<float> out(37);
  rms_norm(x.data(), w.data(), 1e-5f, 37, out.data());
  double squares = 0;
  for (float v : x) squares += static_cast<double>(v) * v;
  const double inverse = 1.0 / std::sqrt(squares / 37 + 1e-5);
  for (int i = 0; i < 37; ++i) EXPECT_NEAR(out[i], x[i] * inverse * w[i], 1e-6);

  std::vector<float> gate = x;
  silu_mul(gate.data(), w.data(), 37);
  for (int i = 0; i < 37; ++i) EXPECT_NEAR(gate[i], x[i] / (1 + std::exp(-x[i])) * w[i], 1e-6);

  std::vector<float> scores = {1000.0f, 999.0f, -5.0f};
  softmax(scores.data(), 3);
  EXPECT_NEAR(scores[0], 1 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(scores[0] + scores[1] + scores[2], 1.0, 1e-6);
  softmax(nullptr, 0);  // zero-length input is a no-op
}

// A matrix of random weights quantized row by row (q8_0 or q4_0).
TestMatrix make_quantized_matrix(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
  TestMatrix m;
  m.values = random_floats(rows * cols, seed);
  const int64_t row_bytes = dtype_bytes(dtype, cols);
  m.bytes.resize(rows * row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    if (dtype == DType::kQ8_0) {
      quantize_row_q8_0(&m.values[r * cols], cols, reinterpret_cast<BlockQ8_0*>(&m.bytes[r * row_bytes]));
    } else {
      quantize_row_q4_0(&m.values[r * cols], cols, reinterpret_cast<BlockQ4_0*>(&m.bytes[r * row_bytes]));
    }
  }
  m.view = make_matrix_view(dtype, rows, cols, m.bytes.data());
  return m;
}

// Products sharing one input in one parallel region equal separate matmul calls, bit for bit: float
// pairs, quantized pairs (one quantization of x) and a mixed pair (computed separately).
TEST(MatmulSameInputTest, EqualsSeparateProducts) {
  const int64_t in = 64;
  const std::vector<std::pair<TestMatrix, TestMatrix>> pairs = [&] {
    std::vector<std::pair<TestMatrix, TestMatrix>> list;
    list.emplace_back(make_matrix(DType::kF32, 37, in, 1), make_matrix(DType::kBF16, 50, in, 2));
    list.emplace_back(make_quantized_matrix(DType::kQ8_0, 37, in, 3),
                      make_quantized_matrix(DType::kQ8_0, 70, in, 4));
    list.emplace_back(make_quantized_matrix(DType::kQ4_0, 48, in, 5),
                      make_quantized_matrix(DType::kQ4_0, 19, in, 6));
    list.emplace_back(make_matrix(DType::kF32, 21, in, 7), make_quantized_matrix(DType::kQ4_0, 33, in, 8));
    return list;
  }();
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t rows : {1, 5, 20}) {
      const std::vector<float> x = random_floats(rows * (in + 1), 9);
      for (const auto& [a, b] : pairs) {
        std::vector<float> ya(rows * a.view.rows), yb(rows * b.view.rows), want_a(ya.size()),
            want_b(yb.size());
        matmul(pool, x.data(), rows, in + 1, a.view, want_a.data(), a.view.rows);
        matmul(pool, x.data(), rows, in + 1, b.view, want_b.data(), b.view.rows);
        matmul_same_input(pool, x.data(), rows, in + 1,
                          {{&a.view, ya.data(), a.view.rows}, {&b.view, yb.data(), b.view.rows}});
        ASSERT_EQ(ya, want_a) << dtype_name(a.view.dtype) << ", " << threads << " threads, " << rows
                              << " rows";
        ASSERT_EQ(yb, want_b) << dtype_name(b.view.dtype) << ", " << threads << " threads, " << rows
                              << " rows";
      }
    }
  }
}

// Naming the next product's weights changes no bits, and each thread's share of them starts at its
// equal part of their bytes in order, within the matrix it starts in.
TEST(NextWeightsTest, SharesAndResults) {
  const TestMatrix first = make_quantized_matrix(DType::kQ4_0, 64, 64, 1);
  const TestMatrix second = make_quantized_matrix(DType::kQ4_0, 192, 64, 2);
  const int64_t first_bytes = first.view.num_bytes(), second_bytes = second.view.num_bytes();
  const int64_t total = first_bytes + second_bytes;
  const PrefetchRange start = prefetch_share({&first.view, &second.view}, 2, 0);
  EXPECT_EQ(start.begin, first.view.data);
  EXPECT_EQ(start.bytes, first_bytes);  // to the end of the first matrix
  const PrefetchRange middle = prefetch_share({&first.view, &second.view}, 2, 1);
  EXPECT_EQ(middle.begin, second.view.data + (total / 2 - first_bytes) / 64 * 64);
  EXPECT_EQ(middle.begin + middle.bytes, second.view.data + second_bytes);
  EXPECT_EQ(prefetch_share({}, 2, 0).bytes, 0);
  const TestMatrix wide = make_matrix(DType::kF32, 8, 64, 3);
  EXPECT_EQ(prefetch_share({&wide.view}, 1, 0).bytes, wide.view.num_bytes());
  // Columns of a wider matrix are not one run of bytes: nothing to ask for.
  const MatrixView columns = wide.view.column_slice(0, 32);
  EXPECT_EQ(prefetch_share({&columns}, 2, 0).bytes, 0);

  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t rows : {1, 4}) {
      const std::vector<float> x = random_floats(rows * 64, 4);
      std::vector<float> want(rows * 192), got(rows * 192);
      matmul(pool, x.data(), rows, second.view, want.data());
      matmul(pool, x.data(), rows, second.view, got.data(), SummationOrder::kBatchInvariant,
             {&first.view, &wide.view});
      ASSERT_EQ(got, want) << threads << " threads, " << rows << " rows";
    }
  }
}

// A run of rows on the calling thread gives matmul's outputs for those rows bit for bit, in every
// weight type and in both layouts (grouped matrices from any group start, the last group partial).
TEST(MatvecRowsTest, EqualsMatmulRows) {
  ThreadPool pool(2);
  const int64_t out = 44, in = 96;
  std::vector<TestMatrix> matrices;
  matrices.push_back(make_matrix(DType::kF32, out, in, 11));
  matrices.push_back(make_matrix(DType::kBF16, out, in, 12));
  matrices.push_back(make_quantized_matrix(DType::kQ8_0, out, in, 13));
  matrices.push_back(make_quantized_matrix(DType::kQ4_0, out, in, 14));
  std::vector<LargeBuffer> storage(2);
  std::vector<MatrixView> views;
  for (const TestMatrix& m : matrices) views.push_back(m.view);
  if (matmul_prefers_row_groups(views[2])) {
    views.push_back(group_rows(views[2], &storage[0], pool));
    views.push_back(group_rows(views[3], &storage[1], pool));
  }
  const std::vector<float> x = random_floats(in, 15);
  for (const MatrixView& w : views) {
    std::vector<float> want(out);
    matmul(pool, x.data(), 1, w, want.data());
    for (auto [first, count] : {std::pair{0, 8}, {8, 24}, {16, 28}, {40, 4}}) {
      std::vector<float> y(count, -7.0f);
      matvec_rows(w, first, count, x.data(), y.data());
      EXPECT_EQ(y, std::vector<float>(want.begin() + first, want.begin() + first + count))
          << dtype_name(w.dtype) << (w.layout == MatrixLayout::kRowGroupsOf8 ? " grouped" : "") << ", rows "
          << first << ".." << first + count;
    }
  }
  EXPECT_THROW(matvec_rows(views[0], 40, 8, x.data(), std::vector<float>(8).data()), Error);
  if (views.size() > 4) {  // a run must start a group of rows
    EXPECT_THROW(matvec_rows(views[4], 4, 8, x.data(), std::vector<float>(8).data()), Error);
  }
}

// The AVX2 builds against double-precision references, over lengths with and without a tail and
// inputs from -100 to 100 (exp's clamped ends included): relative error within a few float ulps.
TEST(VectorOpsTest, Avx2BuildsMatchDoublePrecision) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
  for (int64_t n : {1, 7, 8, 9, 33, 100, 2560}) {
    std::vector<float> x = random_floats(n, 20), w = random_floats(n, 21);
    for (int64_t i = 0; i < n; ++i) x[i] *= i % 3 == 0 ? 100.0f : 8.0f;
    std::vector<float> gate = x, out(n);
    kernels::silu_mul_avx2(gate.data(), w.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double want = x[i] / (1 + std::exp(-static_cast<double>(x[i]))) * w[i];
      ASSERT_NEAR(gate[i], want, 1e-6 * std::fabs(want) + 1e-30) << "silu, n " << n << " at " << i;
    }
    std::vector<float> scores = x;
    kernels::softmax_avx2(scores.data(), n);
    double largest = x[0], total = 0;
    for (float v : x) largest = std::max<double>(largest, v);
    for (float v : x) total += std::exp(v - largest);
    for (int64_t i = 0; i < n; ++i) {
      // The float difference x - max carries a rounding error of up to |x - max| * 2^-24 into exp.
      const double want = std::exp(x[i] - largest) / total, spread = std::fabs(x[i] - largest);
      ASSERT_NEAR(scores[i], want, (1e-6 + 1.2e-7 * spread) * want + 1e-37)
          << "softmax, n " << n << " at " << i;
    }
    kernels::rms_norm_avx2(x.data(), w.data(), 1e-5f, n, out.data());
    double squares = 0;
    for (float v : x) squares += static_cast<double>(v) * v;
    const double inverse = 1.0 / std::sqrt(squares / static_cast<double>(n) + 1e-5);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(out[i], x[i] * inverse * w[i], 1e-6 * std::fabs(x[i] * inverse * w[i]) + 1e-30)
          << "rms, n " << n;
  }
}

// The AVX-512 softmax gives softmax_avx2's bits at every length around its 16-score steps.
TEST(VectorOpsTest, Avx512SoftmaxMatchesAvx2Bits) {
  if (!cpu_has_avx512()) GTEST_SKIP() << "no AVX-512";
  for (int64_t n = 1; n <= 80; ++n) {
    for (int64_t length : {n, n + 4096}) {
      std::vector<float> x = random_floats(length, 22);
      // Scores of one order of magnitude, so that every term counts in the sum and its order shows.
      for (int64_t i = 0; i < length; ++i) x[i] *= i % 5 == 0 ? 3.0f : 1.0f;
      std::vector<float> narrow = x, wide = x;
      kernels::softmax_avx2(narrow.data(), length);
      kernels::softmax_avx512(wide.data(), length);
      for (int64_t i = 0; i < length; ++i) ASSERT_EQ(wide[i], narrow[i]) << "n " << length << " at " << i;
    }
  }
}

class AttentionKernelTest : public ::testing::TestWithParam<DType> {};

TEST_P(AttentionKernelTest, ScoresAndWeightedSumsMatchReference) {
  const DType dtype = GetParam();
  for (auto [heads, width, count, sum_width] :
       {std::tuple{40, 288, 70, 256}, {3, 24, 5, 16}, {9, 40, 130, 36}, {11, 96, 37, 80}}) {
    const TestMatrix cache = make_matrix(dtype, count, width, 9);
    std::vector<const uint8_t*> rows(count);
    for (int s = 0; s < count; ++s) rows[s] = cache.view.row(s);
    const CachedRows cached{rows.data(), count, dtype};
    const std::vector<float> queries = random_floats(heads * width, 10);
    std::vector<float> scores(heads * count), out(heads * sum_width);
    attention_scores(queries.data(), heads, width, cached, 0.5f, scores.data());
    attention_weighted_sum(scores.data(), heads, cached, sum_width, out.data());
    for (int h = 0; h < heads; ++h) {
      for (int s = 0; s < count; ++s) {
        double expected = 0;
        for (int i = 0; i < width; ++i)
          expected += static_cast<double>(queries[h * width + i]) * cache.values[s * width + i];
        ASSERT_NEAR(scores[h * count + s], 0.5 * expected, 1e-4);
      }
      for (int i = 0; i < sum_width; ++i) {
        double expected = 0;
        for (int s = 0; s < count; ++s)
          expected += static_cast<double>(scores[h * count + s]) * cache.values[s * width + i];
        ASSERT_NEAR(out[h * sum_width + i], expected, 1e-3);
      }
    }
    // The portable fallback computes the same function.
    std::vector<float> portable_scores(heads * count), portable_out(heads * sum_width);
    kernels::attention_scores_portable(queries.data(), heads, width, cached, 0.5f, portable_scores.data());
    kernels::attention_weighted_sum_portable(scores.data(), heads, cached, sum_width, portable_out.data());
    for (size_t i = 0; i < scores.size(); ++i) ASSERT_NEAR(scores[i], portable_scores[i], 1e-4);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], portable_out[i], 1e-3);
    // The AVX-512 kernels give the AVX2 kernels' bits (scores for widths that are multiples of 8).
    if (cpu_has_avx512()) {
      std::vector<float> narrow_scores(heads * count), wide_scores(heads * count);
      kernels::attention_scores_avx2(queries.data(), heads, width, cached, 0.5f, narrow_scores.data());
      kernels::attention_scores_avx512(queries.data(), heads, width, cached, 0.5f, wide_scores.data());
      for (size_t i = 0; i < scores.size(); ++i) ASSERT_EQ(wide_scores[i], narrow_scores[i]) << "score " << i;
      std::vector<float> narrow_out(heads * sum_width), wide_out(heads * sum_width);
      kernels::attention_weighted_sum_avx2(scores.data(), heads, cached, sum_width, narrow_out.data());
      kernels::attention_weighted_sum_avx512(scores.data(), heads, cached, sum_width, wide_out.data());
      for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(wide_out[i], narrow_out[i]) << "output " << i;
    }
    // Decode splits the rows between threads: a row's scores have the same bits in any part.
    const int first = count / 3;
    const CachedRows part{rows.data() + first, count - first, dtype};
    std::vector<float> part_scores(heads * part.count);
    attention_scores(queries.data(), heads, width, part, 0.5f, part_scores.data());
    for (int h = 0; h < heads; ++h)
      for (int s = first; s < count; ++s)
        ASSERT_EQ(part_scores[h * part.count + s - first], scores[h * count + s])
            << "head " << h << " row " << s;
    // And it splits the heads: any run of heads gets the same bits as among all of them.
    if (heads > 2) {
      std::vector<float> run_scores((heads - 2) * count);
      attention_scores(queries.data() + width, heads - 2, width, cached, 0.5f, run_scores.data());
      for (int h = 1; h < heads - 1; ++h)
        for (int s = 0; s < count; ++s)
          ASSERT_EQ(run_scores[(h - 1) * count + s], scores[h * count + s]) << "head " << h << " row " << s;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(CacheTypes, AttentionKernelTest, ::testing::Values(DType::kF32, DType::kBF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// What benchmarks record as the kernels' instruction set follows the run-time detection.
TEST(CpuFeaturesTest, InstructionSetNamesTheDetectedKernels) {
  const std::string name = kernel_instruction_set();
  if (!cpu_has_avx2()) {
    EXPECT_EQ(name, "portable");
  } else {
    std::string want = cpu_has_avx_vnni() ? "avx2+avx-vnni" : "avx2";
    if (cpu_has_avx512()) want += "+avx512f";
    if (cpu_has_avx512_vnni()) want += "+avx512-vnni";
    if (cpu_has_avx512_bf16()) want += "+avx512-bf16";
    EXPECT_EQ(name, want);
  }
  EXPECT_FALSE(cpu_model_name().empty());
}

}  // namespace
}  // namespace cpm

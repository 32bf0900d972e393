// The many-row quantized matmul (packed weight panels): the same bits as the plain reference and as
// each row run alone, for row counts on both sides of every tile and panel boundary, output counts
// that leave short panels, strided inputs and outputs, and several thread counts. And weights grouped
// by eight rows (kernels/row_groups.h): the same bits as row-major weights in every kernel.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/matmul_tiles.h"
#include "kernels/quantize.h"
#include "kernels/row_groups.h"
#include "random_values.h"

namespace cpm {
namespace {

using test::normal_floats;

struct QuantizedMatrix {
  std::vector<uint8_t> bytes;
  MatrixView view;
};

// out × in weights w, row by row in `dtype`.
QuantizedMatrix quantized_matrix(DType dtype, const std::vector<float>& w, int64_t out, int64_t in) {
  QuantizedMatrix m;
  m.bytes.resize(dtype_bytes(dtype, out * in));
  for (int64_t o = 0; o < out; ++o) {
    uint8_t* row = m.bytes.data() + o * dtype_bytes(dtype, in);
    if (dtype == DType::kQ8_0) {
      quantize_row_q8_0(w.data() + o * in, in, reinterpret_cast<BlockQ8_0*>(row));
    } else {
      quantize_row_q4_0(w.data() + o * in, in, reinterpret_cast<BlockQ4_0*>(row));
    }
  }
  m.view = make_matrix_view(dtype, out, in, m.bytes.data());
  return m;
}

// y of the portable reference (scalar code, the documented summation order), all rows at once.
std::vector<float> reference(const std::vector<float>& x, int64_t rows, int64_t x_stride,
                             const MatrixView& w) {
  const int64_t blocks = w.cols / 32;
  std::vector<kernels::ActivationBlock> xq(rows * blocks);
  for (int64_t r = 0; r < rows; ++r)
    kernels::quantize_activations(x.data() + r * x_stride, w.cols, xq.data() + r * blocks);
  std::vector<float> y(rows * w.rows);
  kernels::matmul_range_portable(x.data(), xq.data(), rows, x_stride, w, 0, w.rows, y.data(), w.rows);
  return y;
}

class PanelMatmulTest : public ::testing::TestWithParam<DType> {};

// A narrow matrix and a wider one (83 blocks, longer than any tile loop unrolls).
void check_many_rows(DType dtype, int64_t in) {
  const int64_t out = 45, x_stride = in + 3, y_stride = out + 2;
  const QuantizedMatrix w = quantized_matrix(dtype, normal_floats(out * in, 11), out, in);
  const int64_t max_rows = 130;
  const std::vector<float> x = normal_floats(max_rows * x_stride, 12);
  const std::vector<float> expected = reference(x, max_rows, x_stride, w.view);
  std::vector<float> alone(max_rows * out);  // each row in a call of its own (decode)
  ThreadPool single(1);
  for (int64_t r = 0; r < max_rows; ++r) matmul(single, x.data() + r * x_stride, 1, w.view, &alone[r * out]);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t rows : {0, 1, 3, 7, 8, 9, 17, 64, 130}) {
      std::vector<float> y(rows * y_stride + 1, -1.0f);
      matmul(pool, x.data(), rows, x_stride, w.view, y.data(), y_stride);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          const float got = y[r * y_stride + o];
          ASSERT_EQ(got, alone[r * out + o])
              << in << " wide, " << threads << " threads, " << rows << " rows, row " << r << " output " << o;
          ASSERT_EQ(got, expected[r * out + o])
              << in << " wide, " << threads << " threads, " << rows << " rows";
        }
        for (int64_t o = out; o < y_stride && r * y_stride + o < static_cast<int64_t>(y.size()); ++o)
          ASSERT_EQ(y[r * y_stride + o], -1.0f) << "wrote past the row's outputs";
      }
    }
  }
}

TEST_P(PanelMatmulTest, ManyRowsAreBitwiseEachRowAloneAndTheReference) {
  for (int64_t in : {160, 2656}) {
    check_many_rows(GetParam(), in);
    if (HasFatalFailure()) return;
  }
}

using PanelKernel = void (*)(const kernels::ActivationBlock*, int64_t, const MatrixView&, int64_t, int64_t,
                             float*, int64_t);

// Every build of the panel kernel this CPU can run: AVX2 byte products, AVX-VNNI's vpdpbusd, and
// AVX-512's.
std::vector<std::pair<const char*, PanelKernel>> panel_kernels() {
  std::vector<std::pair<const char*, PanelKernel>> kernels;
  if (cpu_has_avx2()) kernels.emplace_back("avx2", kernels::quant_panels_avx2);
  if (cpu_has_avx_vnni()) kernels.emplace_back("avxvnni", kernels::quant_panels_avxvnni);
  if (cpu_has_avx512_vnni()) kernels.emplace_back("avx512", kernels::quant_panels_avx512);
  return kernels;
}

// rows × in activations and out × in weights through every panel kernel, over output ranges that
// start and end inside a panel (as a thread's share can): the reference's bits inside, nothing outside.
void check_panel_kernels(DType dtype, const std::vector<float>& x, const std::vector<float>& w_values,
                         int64_t rows, int64_t out, int64_t in) {
  const QuantizedMatrix w = quantized_matrix(dtype, w_values, out, in);
  const std::vector<float> expected = reference(x, rows, in, w.view);
  std::vector<kernels::ActivationBlock> xq(rows * in / 32);
  for (int64_t r = 0; r < rows; ++r)
    kernels::quantize_activations(x.data() + r * in, in, xq.data() + r * in / 32);
  ThreadPool pool(1);
  LargeBuffer group_storage;
  const MatrixView grouped = group_rows(w.view, &group_storage, pool);
  for (const auto& [name, kernel] : panel_kernels()) {
    for (int64_t begin : {0, 3, 8}) {
      for (int64_t end : {begin + 1, begin + 5, out}) {
        std::vector<float> y(rows * out, -1.0f);
        kernel(xq.data(), rows, w.view, begin, end, y.data(), out);
        if (begin % kRowsPerGroup == 0) {  // grouped: ranges start on a group, as matmul's tasks do
          std::vector<float> y_grouped(rows * out, -1.0f);
          kernel(xq.data(), rows, grouped, begin, end, y_grouped.data(), out);
          ASSERT_EQ(y_grouped, y) << name << " on grouped rows, range [" << begin << ", " << end << ")";
        }
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t o = 0; o < out; ++o) {
            const float want = o >= begin && o < end ? expected[r * out + o] : -1.0f;
            ASSERT_EQ(y[r * out + o], want)
                << name << ", range [" << begin << ", " << end << "), row " << r << " output " << o;
          }
        }
      }
    }
  }
}

TEST_P(PanelMatmulTest, OutputRangesInsidePanelsMatchTheReference) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
  const int64_t out = 29, in = 64, rows = 21;
  check_panel_kernels(GetParam(), normal_floats(rows * in, 14), normal_floats(out * in, 13), rows, out, in);
}

// Every weight and activation at the end of its range (±127 for q8_0 and activations, 0 and 15 as q4_0
// nibbles), signs mixed, then alike: the largest integer sums each kernel must carry exactly.
TEST_P(PanelMatmulTest, ExtremeValuesMatchTheReference) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
  const int64_t out = 16, in = 96, rows = 9;
  std::vector<float> x(rows * in), w(out * in);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i / 5) % 2 ? 1.0f : -1.0f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = (i / 3) % 3 == 0 ? 1.0f : -1.0f;
  check_panel_kernels(GetParam(), x, w, rows, out, in);
  for (float& value : x) value = 1.0f;
  for (float& value : w) value = -1.0f;
  check_panel_kernels(GetParam(), x, w, rows, out, in);
  // One +1 leading each block of -1s: q4_0 stores the -1s as nibble 15, so with every activation at
  // 127 a whole block's int16 lane sums reach 16 * 15 * 127 = 30,480 (just under 32,768).
  for (size_t i = 0; i < w.size(); ++i) w[i] = i % 32 == 0 ? 1.0f : -1.0f;
  check_panel_kernels(GetParam(), x, w, rows, out, in);
  // The decode tiles too (row-major and grouped, below the panels' row counts).
  const QuantizedMatrix matrix = quantized_matrix(GetParam(), w, out, in);
  LargeBuffer group_storage;
  ThreadPool pool(1);
  const MatrixView grouped = group_rows(matrix.view, &group_storage, pool);
  for (int64_t few : {1, 2, 4, 5}) {
    const std::vector<float> expected = reference(x, few, in, matrix.view);
    for (const MatrixView* view : {&matrix.view, &grouped}) {
      std::vector<float> y(few * out);
      matmul(pool, x.data(), few, *view, y.data());
      EXPECT_EQ(y, expected) << few << " rows, " << (view == &grouped ? "grouped" : "row-major");
    }
  }
}

// Every row count (decode's group tiles below 8 rows, panels from 8) and thread split, strided:
// matmul on grouped weights gives row-major matmul's bits, and grouping keeps every block.
TEST_P(PanelMatmulTest, RowsGroupedByEightGiveTheSameBits) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
  for (int64_t in : {160, 2656}) {
    for (int64_t out : {8, 45}) {
      const QuantizedMatrix w = quantized_matrix(GetParam(), normal_floats(out * in, 21), out, in);
      ThreadPool grouping(2);
      LargeBuffer storage;
      const MatrixView grouped = group_rows(w.view, &storage, grouping);
      ASSERT_EQ(grouped.layout, MatrixLayout::kRowGroupsOf8);
      for (int64_t o = 0; o < out; ++o) {
        for (int64_t b = 0; b < in / 32; ++b) {
          if (GetParam() == DType::kQ4_0) {
            const BlockQ4_0 want = reinterpret_cast<const BlockQ4_0*>(w.view.row(o))[b];
            const BlockQ4_0 got = grouped_block_q4_0(grouped, o, b);
            ASSERT_EQ(0, std::memcmp(&want, &got, sizeof(want))) << "row " << o << " block " << b;
          } else {
            const BlockQ8_0 want = reinterpret_cast<const BlockQ8_0*>(w.view.row(o))[b];
            const BlockQ8_0 got = grouped_block_q8_0(grouped, o, b);
            ASSERT_EQ(0, std::memcmp(&want, &got, sizeof(want))) << "row " << o << " block " << b;
          }
        }
      }
      const int64_t x_stride = in + 5, y_stride = out + 3, max_rows = 70;
      const std::vector<float> x = normal_floats(max_rows * x_stride, 22);
      const std::vector<float> expected = reference(x, max_rows, x_stride, w.view);
      for (int threads : {1, 2}) {
        ThreadPool pool(threads);
        for (int64_t rows : {1, 2, 3, 4, 5, 7, 8, 9, 17, 70}) {
          std::vector<float> y(rows * y_stride, -1.0f), y_grouped(rows * y_stride, -1.0f);
          matmul(pool, x.data(), rows, x_stride, w.view, y.data(), y_stride);
          matmul(pool, x.data(), rows, x_stride, grouped, y_grouped.data(), y_stride);
          ASSERT_EQ(y_grouped, y) << in << " wide, " << out << " outputs, " << rows << " rows, " << threads
                                  << " threads";
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t o = 0; o < out; ++o) ASSERT_EQ(y[r * y_stride + o], expected[r * out + o]);
        }
      }
      // The portable kernels read grouped weights too (same bits), and a column slice of a grouped
      // matrix is the grouped column slice.
      std::vector<float> portable(3 * out);
      std::vector<kernels::ActivationBlock> xq(3 * in / 32);
      for (int64_t r = 0; r < 3; ++r)
        kernels::quantize_activations(x.data() + r * x_stride, in, xq.data() + r * in / 32);
      kernels::matmul_range_portable(x.data(), xq.data(), 3, x_stride, grouped, 0, out, portable.data(), out);
      for (int64_t i = 0; i < 3 * out; ++i) ASSERT_EQ(portable[i], expected[i]);
      LargeBuffer slice_storage;
      const MatrixView slice = grouped.column_slice(64, 96);
      const MatrixView grouped_slice = group_rows(w.view.column_slice(64, 96), &slice_storage, grouping);
      std::vector<float> y_slice(out), y_grouped_slice(out);
      matmul(grouping, x.data() + 64, 1, x_stride, slice, y_slice.data(), out);
      matmul(grouping, x.data() + 64, 1, x_stride, grouped_slice, y_grouped_slice.data(), out);
      ASSERT_EQ(y_slice, y_grouped_slice);
    }
  }
}

TEST(RowGroups, RowOperationsRefuseGroupedMatrices) {
  const std::vector<float> values = normal_floats(16 * 64, 5);
  const QuantizedMatrix w = quantized_matrix(DType::kQ4_0, values, 16, 64);
  ThreadPool pool(1);
  LargeBuffer storage;
  const MatrixView grouped = group_rows(w.view, &storage, pool);
  std::vector<float> x(64, 1.0f);
  EXPECT_THROW(dot_row(grouped, 0, x.data()), Error);
  EXPECT_THROW(load_row(grouped, 0, x.data()), Error);
  EXPECT_THROW(group_rows(grouped, &storage, pool), Error);
  EXPECT_EQ(matmul_prefers_row_groups(w.view), cpu_has_avx2());
}

INSTANTIATE_TEST_SUITE_P(Formats, PanelMatmulTest, ::testing::Values(DType::kQ8_0, DType::kQ4_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace cpm

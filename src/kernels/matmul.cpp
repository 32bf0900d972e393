#include "kernels/matmul.h"

#include <vector>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/dot_kernels.h"
#include "kernels/matmul_tiles.h"
#include "kernels/quantize.h"

namespace cpm {

namespace kernels {

namespace {
inline float portable_lane_sum(const float lanes[8]) {
  return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
}
}  // namespace

// The AVX2 tiles' summation order, in scalar code (without fused multiply-adds).
void matmul_range_portable(const float* x, const BlockQ8_0* xq, int64_t rows, int64_t x_stride,
                           const MatrixView& w, int64_t o_begin, int64_t o_end, float* y, int64_t y_stride) {
  const bool quantized = dtype_info(w.dtype).block_size > 1;
  std::vector<float> weights(w.cols);
  for (int64_t o = o_begin; o < o_end; ++o) {
    if (!quantized) load_row(w, o, weights.data());
    for (int64_t r = 0; r < rows; ++r) {
      float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      if (quantized) {
        const int64_t blocks = w.cols / 32;
        for (int64_t b = 0; b < blocks; ++b) {
          const BlockQ8_0& xb = xq[r * blocks + b];
          float scale;
          int32_t sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          if (w.dtype == DType::kQ8_0) {
            const BlockQ8_0& wb = reinterpret_cast<const BlockQ8_0*>(w.row(o))[b];
            scale = f16_to_f32(wb.scale);
            for (int i = 0; i < 32; ++i) sums[i / 4] += wb.values[i] * xb.values[i];
          } else {
            const BlockQ4_0& wb = reinterpret_cast<const BlockQ4_0*>(w.row(o))[b];
            scale = f16_to_f32(wb.scale);
            for (int i = 0; i < 32; ++i) sums[i / 4] += q4_0_value(wb, i) * xb.values[i];
          }
          const float both = scale * f16_to_f32(xb.scale);
          for (int k = 0; k < 8; ++k) lanes[k] += both * static_cast<float>(sums[k]);
        }
        y[r * y_stride + o] = portable_lane_sum(lanes);
        continue;
      }
      const float* row = x + r * x_stride;
      const int64_t full = w.cols / 8 * 8;
      for (int64_t i = 0; i < full; ++i) lanes[i & 7] += weights[i] * row[i];
      float sum = portable_lane_sum(lanes);
      for (int64_t i = full; i < w.cols; ++i) sum += weights[i] * row[i];
      y[r * y_stride + o] = sum;
    }
  }
}

}  // namespace kernels

namespace {
// Output rows per task: small enough to balance two threads, large enough to amortize dispatch.
constexpr int64_t kOutputGrain = 12;
}  // namespace

void matmul(ThreadPool& pool, const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, float* y,
            int64_t y_stride) {
  if (rows <= 0 || w.rows <= 0) return;
  // Quantized weights take activations quantized to q8_0, once per row, shared by every output.
  thread_local std::vector<BlockQ8_0> quantized;
  const BlockQ8_0* xq = nullptr;
  if (dtype_info(w.dtype).block_size > 1) {
    if (w.cols % 32 != 0) fail("internal: quantized matrix width ", w.cols, " is not a multiple of 32");
    const int64_t blocks = w.cols / 32;
    quantized.resize(rows * blocks);
    for (int64_t r = 0; r < rows; ++r)
      quantize_row_q8_0(x + r * x_stride, w.cols, quantized.data() + r * blocks);
    xq = quantized.data();
  }
  const auto body = cpu_has_avx2() ? kernels::matmul_range_avx2 : kernels::matmul_range_portable;
  pool.parallel_for(w.rows, kOutputGrain, [&](int, int64_t begin, int64_t end) {
    body(x, xq, rows, x_stride, w, begin, end, y, y_stride);
  });
}

float dot_row(const MatrixView& w, int64_t row, const float* x) {
  return kernels::active_row_kernels().dot[kernels::dtype_index(w.dtype)](w.row(row), x, w.cols);
}

void axpy_row(const MatrixView& w, int64_t row, float scale, float* y) {
  kernels::active_row_kernels().axpy[kernels::dtype_index(w.dtype)](w.row(row), scale, y, w.cols);
}

void load_row(const MatrixView& w, int64_t row, float* out) {
  for (int64_t i = 0; i < w.cols; ++i) out[i] = 0.0f;
  axpy_row(w, row, 1.0f, out);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  return kernels::active_row_kernels().dot[kernels::dtype_index(DType::kF32)](
      reinterpret_cast<const uint8_t*>(a), b, n);
}

}  // namespace cpm

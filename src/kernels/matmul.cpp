#include "kernels/matmul.h"

#include "kernels/dot_kernels.h"

namespace cpm {

namespace {
// Output rows per task: enough to amortize dispatch, small enough to balance two threads.
constexpr int64_t kOutputGrain = 16;
}  // namespace

void matmul(ThreadPool& pool, const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, float* y,
            int64_t y_stride) {
  if (rows <= 0 || w.rows <= 0) return;
  const kernels::DotFn dot = kernels::active_row_kernels().dot[kernels::dtype_index(w.dtype)];
  pool.parallel_for(w.rows, kOutputGrain, [&](int, int64_t begin, int64_t end) {
    // Weight rows outer so each stays in cache while every activation row uses it.
    for (int64_t o = begin; o < end; ++o) {
      const uint8_t* w_row = w.row(o);
      for (int64_t r = 0; r < rows; ++r) y[r * y_stride + o] = dot(w_row, x + r * x_stride, w.cols);
    }
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

// Row kernels shared by the portable and AVX2 builds. Internal to src/kernels.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace cpm::kernels {

// dot(w_row, x) over n elements of a weight row of the given type.
using DotFn = float (*)(const uint8_t* w_row, const float* x, int64_t n);
// y += scale * w_row
using AxpyFn = void (*)(const uint8_t* w_row, float scale, float* y, int64_t n);

// Many rows against several inputs, bitwise the same as loops of the single-row kernels of the same
// table (only faster: one widened weight load serves every input). `next`, when not null, is the first
// of as many rows (same stride) that the caller reads next: a kernel may ask for them into cache.
// combine: y[t] = sum over i < k of x[t][i] * row i, as zeroing y[t] then k axpy calls in order.
using CombineRowsFn = void (*)(const uint8_t* w, int64_t w_stride, int64_t k, const float* const* x,
                               float* const* y, int64_t tokens, int64_t n, const uint8_t* next);
// dots: y[t][o] = dot(row o, x[t]) for o < outputs.
using DotRowsFn = void (*)(const uint8_t* w, int64_t w_stride, int64_t outputs, const float* const* x,
                           float* const* y, int64_t tokens, int64_t n, const uint8_t* next);

struct RowKernels {
  DotFn dot[5];
  AxpyFn axpy[5];
  CombineRowsFn combine[5];
  DotRowsFn dots[5];
};

// The combine and dots of a table made of its single-row kernels.
template <AxpyFn Axpy>
void combine_by_rows(const uint8_t* w, int64_t w_stride, int64_t k, const float* const* x, float* const* y,
                     int64_t tokens, int64_t n, const uint8_t* /*next*/ = nullptr) {
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t j = 0; j < n; ++j) y[t][j] = 0.0f;
    for (int64_t i = 0; i < k; ++i) Axpy(w + i * w_stride, x[t][i], y[t], n);
  }
}
template <DotFn Dot>
void dots_by_rows(const uint8_t* w, int64_t w_stride, int64_t outputs, const float* const* x, float* const* y,
                  int64_t tokens, int64_t n, const uint8_t* /*next*/ = nullptr) {
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t o = 0; o < outputs; ++o) y[t][o] = Dot(w + o * w_stride, x[t], n);
}

const RowKernels& portable_row_kernels();
const RowKernels& avx2_row_kernels();
const RowKernels& active_row_kernels();

inline int dtype_index(DType dtype) {
  return static_cast<int>(dtype);
}

}  // namespace cpm::kernels

// Internal to src/kernels: the per-ISA bodies of matmul over a range of output rows.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "kernels/quant_blocks.h"

namespace cpm::kernels {

// y[r, o] for r < rows, o_begin <= o < o_end. Quantized weights read xq (x quantized to q8_0 per
// row); float weights read x.
void matmul_range_avx2(const float* x, const BlockQ8_0* xq, int64_t rows, int64_t x_stride,
                       const MatrixView& w, int64_t o_begin, int64_t o_end, float* y, int64_t y_stride);
void matmul_range_portable(const float* x, const BlockQ8_0* xq, int64_t rows, int64_t x_stride,
                           const MatrixView& w, int64_t o_begin, int64_t o_end, float* y, int64_t y_stride);

}  // namespace cpm::kernels

// Row kernels shared by the portable and AVX2 builds. Internal to src/kernels.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace cpm::kernels {

// dot(w_row, x) over n elements of a weight row of the given type.
using DotFn = float (*)(const uint8_t* w_row, const float* x, int64_t n);
// y += scale * w_row
using AxpyFn = void (*)(const uint8_t* w_row, float scale, float* y, int64_t n);

struct RowKernels {
  DotFn dot[5];
  AxpyFn axpy[5];
};

const RowKernels& portable_row_kernels();
const RowKernels& avx2_row_kernels();
const RowKernels& active_row_kernels();

inline int dtype_index(DType dtype) {
  return static_cast<int>(dtype);
}

}  // namespace cpm::kernels

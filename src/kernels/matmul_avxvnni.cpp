// The quantized matmul (matmul_quant_body.h) built for AVX-VNNI: vpdpbusd byte dot products.
#include "kernels/matmul_tiles.h"

namespace cpm::kernels {
constexpr bool kUseAvxVnni = true;
}  // namespace cpm::kernels

#include "kernels/matmul_quant_body.h"

namespace cpm::kernels {

void quant_range_avxvnni(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                         int64_t o_end, float* y, int64_t y_stride) {
  run_quant_range(xq, rows, w, o_begin, o_end, y, y_stride);
}

void quant_panels_avxvnni(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                          int64_t o_end, float* y, int64_t y_stride) {
  run_panels(xq, rows, w, o_begin, o_end, y, y_stride);
}

}  // namespace cpm::kernels

// The packed-panel prefill matmul (matmul_panels_body.h) built for AVX2.
namespace cpm::kernels {
constexpr bool kPanelsUseVnni = false;
}  // namespace cpm::kernels

#include "kernels/matmul_panels_body.h"

namespace cpm::kernels {

void quant_panels_avx2(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                       int64_t o_end, float* y, int64_t y_stride) {
  run_panels(xq, rows, w, o_begin, o_end, y, y_stride);
}

}  // namespace cpm::kernels

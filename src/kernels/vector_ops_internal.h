// Internal to src/kernels: the AVX2 builds of vector_ops.h's functions (vector_ops_avx2.cpp), which
// vector_ops.cpp calls where cpu_has_avx2().
#pragma once

#include <cstdint>

namespace cpm::kernels {

void silu_mul_avx2(float* gate, const float* up, int64_t n);
void softmax_avx2(float* scores, int64_t n);
void rms_norm_avx2(const float* x, const float* weight, float eps, int64_t n, float* out);

}  // namespace cpm::kernels

// Internal to src/kernels: the AVX2 builds of vector_ops.h's functions (vector_ops_avx2.cpp), which
// vector_ops.cpp calls where cpu_has_avx2(), and the AVX-512 softmax (vector_ops_avx512.cpp), called
// where cpu_has_avx512().
#pragma once

#include <cstdint>

namespace cpm::kernels {

void silu_mul_avx2(float* gate, const float* up, int64_t n);
void softmax_avx2(float* scores, int64_t n);
// softmax_avx2 from its exp pass on: exp(score - max_score) for scores[begin, n) (begin a multiple of
// 8), summed after sums' 8 lanes in its lane order, then every score of [0, n) divided by the sum.
void softmax_avx2_rest(float* scores, int64_t n, int64_t begin, float max_score, const float* sums);
void softmax_avx512(float* scores, int64_t n);
void rms_norm_avx2(const float* x, const float* weight, float eps, int64_t n, float* out);

}  // namespace cpm::kernels

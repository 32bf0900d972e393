// Internal to src/kernels: the AVX2 builds of vector_ops.h's functions (vector_ops_avx2.cpp), which
// vector_ops.cpp calls where cpu_has_avx2(), and the AVX-512 softmax (vector_ops_avx512.cpp), called
// where cpu_has_avx512().
#pragma once

#include <cstdint>

namespace cpm::kernels {

// The vector exp (the Cephes expf scheme, vector_ops_avx2.cpp): its AVX2 and AVX-512 forms take these
// constants in the same operations, so both give the same bits.
namespace exp_polynomial {
inline constexpr float kLowest = -87.3f, kHighest = 88.3f;  // clamps: below, the result is subnormal
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2High = 0.693359375f, kLn2Low = -2.12194440e-4f;  // ln 2 in two parts
// Of the remainder's polynomial, highest degree first.
inline constexpr float kCoefficients[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                          4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
}  // namespace exp_polynomial

void silu_mul_avx2(float* gate, const float* up, int64_t n);
void softmax_avx2(float* scores, int64_t n);
// softmax_avx2 from its exp pass on: exp(score - max_score) for scores[begin, n) (begin a multiple of
// 8), summed after sums' 8 lanes in its lane order, then every score of [0, n) divided by the sum.
void softmax_avx2_rest(float* scores, int64_t n, int64_t begin, float max_score, const float* sums);
void softmax_avx512(float* scores, int64_t n);
void rms_norm_avx2(const float* x, const float* weight, float eps, int64_t n, float* out);

}  // namespace cpm::kernels

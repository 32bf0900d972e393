// Element-wise and per-row operations of the forward pass, on f32 rows. AVX2 builds where the CPU
// has it (vector_ops_avx2.cpp: exp as a polynomial within about 2 ulp of std::exp), else portable.
#pragma once

#include <cstdint>

namespace cpm {

// out = x / sqrt(mean(x^2) + eps) * weight, over n elements (out may alias x).
void rms_norm(const float* x, const float* weight, float eps, int64_t n, float* out);
// gate = silu(gate) * up, over n elements.
void silu_mul(float* gate, const float* up, int64_t n);
// In-place softmax over n scores; n may be 0.
void softmax(float* scores, int64_t n);
// y = x * scale + y, over n elements.
void scale_add(const float* x, float scale, float* y, int64_t n);

}  // namespace cpm

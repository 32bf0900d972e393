#include "kernels/vector_ops.h"

#include <cmath>

#include "kernels/cpu_features.h"
#include "kernels/vector_ops_internal.h"

namespace cpm {

namespace {
bool use_avx2() {
  static const bool value = cpu_has_avx2();
  return value;
}
}  // namespace

void rms_norm(const float* x, const float* weight, float eps, int64_t n, float* out) {
  if (use_avx2()) return kernels::rms_norm_avx2(x, weight, eps, n, out);
  if (n <= 0) return;
  // Sum of squares in double: cheap next to the matmuls, and it keeps the norm exact to f32 rounding.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float inverse = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inverse * weight[i];
}

void silu_mul(float* gate, const float* up, int64_t n) {
  if (use_avx2()) return kernels::silu_mul_avx2(gate, up, n);
  for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax(float* scores, int64_t n) {
  static const bool avx512 = cpu_has_avx512();
  if (avx512) return kernels::softmax_avx512(scores, n);
  if (use_avx2()) return kernels::softmax_avx2(scores, n);
  if (n <= 0) return;
  float max_score = scores[0];
  for (int64_t i = 1; i < n; ++i) max_score = std::fmax(max_score, scores[i]);
  float total = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    scores[i] = std::exp(scores[i] - max_score);
    total += scores[i];
  }
  const float inverse = 1.0f / total;
  for (int64_t i = 0; i < n; ++i) scores[i] *= inverse;
}

void scale_add(const float* x, float scale, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i] * scale;
}

}  // namespace cpm

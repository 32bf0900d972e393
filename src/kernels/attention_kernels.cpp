#include "kernels/attention_kernels.h"

#include <cstring>

#include "kernels/cpu_features.h"

namespace cpm {

namespace kernels {

namespace {
inline float row_value(const CachedRows& rows, int64_t s, int64_t i) {
  if (rows.dtype == DType::kF32) return reinterpret_cast<const float*>(rows.rows[s])[i];
  return bf16_to_f32(reinterpret_cast<const uint16_t*>(rows.rows[s])[i]);
}
}  // namespace

// Same order as the AVX2 kernel: 8 lanes over the width, then the lanes summed pairwise.
void attention_scores_portable(const float* queries, int64_t num_heads, int64_t width, const CachedRows& rows,
                               float scale, float* scores) {
  for (int64_t h = 0; h < num_heads; ++h) {
    for (int64_t s = 0; s < rows.count; ++s) {
      float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t i = 0; i < width; ++i) lanes[i & 7] += queries[h * width + i] * row_value(rows, s, i);
      scores[h * rows.count + s] = (((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) +
                                    ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))) *
                                   scale;
    }
  }
}

void attention_weighted_sum_portable(const float* weights, int64_t num_heads, const CachedRows& rows,
                                     int64_t width, float* out) {
  std::memset(out, 0, num_heads * width * sizeof(float));
  for (int64_t s = 0; s < rows.count; ++s) {
    for (int64_t h = 0; h < num_heads; ++h) {
      const float weight = weights[h * rows.count + s];
      for (int64_t i = 0; i < width; ++i) out[h * width + i] += weight * row_value(rows, s, i);
    }
  }
}

}  // namespace kernels

void attention_scores(const float* queries, int64_t num_heads, int64_t width, const CachedRows& rows,
                      float scale, float* scores) {
  static const kernels::AttentionScoresFn fn =
      cpu_has_avx2() ? kernels::attention_scores_avx2 : kernels::attention_scores_portable;
  static const bool avx512 = cpu_has_avx512();
  if (avx512 && width % 8 == 0)
    return kernels::attention_scores_avx512(queries, num_heads, width, rows, scale, scores);
  fn(queries, num_heads, width, rows, scale, scores);
}

void attention_weighted_sum(const float* weights, int64_t num_heads, const CachedRows& rows, int64_t width,
                            float* out) {
  static const kernels::AttentionSumFn fn = cpu_has_avx512() ? kernels::attention_weighted_sum_avx512
                                            : cpu_has_avx2() ? kernels::attention_weighted_sum_avx2
                                                             : kernels::attention_weighted_sum_portable;
  fn(weights, num_heads, rows, width, out);
}

}  // namespace cpm

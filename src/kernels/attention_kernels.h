// Multi-head attention against one sequence's cached rows, many heads per pass so each cached row is
// read once per group of heads. Rows are gathered by pointer (the cache is paged by token) and are
// f32 or bf16. Every score and every output element is summed in an order fixed by the row width
// and the context length alone, so results never depend on batching or threading.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace cpm {

struct CachedRows {
  const uint8_t* const* rows;  // one pointer per position
  int64_t count;               // context length
  DType dtype;                 // kF32 or kBF16
};

// scores[h * rows.count + s] = scale * dot(queries[h * width .. + width), row s [0, width)) for h <
// num_heads.
void attention_scores(const float* queries, int64_t num_heads, int64_t width, const CachedRows& rows,
                      float scale, float* scores);
// out[h * width + i] = sum_s weights[h * rows.count + s] * row s [i] for i < width, h < num_heads.
void attention_weighted_sum(const float* weights, int64_t num_heads, const CachedRows& rows, int64_t width,
                            float* out);

namespace kernels {
using AttentionScoresFn = void (*)(const float*, int64_t, int64_t, const CachedRows&, float, float*);
using AttentionSumFn = void (*)(const float*, int64_t, const CachedRows&, int64_t, float*);
void attention_scores_avx2(const float*, int64_t, int64_t, const CachedRows&, float, float*);
void attention_weighted_sum_avx2(const float*, int64_t, const CachedRows&, int64_t, float*);
// Same bits as the AVX2 kernels, where the CPU has AVX-512F; the scores for widths that are multiples
// of 8 only.
void attention_scores_avx512(const float*, int64_t, int64_t, const CachedRows&, float, float*);
void attention_weighted_sum_avx512(const float*, int64_t, const CachedRows&, int64_t, float*);
void attention_scores_portable(const float*, int64_t, int64_t, const CachedRows&, float, float*);
void attention_weighted_sum_portable(const float*, int64_t, const CachedRows&, int64_t, float*);
}  // namespace kernels

}  // namespace cpm

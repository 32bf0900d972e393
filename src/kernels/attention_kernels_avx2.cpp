// AVX2 + FMA kernels for attention_kernels.h. Only reached after cpu_has_avx2().
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/attention_kernels.h"

namespace cpm::kernels {

namespace {

// Positions per block: a block of rows stays in L2 while every head group uses it.
constexpr int64_t kRowBlock = 64;
// Columns per strip of the weighted sum (a multiple of 16): wide rows, such as transposed keys, are
// swept a strip at a time.
constexpr int64_t kColumnStrip = 128;
// Heads per weighted-sum block: 6 heads x 16 columns, 12 accumulators.
constexpr int kSumHeads = 6;

template <bool kBf16>
inline __m256 load_row(const uint8_t* row, int64_t i) {
  if constexpr (kBf16) {
    const __m128i half =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
  } else {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  }
}

template <bool kBf16>
inline float row_scalar(const uint8_t* row, int64_t i) {
  if constexpr (kBf16) return bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]);
  return reinterpret_cast<const float*>(row)[i];
}

inline float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// kHeads heads (<= 8) against rows [begin, end): one row chunk load feeds kHeads FMAs.
template <int kHeads, bool kBf16>
void scores_block(const float* queries, int64_t width, const CachedRows& rows, int64_t begin, int64_t end,
                  float scale, float* scores) {
  const int64_t full = width / 8 * 8;
  for (int64_t s = begin; s < end; ++s) {
    const uint8_t* row = rows.rows[s];
    __m256 acc[kHeads];
    for (int g = 0; g < kHeads; ++g) acc[g] = _mm256_setzero_ps();
    for (int64_t i = 0; i < full; i += 8) {
      const __m256 value = load_row<kBf16>(row, i);
      for (int g = 0; g < kHeads; ++g)
        acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(queries + g * width + i), value, acc[g]);
    }
    for (int g = 0; g < kHeads; ++g) {
      float sum = horizontal_sum(acc[g]);
      for (int64_t i = full; i < width; ++i) sum += queries[g * width + i] * row_scalar<kBf16>(row, i);
      scores[g * rows.count + s] = sum * scale;
    }
  }
}

template <bool kBf16>
void scores_group(const float* queries, int64_t heads, int64_t width, const CachedRows& rows, int64_t begin,
                  int64_t end, float scale, float* scores) {
  switch (heads) {
#define CASE(n) \
  case n:       \
    return scores_block<n, kBf16>(queries, width, rows, begin, end, scale, scores);
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
#undef CASE
  }
}

// out[kHeads][16 floats at i] += sum over rows [begin, end) of weight * row[i .. i + 16): the
// accumulators stay in registers across the rows (one flat array, every loop over it unrolled, or
// GCC keeps a copy in memory).
template <int kHeads, bool kBf16>
void sum_block(const float* weights, int64_t count, const CachedRows& rows, int64_t begin, int64_t end,
               int64_t i, int64_t width, float* out) {
  __m256 acc[2 * kHeads];
#pragma GCC unroll 8
  for (int g = 0; g < kHeads; ++g) {
    acc[2 * g] = _mm256_loadu_ps(out + g * width + i);
    acc[2 * g + 1] = _mm256_loadu_ps(out + g * width + i + 8);
  }
  for (int64_t s = begin; s < end; ++s) {
    const __m256 low = load_row<kBf16>(rows.rows[s], i), high = load_row<kBf16>(rows.rows[s], i + 8);
#pragma GCC unroll 8
    for (int g = 0; g < kHeads; ++g) {
      const __m256 weight = _mm256_broadcast_ss(weights + g * count + s);
      acc[2 * g] = _mm256_fmadd_ps(weight, low, acc[2 * g]);
      acc[2 * g + 1] = _mm256_fmadd_ps(weight, high, acc[2 * g + 1]);
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < kHeads; ++g) {
    _mm256_storeu_ps(out + g * width + i, acc[2 * g]);
    _mm256_storeu_ps(out + g * width + i + 8, acc[2 * g + 1]);
  }
}

template <bool kBf16>
void sum_group(const float* weights, int64_t heads, const CachedRows& rows, int64_t begin, int64_t end,
               int64_t first_column, int64_t end_column, int64_t width, float* out) {
  const int64_t blocked = width / 16 * 16;
  for (int64_t i = first_column; i < std::min(end_column, blocked); i += 16) {
    switch (heads) {
#define CASE(n)                                                                \
  case n:                                                                      \
    sum_block<n, kBf16>(weights, rows.count, rows, begin, end, i, width, out); \
    break;
      CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6)
#undef CASE
    }
  }
  // Columns past the last multiple of 16: the same sequential order, scalar.
  if (end_column < width) return;
  for (int64_t g = 0; g < heads; ++g) {
    for (int64_t s = begin; s < end; ++s) {
      const float weight = weights[g * rows.count + s];
      for (int64_t c = blocked; c < width; ++c) {
        out[g * width + c] = std::fma(weight, row_scalar<kBf16>(rows.rows[s], c), out[g * width + c]);
      }
    }
  }
}

template <bool kBf16>
void scores_all(const float* queries, int64_t num_heads, int64_t width, const CachedRows& rows, float scale,
                float* scores) {
  for (int64_t begin = 0; begin < rows.count; begin += kRowBlock) {
    const int64_t end = std::min(rows.count, begin + kRowBlock);
    for (int64_t h = 0; h < num_heads; h += 8) {
      scores_group<kBf16>(queries + h * width, std::min<int64_t>(8, num_heads - h), width, rows, begin, end,
                          scale, scores + h * rows.count);
    }
  }
}

template <bool kBf16>
void sum_all(const float* weights, int64_t num_heads, const CachedRows& rows, int64_t width, float* out) {
  std::memset(out, 0, num_heads * width * sizeof(float));
  // Wide rows (transposed keys) in strips, so a row block's strip stays in cache for every head.
  for (int64_t first_column = 0; first_column < width; first_column += kColumnStrip) {
    const int64_t end_column = std::min(width, first_column + kColumnStrip);
    for (int64_t begin = 0; begin < rows.count; begin += kRowBlock) {
      const int64_t end = std::min(rows.count, begin + kRowBlock);
      for (int64_t h = 0; h < num_heads; h += kSumHeads) {
        sum_group<kBf16>(weights + h * rows.count, std::min<int64_t>(kSumHeads, num_heads - h), rows, begin,
                         end, first_column, end_column, width, out + h * width);
      }
    }
  }
}

}  // namespace

void attention_scores_avx2(const float* queries, int64_t num_heads, int64_t width, const CachedRows& rows,
                           float scale, float* scores) {
  if (rows.dtype == DType::kBF16) return scores_all<true>(queries, num_heads, width, rows, scale, scores);
  scores_all<false>(queries, num_heads, width, rows, scale, scores);
}

void attention_weighted_sum_avx2(const float* weights, int64_t num_heads, const CachedRows& rows,
                                 int64_t width, float* out) {
  if (rows.dtype == DType::kBF16) return sum_all<true>(weights, num_heads, rows, width, out);
  sum_all<false>(weights, num_heads, rows, width, out);
}

}  // namespace cpm::kernels

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
// Scores in tiles of 4 heads x 3 rows: 12 accumulators, 7 loads per 12 FMAs.
constexpr int kScoreHeads = 4, kScoreRows = 3;
// How far ahead the scores ask for rows: four tiles (docs/PERFORMANCE.md, "Rows asked for ahead").
constexpr int64_t kPrefetchRows = 4 * kScoreRows;

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

// kHeads heads against kRows rows: per 8 columns, kRows row loads and kHeads query loads feed kHeads ×
// kRows FMAs (one row at a time took a query load per FMA, and ran at about half the FMA peak). Each
// score's accumulator gets the same FMAs in the same order however heads and rows are blocked, so the
// bits do not depend on the blocking.
template <int kHeads, int kRows, bool kBf16>
inline void scores_tile(const float* queries, int64_t width, const CachedRows& rows, int64_t s, float scale,
                        float* scores) {
  const int64_t full = width / 8 * 8;
  const uint8_t* row[kRows];
  for (int r = 0; r < kRows; ++r) row[r] = rows.rows[s + r];
  __m256 acc[kHeads][kRows];
  for (int g = 0; g < kHeads; ++g)
    for (int r = 0; r < kRows; ++r) acc[g][r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < full; i += 8) {
    __m256 value[kRows];
    for (int r = 0; r < kRows; ++r) value[r] = load_row<kBf16>(row[r], i);
    for (int g = 0; g < kHeads; ++g) {
      const __m256 query = _mm256_loadu_ps(queries + g * width + i);
      for (int r = 0; r < kRows; ++r) acc[g][r] = _mm256_fmadd_ps(query, value[r], acc[g][r]);
    }
  }
  for (int g = 0; g < kHeads; ++g) {
    for (int r = 0; r < kRows; ++r) {
      float sum = horizontal_sum(acc[g][r]);
      for (int64_t i = full; i < width; ++i) sum += queries[g * width + i] * row_scalar<kBf16>(row[r], i);
      scores[g * rows.count + s + r] = sum * scale;
    }
  }
}

// Brings row s into cache ahead of its use (if there is such a row).
inline void prefetch_row(const CachedRows& rows, int64_t s, int64_t row_bytes) {
  if (s >= rows.count) return;
  const char* row = reinterpret_cast<const char*>(rows.rows[s]);
  for (int64_t offset = 0; offset < row_bytes; offset += 64) _mm_prefetch(row + offset, _MM_HINT_T0);
}

// kHeads heads (<= kScoreHeads) against rows [begin, end), kScoreRows rows at a time. The first head
// group of a block reads its rows from memory (decode has just streamed a layer's weights through the
// caches), so it asks for the rows kPrefetchRows ahead.
template <int kHeads, bool kBf16>
void scores_block(const float* queries, int64_t width, const CachedRows& rows, int64_t begin, int64_t end,
                  float scale, float* scores, bool first_group) {
  const int64_t row_bytes = width * (kBf16 ? 2 : 4);
  int64_t s = begin;
  for (; s + kScoreRows <= end; s += kScoreRows) {
    if (first_group)
      for (int r = 0; r < kScoreRows; ++r) prefetch_row(rows, s + kPrefetchRows + r, row_bytes);
    scores_tile<kHeads, kScoreRows, kBf16>(queries, width, rows, s, scale, scores);
  }
  for (; s < end; ++s) scores_tile<kHeads, 1, kBf16>(queries, width, rows, s, scale, scores);
}

template <bool kBf16>
void scores_group(const float* queries, int64_t heads, int64_t width, const CachedRows& rows, int64_t begin,
                  int64_t end, float scale, float* scores, bool first_group) {
  switch (heads) {
#define CASE(n) \
  case n:       \
    return scores_block<n, kBf16>(queries, width, rows, begin, end, scale, scores, first_group);
    CASE(1) CASE(2) CASE(3) CASE(4)
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
    for (int64_t h = 0; h < num_heads; h += kScoreHeads) {
      scores_group<kBf16>(queries + h * width, std::min<int64_t>(kScoreHeads, num_heads - h), width, rows,
                          begin, end, scale, scores + h * rows.count, h == 0);
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

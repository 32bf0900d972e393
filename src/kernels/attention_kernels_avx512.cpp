// AVX-512 form of the attention kernels (attention_kernels_avx2.cpp), where the CPU has AVX-512F. Same
// bits as the AVX2 kernels:
// - a score keeps the AVX2 layout of its dot product (8 lanes over the width, then the lanes summed
//   pairwise): a 512-bit register holds two cached rows' 8-lane accumulators, so each instruction
//   does the work of two;
// - a weighted-sum output is one FMA chain over the rows in order, whatever the register width: 32
//   columns a step where AVX2 takes 16.
// Long-context decode is bound by these two: at 16k cached tokens a step's attention costs more than
// streaming the weights (docs/PERFORMANCE.md, "Attention with AVX-512").
//
// Nothing from the standard library here: an inline function instantiated in this file could be the
// copy the linker keeps for the whole program, built for AVX-512, and run on CPUs without it.
//
// GCC 12's AVX-512 headers build the unused upper half of a register from an uninitialized variable
// and then warn about it where the intrinsics are inlined (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/attention_kernels.h"

namespace cpm::kernels {

namespace {

// As in the AVX2 kernels: row blocks that stay in L2 while every head group uses them, and rows asked
// for ahead by the first head group of a block.
constexpr int64_t kRowBlock = 64;
constexpr int kScoreHeads = 8;
constexpr int kScorePairs = 3;  // row pairs per score tile: 8 heads x 6 rows, 24 accumulators
constexpr int64_t kPrefetchRows = 12;
constexpr int64_t kColumnStrip = 128;  // a multiple of 32
constexpr int kSumHeads = 6;           // 6 heads x 32 columns, 12 accumulators

inline int64_t smaller(int64_t a, int64_t b) {
  return a < b ? a : b;
}

inline float bf16_value(const uint8_t* row, int64_t i) {
  uint16_t bits;
  __builtin_memcpy(&bits, row + 2 * i, 2);
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  __builtin_memcpy(&value, &widened, 4);
  return value;
}

template <bool kBf16>
inline float row_scalar(const uint8_t* row, int64_t i) {
  if constexpr (kBf16) return bf16_value(row, i);
  float value;
  __builtin_memcpy(&value, row + 4 * i, 4);
  return value;
}

template <bool kBf16>
inline __m256 load8(const uint8_t* row, int64_t i) {
  if constexpr (kBf16) {
    const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
  } else {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row + 4 * i));
  }
}

template <bool kBf16>
inline __m512 load16(const uint8_t* row, int64_t i) {
  if constexpr (kBf16) {
    const __m256i half = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
  } else {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row + 4 * i));
  }
}

// Columns [i, i + 8) of two rows: the first in the low half, the second in the high half.
template <bool kBf16>
inline __m512 load_pair(const uint8_t* first, const uint8_t* second, int64_t i) {
  const __m512d low = _mm512_castpd256_pd512(_mm256_castps_pd(load8<kBf16>(first, i)));
  return _mm512_castpd_ps(_mm512_insertf64x4(low, _mm256_castps_pd(load8<kBf16>(second, i)), 1));
}

// The AVX2 kernels' horizontal sum of 8 lanes: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
inline float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// kHeads heads against kPairs pairs of rows from s. The width is a multiple of 8 (attention_scores
// leaves other widths to the AVX2 kernel, whose scalar tail this file does not repeat).
template <int kHeads, int kPairs, bool kBf16>
inline void scores_tile(const float* queries, int64_t width, const CachedRows& rows, int64_t s, float scale,
                        float* scores) {
  const uint8_t* row[2 * kPairs];
  for (int r = 0; r < 2 * kPairs; ++r) row[r] = rows.rows[s + r];
  __m512 acc[kHeads][kPairs];
  for (int g = 0; g < kHeads; ++g)
    for (int p = 0; p < kPairs; ++p) acc[g][p] = _mm512_setzero_ps();
  for (int64_t i = 0; i < width; i += 8) {
    __m512 value[kPairs];
    for (int p = 0; p < kPairs; ++p) value[p] = load_pair<kBf16>(row[2 * p], row[2 * p + 1], i);
    for (int g = 0; g < kHeads; ++g) {
      const __m256d query = _mm256_castps_pd(_mm256_loadu_ps(queries + g * width + i));
      const __m512 both = _mm512_castpd_ps(_mm512_broadcast_f64x4(query));
      for (int p = 0; p < kPairs; ++p) acc[g][p] = _mm512_fmadd_ps(both, value[p], acc[g][p]);
    }
  }
  for (int g = 0; g < kHeads; ++g) {
    for (int p = 0; p < kPairs; ++p) {
      const __m512d sums = _mm512_castps_pd(acc[g][p]);
      const float first = horizontal_sum(_mm256_castpd_ps(_mm512_castpd512_pd256(sums)));
      const float second = horizontal_sum(_mm256_castpd_ps(_mm512_extractf64x4_pd(sums, 1)));
      scores[g * rows.count + s + 2 * p] = first * scale;
      scores[g * rows.count + s + 2 * p + 1] = second * scale;
    }
  }
}

// One row: the AVX2 kernel's tile of one row.
template <int kHeads, bool kBf16>
inline void score_row(const float* queries, int64_t width, const CachedRows& rows, int64_t s, float scale,
                      float* scores) {
  __m256 acc[kHeads];
  for (int g = 0; g < kHeads; ++g) acc[g] = _mm256_setzero_ps();
  for (int64_t i = 0; i < width; i += 8) {
    const __m256 value = load8<kBf16>(rows.rows[s], i);
    for (int g = 0; g < kHeads; ++g)
      acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(queries + g * width + i), value, acc[g]);
  }
  for (int g = 0; g < kHeads; ++g) scores[g * rows.count + s] = horizontal_sum(acc[g]) * scale;
}

inline void prefetch_row(const CachedRows& rows, int64_t s, int64_t row_bytes) {
  if (s >= rows.count) return;
  const char* row = reinterpret_cast<const char*>(rows.rows[s]);
  for (int64_t offset = 0; offset < row_bytes; offset += 64) _mm_prefetch(row + offset, _MM_HINT_T0);
}

// A block's first head group reads its rows from memory (decode has just streamed a layer's weights
// through the caches), so it asks for them kPrefetchRows ahead; the other groups find them in L2.
// (Asking for the next block's rows across all of this block's head groups measured no better at 4,096
// rows and 7-17% slower at 16,384.)
template <int kHeads, bool kBf16>
void scores_block(const float* queries, int64_t width, const CachedRows& rows, int64_t begin, int64_t end,
                  float scale, float* scores, bool first_group) {
  constexpr int kRows = 2 * kScorePairs;
  const int64_t row_bytes = width * (kBf16 ? 2 : 4);
  int64_t s = begin;
  for (; s + kRows <= end; s += kRows) {
    if (first_group)
      for (int r = 0; r < kRows; ++r) prefetch_row(rows, s + kPrefetchRows + r, row_bytes);
    scores_tile<kHeads, kScorePairs, kBf16>(queries, width, rows, s, scale, scores);
  }
  for (; s + 2 <= end; s += 2) scores_tile<kHeads, 1, kBf16>(queries, width, rows, s, scale, scores);
  if (s < end) score_row<kHeads, kBf16>(queries, width, rows, s, scale, scores);
}

template <bool kBf16>
void scores_all(const float* queries, int64_t num_heads, int64_t width, const CachedRows& rows, float scale,
                float* scores) {
  for (int64_t begin = 0; begin < rows.count; begin += kRowBlock) {
    const int64_t end = smaller(rows.count, begin + kRowBlock);
    for (int64_t h = 0; h < num_heads; h += kScoreHeads) {
      const float* group = queries + h * width;
      float* out = scores + h * rows.count;
      const bool first = h == 0;
      switch (smaller(kScoreHeads, num_heads - h)) {
#define CASE(n)                                                                \
  case n:                                                                      \
    scores_block<n, kBf16>(group, width, rows, begin, end, scale, out, first); \
    break;
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
#undef CASE
      }
    }
  }
}

// out[kHeads][kVectors * 16 columns from i] += sum over rows [begin, end) of weight * row: the
// accumulators stay in registers across the rows.
template <int kHeads, int kVectors, bool kBf16>
void sum_block(const float* weights, int64_t count, const CachedRows& rows, int64_t begin, int64_t end,
               int64_t i, int64_t width, float* out) {
  __m512 acc[kVectors * kHeads];
#pragma GCC unroll 12
  for (int k = 0; k < kVectors * kHeads; ++k)
    acc[k] = _mm512_loadu_ps(out + k / kVectors * width + i + 16 * (k % kVectors));
  for (int64_t s = begin; s < end; ++s) {
    __m512 value[kVectors];
    for (int v = 0; v < kVectors; ++v) value[v] = load16<kBf16>(rows.rows[s], i + 16 * v);
#pragma GCC unroll 6
    for (int g = 0; g < kHeads; ++g) {
      const __m512 weight = _mm512_set1_ps(weights[g * count + s]);
      for (int v = 0; v < kVectors; ++v)
        acc[g * kVectors + v] = _mm512_fmadd_ps(weight, value[v], acc[g * kVectors + v]);
    }
  }
#pragma GCC unroll 12
  for (int k = 0; k < kVectors * kHeads; ++k)
    _mm512_storeu_ps(out + k / kVectors * width + i + 16 * (k % kVectors), acc[k]);
}

template <int kVectors, bool kBf16>
void sum_heads(const float* weights, int64_t heads, const CachedRows& rows, int64_t begin, int64_t end,
               int64_t i, int64_t width, float* out) {
  switch (heads) {
#define CASE(n) \
  case n:       \
    return sum_block<n, kVectors, kBf16>(weights, rows.count, rows, begin, end, i, width, out);
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6)
#undef CASE
  }
}

template <bool kBf16>
void sum_group(const float* weights, int64_t heads, const CachedRows& rows, int64_t begin, int64_t end,
               int64_t first_column, int64_t end_column, int64_t width, float* out) {
  const int64_t blocked = width / 16 * 16;
  int64_t i = first_column;
  for (; i + 32 <= smaller(end_column, blocked); i += 32)
    sum_heads<2, kBf16>(weights, heads, rows, begin, end, i, width, out);
  if (i < smaller(end_column, blocked)) sum_heads<1, kBf16>(weights, heads, rows, begin, end, i, width, out);
  // Columns past the last multiple of 16: the same sequential order, scalar.
  if (end_column < width) return;
  for (int64_t g = 0; g < heads; ++g) {
    for (int64_t s = begin; s < end; ++s) {
      const float weight = weights[g * rows.count + s];
      for (int64_t c = blocked; c < width; ++c)
        out[g * width + c] = __builtin_fmaf(weight, row_scalar<kBf16>(rows.rows[s], c), out[g * width + c]);
    }
  }
}

template <bool kBf16>
void sum_all(const float* weights, int64_t num_heads, const CachedRows& rows, int64_t width, float* out) {
  __builtin_memset(out, 0, num_heads * width * sizeof(float));
  for (int64_t first_column = 0; first_column < width; first_column += kColumnStrip) {
    const int64_t end_column = smaller(width, first_column + kColumnStrip);
    for (int64_t begin = 0; begin < rows.count; begin += kRowBlock) {
      const int64_t end = smaller(rows.count, begin + kRowBlock);
      for (int64_t h = 0; h < num_heads; h += kSumHeads) {
        sum_group<kBf16>(weights + h * rows.count, smaller(kSumHeads, num_heads - h), rows, begin, end,
                         first_column, end_column, width, out + h * width);
      }
    }
  }
}

}  // namespace

void attention_scores_avx512(const float* queries, int64_t num_heads, int64_t width, const CachedRows& rows,
                             float scale, float* scores) {
  if (rows.dtype == DType::kBF16) return scores_all<true>(queries, num_heads, width, rows, scale, scores);
  scores_all<false>(queries, num_heads, width, rows, scale, scores);
}

void attention_weighted_sum_avx512(const float* weights, int64_t num_heads, const CachedRows& rows,
                                   int64_t width, float* out) {
  if (rows.dtype == DType::kBF16) return sum_all<true>(weights, num_heads, rows, width, out);
  sum_all<false>(weights, num_heads, rows, width, out);
}

}  // namespace cpm::kernels

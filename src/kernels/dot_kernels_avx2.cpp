// AVX2 + FMA + F16C row kernels. Compiled with -mavx2 -mfma -mf16c; only reached after cpu_has_avx2().
#include <immintrin.h>

#include "kernels/dot_kernels.h"

namespace cpm::kernels {

namespace {

inline __m256 load_f32(const uint8_t* w, int64_t i) {
  return _mm256_loadu_ps(reinterpret_cast<const float*>(w) + i);
}
inline __m256 load_f16(const uint8_t* w, int64_t i) {
  return _mm256_cvtph_ps(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(w) + i)));
}
inline __m256 load_bf16(const uint8_t* w, int64_t i) {
  const __m128i half =
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(w) + i));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
}
inline float scalar_f32(const uint8_t* w, int64_t i) {
  return reinterpret_cast<const float*>(w)[i];
}
inline float scalar_f16(const uint8_t* w, int64_t i) {
  return f16_to_f32(reinterpret_cast<const uint16_t*>(w)[i]);
}
inline float scalar_bf16(const uint8_t* w, int64_t i) {
  return bf16_to_f32(reinterpret_cast<const uint16_t*>(w)[i]);
}

inline float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// Four 8-lane accumulators over 32-element steps, then 8-element steps, then a scalar tail:
// a fixed order for a given n.
template <__m256 (*Load)(const uint8_t*, int64_t), float (*Scalar)(const uint8_t*, int64_t)>
float dot_avx2(const uint8_t* w, const float* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(Load(w, i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(Load(w, i + 8), _mm256_loadu_ps(x + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(Load(w, i + 16), _mm256_loadu_ps(x + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(Load(w, i + 24), _mm256_loadu_ps(x + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(Load(w, i), _mm256_loadu_ps(x + i), acc0);
  float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += Scalar(w, i) * x[i];
  return sum;
}

template <__m256 (*Load)(const uint8_t*, int64_t), float (*Scalar)(const uint8_t*, int64_t)>
void axpy_avx2(const uint8_t* w, float scale, float* y, int64_t n) {
  const __m256 factor = _mm256_set1_ps(scale);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(factor, Load(w, i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += scale * Scalar(w, i);
}

// combine for widths that are a multiple of 8: tiles of up to 4 inputs by 16 columns keep their sums
// in registers over all k rows, where axpy_avx2 reloads and stores y for every row. Each lane still
// sees fma(x[t][i], w, sum) for i = 0, 1, ... starting from zero: axpy_avx2's sequence.
template <__m256 (*Load)(const uint8_t*, int64_t), int T, int C>
void combine_tile(const uint8_t* w, int64_t w_stride, int64_t k, const float* const* x, float* const* y,
                  int64_t column) {
  __m256 sum[T][C];
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < C; ++c) sum[t][c] = _mm256_setzero_ps();
  for (int64_t i = 0; i < k; ++i) {
    __m256 weights[C];
    for (int c = 0; c < C; ++c) weights[c] = Load(w + i * w_stride, column + 8 * c);
    for (int t = 0; t < T; ++t) {
      const __m256 factor = _mm256_broadcast_ss(x[t] + i);
      for (int c = 0; c < C; ++c) sum[t][c] = _mm256_fmadd_ps(factor, weights[c], sum[t][c]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(y[t] + column + 8 * c, sum[t][c]);
}

// Four inputs over 16 columns at a time (8 for the last).
template <__m256 (*Load)(const uint8_t*, int64_t), int T>
void combine_columns(const uint8_t* w, int64_t w_stride, int64_t k, const float* const* x, float* const* y,
                     int64_t n) {
  int64_t column = 0;
  for (; column + 16 <= n; column += 16) combine_tile<Load, T, 2>(w, w_stride, k, x, y, column);
  for (; column < n; column += 8) combine_tile<Load, T, 1>(w, w_stride, k, x, y, column);
}

// Asks for the lines of a row of `bytes` bytes into L2.
inline void prefetch_row(const uint8_t* row, int64_t bytes) {
  const uintptr_t end = reinterpret_cast<uintptr_t>(row) + static_cast<uintptr_t>(bytes);
  for (uintptr_t line = reinterpret_cast<uintptr_t>(row) & ~uintptr_t{63}; line < end; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T1);
}

template <__m256 (*Load)(const uint8_t*, int64_t)>
constexpr int64_t element_bytes() {
  return Load == load_f32 ? 4 : 2;
}

// One input (a decode step): whole rows in order, y kept in L1 (axpy_avx2's sequence per lane), each
// row asking for the same row of `next`. Decode reads kv_b_proj one head's 64 rows after another;
// read by 64-column tiles, with the next head unrequested, they streamed at a third of the bandwidth
// (docs/PERFORMANCE.md).
template <__m256 (*Load)(const uint8_t*, int64_t)>
void combine_one(const uint8_t* w, int64_t w_stride, int64_t k, const float* x, float* y, int64_t n,
                 const uint8_t* next) {
  for (int64_t j = 0; j < n; j += 8) _mm256_storeu_ps(y + j, _mm256_setzero_ps());
  for (int64_t i = 0; i < k; ++i) {
    const uint8_t* row = w + i * w_stride;
    if (next != nullptr) prefetch_row(next + i * w_stride, n * element_bytes<Load>());
    const __m256 factor = _mm256_set1_ps(x[i]);
    for (int64_t j = 0; j < n; j += 8)
      _mm256_storeu_ps(y + j, _mm256_fmadd_ps(factor, Load(row, j), _mm256_loadu_ps(y + j)));
  }
}

template <__m256 (*Load)(const uint8_t*, int64_t), float (*Scalar)(const uint8_t*, int64_t)>
void combine_avx2(const uint8_t* w, int64_t w_stride, int64_t k, const float* const* x, float* const* y,
                  int64_t tokens, int64_t n, const uint8_t* next) {
  if (n % 8 != 0) return combine_by_rows<axpy_avx2<Load, Scalar>>(w, w_stride, k, x, y, tokens, n);
  int64_t t = 0;
  for (; t + 4 <= tokens; t += 4) combine_columns<Load, 4>(w, w_stride, k, x + t, y + t, n);
  for (; t < tokens; ++t) combine_one<Load>(w, w_stride, k, x[t], y[t], n, next);
}

// dots for two inputs at a time: dot_avx2's four accumulators per output and input, its steps and its
// final sums, with each widened weight vector used twice.
template <__m256 (*Load)(const uint8_t*, int64_t), float (*Scalar)(const uint8_t*, int64_t)>
void dots_avx2(const uint8_t* w, int64_t w_stride, int64_t outputs, const float* const* x, float* const* y,
               int64_t tokens, int64_t n, const uint8_t* next) {
  if (n % 32 != 0) return dots_by_rows<dot_avx2<Load, Scalar>>(w, w_stride, outputs, x, y, tokens, n);
  int64_t t = 0;
  for (; t + 2 <= tokens; t += 2) {
    for (int64_t o = 0; o < outputs; ++o) {
      const uint8_t* row = w + o * w_stride;
      __m256 acc[2][4];
      for (int u = 0; u < 2; ++u)
        for (int a = 0; a < 4; ++a) acc[u][a] = _mm256_setzero_ps();
      for (int64_t i = 0; i < n; i += 32) {
        for (int a = 0; a < 4; ++a) {
          const __m256 weights = Load(row, i + 8 * a);
          for (int u = 0; u < 2; ++u)
            acc[u][a] = _mm256_fmadd_ps(weights, _mm256_loadu_ps(x[t + u] + i + 8 * a), acc[u][a]);
        }
      }
      for (int u = 0; u < 2; ++u)
        y[t + u][o] = horizontal_sum(
            _mm256_add_ps(_mm256_add_ps(acc[u][0], acc[u][1]), _mm256_add_ps(acc[u][2], acc[u][3])));
    }
  }
  // One input left (a decode step): each row asks for the same row of `next`, as combine_one does.
  if (t < tokens) {
    for (int64_t o = 0; o < outputs; ++o) {
      if (next != nullptr) prefetch_row(next + o * w_stride, n * element_bytes<Load>());
      y[t][o] = dot_avx2<Load, Scalar>(w + o * w_stride, x[t], n);
    }
  }
}

}  // namespace

const RowKernels& avx2_row_kernels() {
  static const RowKernels kernels = [] {
    RowKernels result = portable_row_kernels();
    result.dot[dtype_index(DType::kF32)] = dot_avx2<load_f32, scalar_f32>;
    result.dot[dtype_index(DType::kF16)] = dot_avx2<load_f16, scalar_f16>;
    result.dot[dtype_index(DType::kBF16)] = dot_avx2<load_bf16, scalar_bf16>;
    result.axpy[dtype_index(DType::kF32)] = axpy_avx2<load_f32, scalar_f32>;
    result.axpy[dtype_index(DType::kF16)] = axpy_avx2<load_f16, scalar_f16>;
    result.axpy[dtype_index(DType::kBF16)] = axpy_avx2<load_bf16, scalar_bf16>;
    result.combine[dtype_index(DType::kF32)] = combine_avx2<load_f32, scalar_f32>;
    result.combine[dtype_index(DType::kF16)] = combine_avx2<load_f16, scalar_f16>;
    result.combine[dtype_index(DType::kBF16)] = combine_avx2<load_bf16, scalar_bf16>;
    result.dots[dtype_index(DType::kF32)] = dots_avx2<load_f32, scalar_f32>;
    result.dots[dtype_index(DType::kF16)] = dots_avx2<load_f16, scalar_f16>;
    result.dots[dtype_index(DType::kBF16)] = dots_avx2<load_bf16, scalar_bf16>;
    return result;
  }();
  return kernels;
}

}  // namespace cpm::kernels

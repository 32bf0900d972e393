// Float weights (f32, f16, bf16) against a few activation rows (batched decode) with AVX-512: two
// weight rows per 512-bit register, one in each half. Each half is float_tile's eight-lane accumulator
// (matmul_avx2.cpp): the same FMAs in the same order, then the same lane sum per output, so the bits
// are those of the AVX2 tile and of one row alone. Only where cpu_has_avx512(), and for reduced
// dimensions that are a multiple of 8 (no scalar tail).
//
// Nothing from the standard library here (see matmul_quant_avx512.cpp). GCC 12's AVX-512 intrinsics
// (_mm512_extractf64x4_pd and others) start from an undefined register and warn that it is used
// uninitialized (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/matmul_tiles.h"

namespace cpm::kernels {

namespace {

constexpr int kRows = kFloatTileRowsAvx512;          // as kFloatDecodeRows
constexpr int kPairs = kFloatTileOutputsAvx512 / 2;  // 16 accumulators, 4 weight and 1 activation register

// Weights i .. i + 7 of rows a (low half) and b (high half) as f32.
template <DType kType>
inline __m512 load_pair(const uint8_t* a, const uint8_t* b, int64_t i) {
  if constexpr (kType == DType::kF32) {
    const float* fa = reinterpret_cast<const float*>(a) + i;
    const float* fb = reinterpret_cast<const float*>(b) + i;
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(fa))),
                                               _mm256_castps_pd(_mm256_loadu_ps(fb)), 1));
  } else {
    const __m128i low =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(a) + i));
    const __m128i high =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(b) + i));
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(low), high, 1);
    if constexpr (kType == DType::kF16) return _mm512_cvtph_ps(both);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(both), 16));
  }
}

// matmul_avx2.cpp's lane_sum, on one half. A copy on purpose: an inline function shared with the AVX2
// file could be linked in its AVX-512 build and run on CPUs without it.
inline float lane_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

template <DType kType>
void float_tile(const float* x, int64_t x_stride, const MatrixView& w, int64_t o, float* y,
                int64_t y_stride) {
  constexpr int kOutputs = 2 * kPairs;
  constexpr int64_t kElementBytes = kType == DType::kF32 ? 4 : 2;
  const uint8_t* rows[kOutputs];
  for (int c = 0; c < kOutputs; ++c) rows[c] = w.row(o + c);
  const int64_t tile_bytes = kOutputs * w.row_bytes;
  const int64_t tiles_ahead = kFloatPrefetchBytes / tile_bytes;
  const int64_t next_tile = (tiles_ahead > 1 ? tiles_ahead : 1) * tile_bytes;
  __m512 acc[kRows][kPairs];
  for (int r = 0; r < kRows; ++r)
    for (int p = 0; p < kPairs; ++p) acc[r][p] = _mm512_setzero_ps();
  for (int64_t i = 0; i < w.cols; i += 8) {
    if (i % (64 / kElementBytes) == 0)
      for (int c = 0; c < kOutputs; ++c)
        _mm_prefetch(reinterpret_cast<const char*>(rows[c] + i * kElementBytes + next_tile), _MM_HINT_T1);
    __m512 weights[kPairs];
    for (int p = 0; p < kPairs; ++p) weights[p] = load_pair<kType>(rows[2 * p], rows[2 * p + 1], i);
    for (int r = 0; r < kRows; ++r) {
      const __m256 eight = _mm256_loadu_ps(x + r * x_stride + i);
      const __m512 activations = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(eight)));
      for (int p = 0; p < kPairs; ++p) acc[r][p] = _mm512_fmadd_ps(weights[p], activations, acc[r][p]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int p = 0; p < kPairs; ++p) {
      const __m256 low = _mm512_castps512_ps256(acc[r][p]);
      const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][p]), 1));
      y[r * y_stride + o + 2 * p] = lane_sum(low);
      y[r * y_stride + o + 2 * p + 1] = lane_sum(high);
    }
  }
}

template <DType kType>
void float_tiles(const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, int64_t o_begin,
                 int64_t o_end, float* y, int64_t y_stride) {
  for (int64_t o = o_begin; o + 2 * kPairs <= o_end; o += 2 * kPairs)
    for (int64_t r = 0; r + kRows <= rows; r += kRows)
      float_tile<kType>(x + r * x_stride, x_stride, w, o, y + r * y_stride, y_stride);
}

}  // namespace

void float_tiles_avx512(const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, int64_t o_begin,
                        int64_t o_end, float* y, int64_t y_stride) {
  if (w.dtype == DType::kF32)
    return float_tiles<DType::kF32>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
  if (w.dtype == DType::kF16)
    return float_tiles<DType::kF16>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
  float_tiles<DType::kBF16>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
}

}  // namespace cpm::kernels

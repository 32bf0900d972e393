// AVX2 + FMA matmul tiles. Float weights: each output element is accumulated in one 8-lane register
// over the reduced dimension in order, 8 elements a step, then summed across lanes the same way.
// Quantized weights: matmul_quant_body.h, in the order described in matmul_tiles.h. A tile of R
// activation rows by O weight rows shares loads but never changes the order, so results are bitwise
// independent of tile shape and batch.
#include <immintrin.h>

#include <algorithm>

#include "core/dtype.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul_tiles.h"
#include "kernels/quant_blocks.h"
#include "kernels/weight_loads_avx2.h"

namespace cpm::kernels {
constexpr bool kUseAvxVnni = false;
}  // namespace cpm::kernels

#include "kernels/matmul_quant_body.h"

namespace cpm::kernels {

namespace {

inline int32_t lane_sum_epi32(__m256i v) {
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  sum = _mm_add_epi32(sum, _mm_unpackhi_epi64(sum, sum));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 1));
  return _mm_cvtsi128_si32(sum);
}

inline float lane_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// lane_sum of eight vectors at once, with the same additions in the same pairs, so the same bits:
// lanes i and i + 4, then those sums' lanes 0 and 2 and lanes 1 and 3, then the two results.
inline __m256 lane_sums8(const __m256* v) {
  __m256 halves[4];  // halves[i]: lane sums i + 4 of v[i] (low 128 bits) and of v[i + 4] (high)
  for (int i = 0; i < 4; ++i) {
    halves[i] = _mm256_add_ps(_mm256_permute2f128_ps(v[i], v[i + 4], 0x20),
                              _mm256_permute2f128_ps(v[i], v[i + 4], 0x31));
  }
  __m256 pairs[2];  // pairs[j]: (0 + 2, 1 + 3) of halves[2j] then of halves[2j + 1], per 128 bits
  for (int j = 0; j < 2; ++j) {
    const __m256 a = halves[2 * j], b = halves[2 * j + 1];
    pairs[j] = _mm256_add_ps(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  return _mm256_hadd_ps(pairs[0], pairs[1]);  // v[0..3] in the low 128 bits, v[4..7] in the high
}

// Fewer activation rows than this take the decode tiles, kFloatDecodeRows rows at a time with each
// weight widened once for them; more take the panels. On a Zen 4 (2 threads, MiniCPM3-4B bf16) the
// tiles decoded batches of 4, 8 and 16 at 16.1, 18.1 and 18.3 tokens/s where the panels ran 6.8, 10.4
// and 14.3, and prefilled 16 rows at 18.9 tokens/s against 15.0, 32 at 19.0 against 18.5; at 40
// rows the panels were ahead, 18.9 against 18.2.
constexpr int64_t kFloatDecodeMaxRows = 32;
constexpr int kFloatDecodeRows = 4;

// Decode: R activation rows against O weight rows streamed at once. Short streams are more than the
// hardware prefetcher follows well, so each line read asks for the line at the same place in a later
// tile's rows (the next tile the thread runs, or further for short rows). On a Zen 4 asking into L2 streamed
// bf16 at 1.2-1.9x the speed of asking for each row's line 1 KB ahead into L1, which had measured best on the
// machines before. Single rows ask into L1: on a Zen 5 a token's bf16 products streamed 7-12% faster
// so with four rows in flight, and level with eight (docs/PERFORMANCE.md).
template <DType kType, int O, int R>
void float_tile(const float* x, int64_t x_stride, const MatrixView& w, int64_t o, float* y,
                int64_t y_stride) {
  const int64_t n = w.cols, full = n / 8 * 8;
  __m256 acc[R][O];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < O; ++c) acc[r][c] = _mm256_setzero_ps();
  const uint8_t* rows[O];
  for (int c = 0; c < O; ++c) rows[c] = w.row(o + c);
  constexpr int64_t kElementBytes = kType == DType::kF32 ? 4 : 2;
  const int64_t tile_bytes = O * w.row_bytes;
  const int64_t next_tile = std::max<int64_t>(1, kFloatPrefetchBytes / tile_bytes) * tile_bytes;
  for (int64_t i = 0; i < full; i += 8) {
    if constexpr (O > 1) {
      if (i % (64 / kElementBytes) == 0)
        for (int c = 0; c < O; ++c)
          _mm_prefetch(reinterpret_cast<const char*>(rows[c] + i * kElementBytes + next_tile),
                       R == 1 ? _MM_HINT_T0 : _MM_HINT_T1);
    }
    if constexpr (R == 1) {  // the weights widened as they are used
      const __m256 activations = _mm256_loadu_ps(x + i);
      for (int c = 0; c < O; ++c)
        acc[0][c] = _mm256_fmadd_ps(load_weights<kType>(rows[c], i), activations, acc[0][c]);
    } else {
      __m256 weights[O];
      for (int c = 0; c < O; ++c) weights[c] = load_weights<kType>(rows[c], i);
      for (int r = 0; r < R; ++r) {
        const __m256 activations = _mm256_loadu_ps(x + r * x_stride + i);
        for (int c = 0; c < O; ++c) acc[r][c] = _mm256_fmadd_ps(weights[c], activations, acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < O; ++c) {
      float sum = lane_sum(acc[r][c]);
      for (int64_t i = full; i < n; ++i) sum += weight_scalar<kType>(rows[c], i) * x[r * x_stride + i];
      y[r * y_stride + o + c] = sum;
    }
  }
}

// Activation rows in tiles of kFloatDecodeRows, each weight widened once for all of a tile's rows.
template <DType kType, int O>
void float_outputs(const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, int64_t o, float* y,
                   int64_t y_stride) {
  int64_t r = 0;
  for (; r + kFloatDecodeRows <= rows; r += kFloatDecodeRows)
    float_tile<kType, O, kFloatDecodeRows>(x + r * x_stride, x_stride, w, o, y + r * y_stride, y_stride);
  for (; r < rows; ++r) float_tile<kType, O, 1>(x + r * x_stride, x_stride, w, o, y + r * y_stride, y_stride);
}

template <DType kType, int O>
void float_rows(const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, int64_t o_begin,
                int64_t o_end, float* y, int64_t y_stride) {
  int64_t o = o_begin;
  for (; o + O <= o_end; o += O) float_outputs<kType, O>(x, rows, x_stride, w, o, y, y_stride);
  for (; o < o_end; ++o) float_outputs<kType, 1>(x, rows, x_stride, w, o, y, y_stride);
}

template <DType kType>
void float_decode(const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, int64_t o_begin,
                  int64_t o_end, float* y, int64_t y_stride) {
  // Weight rows in flight. On a Zen 4 at 45-50 GB/s a token's bf16 products streamed 41-45 GB/s with
  // two against 36-41 with eight (three and four as eight, one at 28: one accumulator waits on the
  // FMA). On a Zen 5 bf16 decode ran 27-30% faster with four than with two, and a token's products
  // streamed 47.8-51.0 GB/s with eight against 38.6-44.3 with four (46.7-47.7 asking into L1), 49.9
  // with twelve and 48.0 with sixteen (docs/PERFORMANCE.md). Single rows take eight; tiles of
  // kFloatDecodeRows rows keep two (four would need more than sixteen registers).
  if (rows < kFloatDecodeRows) return float_rows<kType, 8>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
  if (cpu_has_avx512() && w.cols % 8 == 0) {
    // Tiles of 4 rows by 8 outputs with AVX-512 (same bits); what they leave, as below.
    static_assert(kFloatTileRowsAvx512 == kFloatDecodeRows);
    const int64_t tiled_rows = rows / kFloatDecodeRows * kFloatDecodeRows;
    const int64_t tiled_end = o_begin + (o_end - o_begin) / kFloatTileOutputsAvx512 * kFloatTileOutputsAvx512;
    float_tiles_avx512(x, tiled_rows, x_stride, w, o_begin, tiled_end, y, y_stride);
    float_rows<kType, 2>(x, tiled_rows, x_stride, w, tiled_end, o_end, y, y_stride);
    if (tiled_rows < rows) {
      float_rows<kType, 8>(x + tiled_rows * x_stride, rows - tiled_rows, x_stride, w, o_begin, o_end,
                           y + tiled_rows * y_stride, y_stride);
    }
    return;
  }
  float_rows<kType, 2>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
}

// Prefill over float weights in panels: a panel is kFloatPanelOutputs weight rows over kFloatPanelWidth
// of the reduced dimension, widened to f32 once (bf16 and f16) for a whole row block, instead of
// once per tile of 4 activation rows. The panel (24 KB) and a row tile's
// activations over the same width (8 KB) both stay in L1 while the tile runs over every output.
// Each (row, output) keeps its 8-lane accumulator across panels, parked in memory between them, so
// the sums run in float_tile's order (decode) and the results are bitwise the same.
constexpr int kFloatTileRows = 4, kFloatTileOutputs = 3;
constexpr int64_t kFloatPanelOutputs = 12;  // 4 tiles of 3
constexpr int64_t kFloatPanelWidth = 512;
// Activation rows per block: each weight is read from memory once per block (128 rows measured 3.5%
// faster than 64 in bf16 prefill on Zen 3, three alternated pairs; docs/PERFORMANCE.md).
constexpr int64_t kFloatPanelRowBlock = 128;

template <DType kType>
const float* panel_row(const uint8_t* row, int64_t k0, int64_t width, float* buffer) {
  if constexpr (kType == DType::kF32) {
    return reinterpret_cast<const float*>(row) + k0;
  } else {
    for (int64_t i = 0; i < width; i += 8) _mm256_store_ps(buffer + i, load_weights<kType>(row, k0 + i));
    return buffer;
  }
}

// One R × O tile over `width` (at least 8) columns of the panel; parked holds its R × O accumulators,
// row-major with row stride `parked_stride`. The loop always runs: with a loop that might not, GCC
// kept a stack copy of all twelve accumulators, stored and reloaded on every call (about 5% of the
// tile's time at 64 steps a call).
template <int R, int O>
inline __attribute__((always_inline)) void panel_tile(const float* x, int64_t x_stride,
                                                      const float* const* panel, int64_t width,
                                                      __m256* parked, int64_t parked_stride) {
  __m256 acc[R][O];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < O; ++c) acc[r][c] = parked[r * parked_stride + c];
  int64_t i = 0;
  do {
    __m256 weights[O];
    for (int c = 0; c < O; ++c) weights[c] = _mm256_loadu_ps(panel[c] + i);
    for (int r = 0; r < R; ++r) {
      const __m256 activations = _mm256_loadu_ps(x + r * x_stride + i);
      for (int c = 0; c < O; ++c) acc[r][c] = _mm256_fmadd_ps(weights[c], activations, acc[r][c]);
    }
    i += 8;
  } while (i < width);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < O; ++c) parked[r * parked_stride + c] = acc[r][c];
}

// R rows against the panel's `outputs` rows, O at a time. Out of line, with the tiles inlined: one
// call per row tile instead of one per tile.
template <int R>
__attribute__((noinline)) void panel_rows(const float* x, int64_t x_stride, const float* const* panel,
                                          int64_t outputs, int64_t width, __m256* parked) {
  int64_t c = 0;
  for (; c + kFloatTileOutputs <= outputs; c += kFloatTileOutputs)
    panel_tile<R, kFloatTileOutputs>(x, x_stride, panel + c, width, parked + c, kFloatPanelOutputs);
  for (; c < outputs; ++c) panel_tile<R, 1>(x, x_stride, panel + c, width, parked + c, kFloatPanelOutputs);
}

// Outputs [o, o + outputs) for rows [r0, r1): the panels over the reduced dimension, then the lane
// sums and the scalar tail exactly as float_tile ends.
template <DType kType>
void panel_block(const float* x, int64_t x_stride, const MatrixView& w, int64_t o, int64_t outputs,
                 int64_t r0, int64_t r1, float* y, int64_t y_stride) {
  alignas(32) static thread_local float buffer[kFloatPanelOutputs][kFloatPanelWidth];
  static thread_local __m256 parked[kFloatPanelRowBlock * kFloatPanelOutputs];
  constexpr int64_t kElementBytes = kType == DType::kF32 ? 4 : 2;
  const int64_t n = w.cols, full = n / 8 * 8;
  for (int64_t i = 0; i < (r1 - r0) * kFloatPanelOutputs; ++i) parked[i] = _mm256_setzero_ps();
  for (int64_t k0 = 0; k0 < full; k0 += kFloatPanelWidth) {
    const int64_t width = std::min(kFloatPanelWidth, full - k0);
    const float* panel[kFloatPanelOutputs];
    for (int64_t c = 0; c < outputs; ++c) panel[c] = panel_row<kType>(w.row(o + c), k0, width, buffer[c]);
    // The next panel's weight lines (this group's next columns, or the next group's first ones), a
    // few per tile, so they arrive from memory while this panel runs.
    const bool last_panel = k0 + kFloatPanelWidth >= full;
    const int64_t next_column = last_panel ? 0 : k0 + kFloatPanelWidth;
    const int64_t next_row = last_panel ? o + outputs : o;
    const int64_t next_rows = std::clamp<int64_t>(w.rows - next_row, 0, kFloatPanelOutputs);
    const int64_t lines_per_row = (std::min(kFloatPanelWidth, full - next_column) * kElementBytes + 63) / 64;
    const int64_t lines = next_rows * lines_per_row;
    const int64_t tiles = (r1 - r0) / kFloatTileRows;
    const int64_t lines_per_tile = tiles > 0 ? (lines + tiles - 1) / tiles : 0;
    int64_t line = 0;
    int64_t r = r0;
    for (; r + kFloatTileRows <= r1; r += kFloatTileRows) {
      for (int64_t end = std::min(lines, line + lines_per_tile); line < end; ++line) {
        const uint8_t* row = w.row(next_row + line / lines_per_row) + next_column * kElementBytes;
        _mm_prefetch(reinterpret_cast<const char*>(row + (line % lines_per_row) * 64), _MM_HINT_T1);
      }
      panel_rows<kFloatTileRows>(x + r * x_stride + k0, x_stride, panel, outputs, width,
                                 parked + (r - r0) * kFloatPanelOutputs);
    }
    for (; r < r1; ++r)
      panel_rows<1>(x + r * x_stride + k0, x_stride, panel, outputs, width,
                    parked + (r - r0) * kFloatPanelOutputs);
  }
  for (int64_t r = r0; r < r1; ++r) {
    const __m256* row_parked = parked + (r - r0) * kFloatPanelOutputs;
    int64_t c = 0;
    if (full == n) {  // no scalar tail: eight outputs' lane sums at a time
      for (; c + 8 <= outputs; c += 8) _mm256_storeu_ps(y + r * y_stride + o + c, lane_sums8(row_parked + c));
    }
    for (; c < outputs; ++c) {
      float sum = lane_sum(row_parked[c]);
      for (int64_t i = full; i < n; ++i) sum += weight_scalar<kType>(w.row(o + c), i) * x[r * x_stride + i];
      y[r * y_stride + o + c] = sum;
    }
  }
}

template <DType kType>
void float_panels(const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, int64_t o_begin,
                  int64_t o_end, float* y, int64_t y_stride) {
  for (int64_t r0 = 0; r0 < rows; r0 += kFloatPanelRowBlock) {
    const int64_t r1 = std::min(rows, r0 + kFloatPanelRowBlock);
    for (int64_t o = o_begin; o < o_end; o += kFloatPanelOutputs)
      panel_block<kType>(x, x_stride, w, o, std::min(kFloatPanelOutputs, o_end - o), r0, r1, y, y_stride);
  }
}

template <DType kType>
void float_range(const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, int64_t o_begin,
                 int64_t o_end, float* y, int64_t y_stride) {
  if (rows < kFloatDecodeMaxRows)
    return float_decode<kType>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
  float_panels<kType>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
}

}  // namespace

void matmul_range_avx2(const float* x, const ActivationBlock* xq, int64_t rows, int64_t x_stride,
                       const MatrixView& w, int64_t o_begin, int64_t o_end, float* y, int64_t y_stride) {
  switch (w.dtype) {
    case DType::kF32:
      return float_range<DType::kF32>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
    case DType::kF16:
      return float_range<DType::kF16>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
    case DType::kBF16:
      return float_range<DType::kBF16>(x, rows, x_stride, w, o_begin, o_end, y, y_stride);
    case DType::kQ8_0:
    case DType::kQ4_0:
      if (cpu_has_avx_vnni()) return quant_range_avxvnni(xq, rows, w, o_begin, o_end, y, y_stride);
      return run_quant_range(xq, rows, w, o_begin, o_end, y, y_stride);
  }
}

void quant_panels_avx2(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                       int64_t o_end, float* y, int64_t y_stride) {
  run_panels(xq, rows, w, o_begin, o_end, y, y_stride);
}

// quantize_activations with the same results: the largest magnitude ignores NaNs as std::max does
// (vmaxps returns its second operand when either is NaN), and vcvtps2dq rounds to nearest even under
// the default rounding mode as lrintf does; both give -127 after the clamp for NaN.
void quantize_activations_avx2(const float* x, int64_t n, ActivationBlock* out) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i low_limit = _mm256_set1_epi32(-127), high_limit = _mm256_set1_epi32(127);
  for (int64_t b = 0; b < n / 32; ++b) {
    __m256 v[4];
    __m256 largest = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(x + b * 32 + 8 * k);
      largest = _mm256_max_ps(_mm256_andnot_ps(sign, v[k]), largest);
    }
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(largest, 1), _mm256_castps256_ps128(largest));
    m = _mm_max_ps(_mm_movehl_ps(m, m), m);
    m = _mm_max_ss(_mm_movehdup_ps(m), m);
    const float scale = f16_to_f32(f32_to_f16(_mm_cvtss_f32(m) / 127.0f));
    const __m256 inverse = _mm256_set1_ps(scale > 0 ? 1.0f / scale : 0.0f);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) {
      q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], inverse));
      q[k] = _mm256_min_epi32(_mm256_max_epi32(q[k], low_limit), high_limit);
    }
    ActivationBlock& a = out[b];
    const int32_t sum =
        lane_sum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    // packs works within 128-bit lanes: the bytes come out as dwords 0 4 1 5 2 6 3 7.
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_store_si256(reinterpret_cast<__m256i*>(a.values),
                       _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    a.offset = 8 * sum;
    a.scale = scale;
  }
}

}  // namespace cpm::kernels

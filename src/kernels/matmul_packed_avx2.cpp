// AVX2 + FMA packed GEMM for float weights: matmul's SummationOrder::kFastest over many rows.
//
// The batch-invariant tiles (matmul_avx2.cpp) sum each output in 8 lanes and then across them, so
// they read weights and activations along the reduced dimension and every output needs its own
// accumulator per row: at most 12 outputs in registers, 65-70% of the FMA peak. This is the form of
// BLAS kernels instead (BLIS, OpenBLAS): a tile of 6 activation rows by 16 outputs, the reduced
// dimension stepped one element at a time, each step 6 broadcast activations times 16 weights in two
// registers into 12 accumulators. Both operands are packed so each step reads them contiguously.
// docs/PERFORMANCE.md has the measurements (bf16 prefill +13.5% in the whole model).
//
// Order: each output is one chain acc = fma(x[k], w[k], acc) over k in order from acc = 0. It does
// not depend on tiles or threads, but it is not the batch-invariant tiles' order, so rows computed
// here differ in the last bits from the same rows computed alone.
#include <immintrin.h>

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul_tiles.h"
#include "kernels/transpose_avx.h"
#include "kernels/weight_loads_avx2.h"

namespace cpm::kernels {

namespace {

// Packed weights of one task: up to 96 outputs over one depth block (96 KB, in L2 next to a block of
// packed rows), 128 for the AVX-512 tiles (matmul.cpp's packed_output_grain says why).
constexpr int64_t kPackedTaskOutputs = 128, kPackedTaskOutputsAvx2 = 96;
// Row tiles run per output group before the next group: 96 rows over one depth block, 96 KB.
constexpr int64_t kPackedRowBlock = 96;
static_assert(kPackedRowBlock % kPackedTileRows == 0 && kPackedTaskOutputs % kPackedTileOutputs == 0);

// Where row tile `tile` of the depth block starting at column k0 (`depth` columns) begins in the
// packed x, for a product of `tiles` row tiles (the layout of matmul_tiles.h).
inline int64_t packed_tile_offset(int64_t tiles, int64_t k0, int64_t depth, int64_t tile) {
  return (k0 * tiles + tile * depth) * kPackedTileRows;
}

// 16 outputs from `first` over [k0, k0 + depth) into out[k * 16 + c], widened to f32.
template <DType kType>
void pack_weights(const MatrixView& w, int64_t first, int64_t k0, int64_t depth, float* out) {
  const int64_t full = depth / 8 * 8;
  for (int half = 0; half < 2; ++half) {
    const uint8_t* rows[8];
    for (int c = 0; c < 8; ++c) rows[c] = w.row(first + 8 * half + c);
    for (int64_t k = 0; k < full; k += 8) {
      __m256 v[8];
      for (int c = 0; c < 8; ++c) v[c] = load_weights<kType>(rows[c], k0 + k);
      transpose8(v);
      for (int j = 0; j < 8; ++j) _mm256_store_ps(out + (k + j) * kPackedTileOutputs + 8 * half, v[j]);
    }
    for (int64_t k = full; k < depth; ++k)
      for (int c = 0; c < 8; ++c)
        out[k * kPackedTileOutputs + 8 * half + c] = weight_scalar<kType>(rows[c], k0 + k);
  }
}

// R rows (of a 6-row tile) by 16 outputs over `depth` steps:
// c[r * c_stride + o] (+)= sum over k of a[k * 6 + r] * b[k * 16 + o]. R < 6 only for the last tile.
// The loop always runs (depth >= 1): with one that might not, GCC spills the accumulators.
template <int R>
__attribute__((noinline)) void packed_tile(const float* a, const float* b, int64_t depth, float* c,
                                           int64_t c_stride, bool accumulate) {
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    acc[r][0] = accumulate ? _mm256_loadu_ps(c + r * c_stride) : _mm256_setzero_ps();
    acc[r][1] = accumulate ? _mm256_loadu_ps(c + r * c_stride + 8) : _mm256_setzero_ps();
  }
  int64_t k = 0;
  do {
    const __m256 low = _mm256_load_ps(b + k * kPackedTileOutputs);
    const __m256 high = _mm256_load_ps(b + k * kPackedTileOutputs + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 activation = _mm256_broadcast_ss(a + k * kPackedTileRows + r);
      acc[r][0] = _mm256_fmadd_ps(activation, low, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(activation, high, acc[r][1]);
    }
  } while (++k < depth);
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(c + r * c_stride, acc[r][0]);
    _mm256_storeu_ps(c + r * c_stride + 8, acc[r][1]);
  }
}

void run_tile(int64_t rows, const float* a, const float* b, int64_t depth, float* c, int64_t c_stride,
              bool accumulate) {
  switch (rows) {
    case 1:
      return packed_tile<1>(a, b, depth, c, c_stride, accumulate);
    case 2:
      return packed_tile<2>(a, b, depth, c, c_stride, accumulate);
    case 3:
      return packed_tile<3>(a, b, depth, c, c_stride, accumulate);
    case 4:
      return packed_tile<4>(a, b, depth, c, c_stride, accumulate);
    case 5:
      return packed_tile<5>(a, b, depth, c, c_stride, accumulate);
    default:
      return packed_tile<6>(a, b, depth, c, c_stride, accumulate);
  }
}

// Outputs [o_begin, o_end), at most kPackedTaskOutputs and a multiple of 16, for all rows.
template <DType kType>
void packed_task(const float* packed_x, int64_t rows, const MatrixView& w, int64_t o_begin, int64_t o_end,
                 float* y, int64_t y_stride) {
  alignas(64) static thread_local float packed_w[kPackedTaskOutputs * kPackedDepth];
  const int64_t tiles = packed_row_tiles(rows);
  for (int64_t k0 = 0; k0 < w.cols; k0 += kPackedDepth) {
    const int64_t depth = std::min(kPackedDepth, w.cols - k0);
    for (int64_t o = o_begin; o < o_end; o += kPackedTileOutputs)
      pack_weights<kType>(w, o, k0, depth, packed_w + (o - o_begin) * depth);
    const bool accumulate = k0 > 0;
    for (int64_t t0 = 0; t0 < tiles; t0 += kPackedRowBlock / kPackedTileRows) {
      const int64_t t1 = std::min(tiles, t0 + kPackedRowBlock / kPackedTileRows);
      if (cpu_has_avx512()) {
        const int64_t r0 = t0 * kPackedTileRows;
        packed_block_avx512(packed_x + packed_tile_offset(tiles, k0, depth, t0),
                            std::min(rows, t1 * kPackedTileRows) - r0, packed_w, o_end - o_begin, depth,
                            y + r0 * y_stride + o_begin, y_stride, accumulate);
        continue;
      }
      for (int64_t o = o_begin; o < o_end; o += kPackedTileOutputs) {
        const float* b = packed_w + (o - o_begin) * depth;
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t r = t * kPackedTileRows;
          run_tile(std::min(kPackedTileRows, rows - r), packed_x + packed_tile_offset(tiles, k0, depth, t), b,
                   depth, y + r * y_stride + o, y_stride, accumulate);
        }
      }
    }
  }
}

template <DType kType>
void packed_range(const float* packed_x, const float* x, int64_t rows, int64_t x_stride, const MatrixView& w,
                  int64_t o_begin, int64_t o_end, float* y, int64_t y_stride) {
  const int64_t packed_end = o_begin + (o_end - o_begin) / kPackedTileOutputs * kPackedTileOutputs;
  const int64_t task = cpu_has_avx512() ? kPackedTaskOutputs : kPackedTaskOutputsAvx2;
  for (int64_t o = o_begin; o < packed_end; o += task)
    packed_task<kType>(packed_x, rows, w, o, std::min(o + task, packed_end), y, y_stride);
  // Fewer than 16 outputs left: the batch-invariant tiles.
  if (packed_end < o_end) matmul_range_avx2(x, nullptr, rows, x_stride, w, packed_end, o_end, y, y_stride);
}

}  // namespace

void pack_rows_avx2(const float* x, int64_t rows, int64_t x_stride, int64_t cols, int64_t task_begin,
                    int64_t task_end, float* packed) {
  const int64_t tiles = packed_row_tiles(rows);
  for (int64_t task = task_begin; task < task_end; ++task) {
    const int64_t k0 = task / tiles * kPackedDepth, tile = task % tiles;
    const int64_t depth = std::min(kPackedDepth, cols - k0), first = tile * kPackedTileRows;
    float* out = packed + packed_tile_offset(tiles, k0, depth, tile);
    const int64_t count = std::min<int64_t>(kPackedTileRows, rows - first), full = depth / 8 * 8;
    const float* row[kPackedTileRows];
    for (int r = 0; r < count; ++r) row[r] = x + (first + r) * x_stride + k0;
    for (int64_t k = 0; k < full; k += 8) {
      __m256 v[8];
      for (int r = 0; r < 8; ++r) v[r] = r < count ? _mm256_loadu_ps(row[r] + k) : _mm256_setzero_ps();
      transpose8(v);
      for (int j = 0; j < 8; ++j) {  // rows 0-5 of step k + j: four floats, then two
        float* step = out + (k + j) * kPackedTileRows;
        _mm_storeu_ps(step, _mm256_castps256_ps128(v[j]));
        _mm_storel_pi(reinterpret_cast<__m64*>(step + 4), _mm256_extractf128_ps(v[j], 1));
      }
    }
    for (int64_t k = full; k < depth; ++k)
      for (int r = 0; r < kPackedTileRows; ++r) out[k * kPackedTileRows + r] = r < count ? row[r][k] : 0.0f;
  }
}

void packed_range_avx2(const float* packed_x, const float* x, int64_t rows, int64_t x_stride,
                       const MatrixView& w, int64_t o_begin, int64_t o_end, float* y, int64_t y_stride) {
  switch (w.dtype) {
    case DType::kF32:
      return packed_range<DType::kF32>(packed_x, x, rows, x_stride, w, o_begin, o_end, y, y_stride);
    case DType::kF16:
      return packed_range<DType::kF16>(packed_x, x, rows, x_stride, w, o_begin, o_end, y, y_stride);
    case DType::kBF16:
      return packed_range<DType::kBF16>(packed_x, x, rows, x_stride, w, o_begin, o_end, y, y_stride);
    case DType::kQ8_0:
    case DType::kQ4_0:
      break;
  }
  fail("internal: the packed GEMM takes float weights only");
}

}  // namespace cpm::kernels

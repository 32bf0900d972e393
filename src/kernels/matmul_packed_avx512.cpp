// AVX-512 form of the packed GEMM's inner loops (matmul_packed_avx2.cpp), where the CPU has AVX-512F.
// Same packed operands, same FMA chain per output (acc = fma(x[k], w[k], acc) over k in order), so
// the same bits; a register holds a whole 16-output weight step, and a tile is 6 rows by 64 outputs
// (24 accumulators of the 32 registers) where the AVX2 tile is 6 by 16. On cores with full-width
// 512-bit FMA units (Zen 5) that doubles the arithmetic per instruction. On a Zen 5, matmul_bench's
// bf16_fastest/512 ran 126-133 GFLOP/s on one thread in tiles of 32 outputs, 139-149 in 48 and 171
// in 64 (221 is the core's peak).
//
// Nothing from the standard library here: an inline template instantiated in this file could be the
// copy the linker keeps for the whole program, built for AVX-512, and run on CPUs without it.
#include <immintrin.h>

#include "kernels/matmul_tiles.h"

namespace cpm::kernels {

namespace {

// R rows (of a 6-row tile) by T 16-output weight tiles, over `depth` steps. The loop always runs
// (depth >= 1): with one that might not, GCC spills the accumulators.
template <int R, int T>
__attribute__((noinline)) void packed_tile(const float* a, const float* b, int64_t b_tile_floats,
                                           int64_t depth, float* c, int64_t c_stride, bool accumulate) {
  __m512 acc[R][T];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t)
      acc[r][t] = accumulate ? _mm512_loadu_ps(c + r * c_stride + 16 * t) : _mm512_setzero_ps();
  int64_t k = 0;
  do {
    __m512 weights[T];
    for (int t = 0; t < T; ++t) weights[t] = _mm512_load_ps(b + t * b_tile_floats + k * kPackedTileOutputs);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m512 activation = _mm512_set1_ps(a[k * kPackedTileRows + r]);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(activation, weights[t], acc[r][t]);
    }
  } while (++k < depth);
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(c + r * c_stride + 16 * t, acc[r][t]);
}

template <int T>
void run_tile(int64_t rows, const float* a, const float* b, int64_t b_tile_floats, int64_t depth, float* c,
              int64_t c_stride, bool accumulate) {
  switch (rows) {
    case 1:
      return packed_tile<1, T>(a, b, b_tile_floats, depth, c, c_stride, accumulate);
    case 2:
      return packed_tile<2, T>(a, b, b_tile_floats, depth, c, c_stride, accumulate);
    case 3:
      return packed_tile<3, T>(a, b, b_tile_floats, depth, c, c_stride, accumulate);
    case 4:
      return packed_tile<4, T>(a, b, b_tile_floats, depth, c, c_stride, accumulate);
    case 5:
      return packed_tile<5, T>(a, b, b_tile_floats, depth, c, c_stride, accumulate);
    default:
      return packed_tile<6, T>(a, b, b_tile_floats, depth, c, c_stride, accumulate);
  }
}

}  // namespace

void packed_block_avx512(const float* a, int64_t rows, const float* b, int64_t outputs, int64_t depth,
                         float* c, int64_t c_stride, bool accumulate) {
  const int64_t a_tile_floats = depth * kPackedTileRows, b_tile_floats = depth * kPackedTileOutputs;
  for (int64_t o = 0; o < outputs;) {
    // Four tiles at a time; five or six left (a product's last task) as three and the rest, which
    // run faster than four and one or two.
    const int64_t left = (outputs - o) / kPackedTileOutputs;
    const int64_t tiles = left == 5 || left == 6 ? 3 : left >= 4 ? 4 : left;
    const float* b_tiles = b + o * depth;
    for (int64_t r = 0; r < rows; r += kPackedTileRows) {
      const int64_t count = rows - r < kPackedTileRows ? rows - r : kPackedTileRows;
      const float* a_tile = a + r / kPackedTileRows * a_tile_floats;
      float* c_tile = c + r * c_stride + o;
      if (tiles == 4) {
        run_tile<4>(count, a_tile, b_tiles, b_tile_floats, depth, c_tile, c_stride, accumulate);
      } else if (tiles == 3) {
        run_tile<3>(count, a_tile, b_tiles, b_tile_floats, depth, c_tile, c_stride, accumulate);
      } else if (tiles == 2) {
        run_tile<2>(count, a_tile, b_tiles, b_tile_floats, depth, c_tile, c_stride, accumulate);
      } else {
        run_tile<1>(count, a_tile, b_tiles, b_tile_floats, depth, c_tile, c_stride, accumulate);
      }
    }
    o += tiles * kPackedTileOutputs;
  }
}

}  // namespace cpm::kernels

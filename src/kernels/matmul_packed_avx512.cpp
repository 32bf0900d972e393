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
#include "kernels/packed_blocks_avx512.h"

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

}  // namespace

void packed_block_avx512(const float* a, int64_t rows, const float* b, int64_t outputs, int64_t depth,
                         float* c, int64_t c_stride, bool accumulate) {
  const int64_t b_tile_floats = depth * kPackedTileOutputs;
  for_each_packed_tile(a, rows, b, outputs, depth, c, c_stride,
                       [&]<int R, int T>(const float* a_tile, const float* b_tiles, float* c_tile) {
                         packed_tile<R, T>(a_tile, b_tiles, b_tile_floats, depth, c_tile, c_stride,
                                           accumulate);
                       });
}

}  // namespace cpm::kernels

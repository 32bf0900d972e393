// The packed GEMM for bf16 weights with activations rounded to bf16 (SummationOrder::kFastestBf16),
// where the CPU has AVX512_BF16. vdpbf16ps multiplies two columns' bf16 pairs into 16 f32 outputs per
// instruction, twice the arithmetic of a 512-bit FMA, and on a Zen 5 core it issues as fast (a probe:
// 383-394 GFLOP/s against 207-212 for FMA chains). The f32 packed GEMM already runs near the FMA peak
// in bf16 prefill, so rounding the activations is the one way left to go faster there; it is what
// llama.cpp does for f16 and bf16 weights.
//
// The blocking is matmul_packed_avx512.cpp's with every step covering a pair of columns: tiles of 6
// rows by 64 outputs (24 accumulators), x packed per depth block and 6-row tile with one 32-bit word
// per row and step (the row's two bf16 values, low half first, an odd last column paired with zero),
// weights packed per 16 outputs with one word per output and step. Each output's order is one chain
// over the pairs in order: acc += x[2p + 1] * w[2p + 1]; acc += x[2p] * w[2p] (vdpbf16ps's, with each
// bf16 product exact in f32), so results do not depend on tiles or threads.
//
// Nothing from the standard library here: an inline template instantiated in this file could be the
// copy the linker keeps for the whole program, built for AVX-512, and run on CPUs without it.
#include <immintrin.h>

#include "kernels/matmul_tiles.h"
#include "kernels/packed_blocks_avx512.h"
#include "kernels/transpose_avx.h"

namespace cpm::kernels {

namespace {

constexpr int64_t kPairsPerDepth = kPackedDepth / 2;
// One task packs up to 128 outputs of a depth block (64 KB), next to a block of 96 packed rows (48 KB).
constexpr int64_t kTaskOutputs = 128, kRowBlock = 96;
static_assert(kRowBlock % kPackedTileRows == 0 && kTaskOutputs % kPackedTileOutputs == 0);

inline int64_t smaller(int64_t a, int64_t b) {
  return a < b ? a : b;
}

// Columns [0, depth) of src (depth <= kPackedDepth) as bf16, two per word: words[p] holds columns
// 2p (low half) and 2p + 1, rounded to nearest even; columns past depth are zero.
void round_row(const float* src, int64_t depth, uint32_t* words) {
  for (int64_t k = 0; k < depth; k += 32) {
    const int64_t n = smaller(32, depth - k);
    const __mmask16 low = n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1);
    const __mmask16 high = n >= 32 ? 0xffff : n > 16 ? static_cast<__mmask16>((1u << (n - 16)) - 1) : 0;
    const __m512bh pairs =
        _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(high, src + k + 16), _mm512_maskz_loadu_ps(low, src + k));
    _mm512_storeu_si512(words + k / 2, (__m512i)pairs);  // vector casts reinterpret the bits
  }
}

// Outputs [first, first + 16) of w over columns [k0, k0 + depth) into out[p * 16 + c] (one word per
// column pair); outputs at or past w.rows are zero.
void pack_weights(const MatrixView& w, int64_t first, int64_t k0, int64_t depth, uint32_t* out) {
  const int64_t full = depth / 16 * 16;  // columns in whole steps of 8 words
  for (int half = 0; half < 2; ++half) {
    const uint16_t* rows[8];
    for (int c = 0; c < 8; ++c) {
      const int64_t o = first + 8 * half + c;
      rows[c] = o < w.rows ? reinterpret_cast<const uint16_t*>(w.row(o)) + k0 : nullptr;
    }
    for (int64_t k = 0; k < full; k += 16) {
      __m256 v[8];
      for (int c = 0; c < 8; ++c)
        v[c] = rows[c] != nullptr ? _mm256_loadu_ps(reinterpret_cast<const float*>(rows[c] + k))
                                  : _mm256_setzero_ps();
      transpose8(v);
      for (int j = 0; j < 8; ++j)
        _mm256_store_ps(reinterpret_cast<float*>(out + (k / 2 + j) * 16 + 8 * half), v[j]);
    }
    for (int64_t k = full; k < depth; k += 2) {
      for (int c = 0; c < 8; ++c) {
        uint32_t word = 0;
        if (rows[c] != nullptr) word = rows[c][k] | (k + 1 < depth ? uint32_t{rows[c][k + 1]} << 16 : 0u);
        out[k / 2 * 16 + 8 * half + c] = word;
      }
    }
  }
}

// R rows (of a 6-row tile) by T 16-output weight tiles over `pairs` steps. The loop always runs
// (pairs >= 1): with one that might not, GCC spills the accumulators.
template <int R, int T>
__attribute__((noinline)) void bf16_tile(const uint32_t* a, const uint32_t* b, int64_t b_tile_words,
                                         int64_t pairs, float* c, int64_t c_stride, bool accumulate) {
  __m512 acc[R][T];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t)
      acc[r][t] = accumulate ? _mm512_loadu_ps(c + r * c_stride + 16 * t) : _mm512_setzero_ps();
  int64_t k = 0;
  do {
    __m512bh weights[T];
    for (int t = 0; t < T; ++t) {
      weights[t] = (__m512bh)_mm512_load_si512(b + t * b_tile_words + k * kPackedTileOutputs);
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m512bh activation = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[k * kPackedTileRows + r]));
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], activation, weights[t]);
    }
  } while (++k < pairs);
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(c + r * c_stride + 16 * t, acc[r][t]);
}

// The row tiles covering `rows` rows from `a` (one depth block of the packed x, tile after tile)
// against `outputs` packed outputs (a multiple of 16) at b, into c (added to when `accumulate`).
void bf16_block(const uint32_t* a, int64_t rows, const uint32_t* b, int64_t outputs, int64_t pairs, float* c,
                int64_t c_stride, bool accumulate) {
  const int64_t b_tile_words = pairs * kPackedTileOutputs;
  for_each_packed_tile(a, rows, b, outputs, pairs, c, c_stride,
                       [&]<int R, int T>(const uint32_t* a_tile, const uint32_t* b_tiles, float* c_tile) {
                         bf16_tile<R, T>(a_tile, b_tiles, b_tile_words, pairs, c_tile, c_stride, accumulate);
                       });
}

// Outputs [o_begin, o_end) (at most kTaskOutputs, a multiple of 16) for all rows into c.
void bf16_task(const uint32_t* packed_x, int64_t rows, const MatrixView& w, int64_t o_begin, int64_t o_end,
               float* c, int64_t c_stride) {
  alignas(64) static thread_local uint32_t packed_w[kTaskOutputs * kPairsPerDepth];
  const int64_t tiles = packed_row_tiles(rows);
  for (int64_t k0 = 0; k0 < w.cols; k0 += kPackedDepth) {
    const int64_t depth = smaller(kPackedDepth, w.cols - k0), pairs = (depth + 1) / 2;
    for (int64_t o = o_begin; o < o_end; o += kPackedTileOutputs)
      pack_weights(w, o, k0, depth, packed_w + (o - o_begin) * pairs);
    const uint32_t* block_x = packed_x + k0 / 2 * tiles * kPackedTileRows;
    for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
      bf16_block(block_x + r0 * pairs, smaller(kRowBlock, rows - r0), packed_w, o_end - o_begin, pairs,
                 c + r0 * c_stride, c_stride, k0 > 0);
    }
  }
}

}  // namespace

void pack_rows_bf16(const float* x, int64_t rows, int64_t x_stride, int64_t cols, int64_t task_begin,
                    int64_t task_end, uint32_t* packed) {
  const int64_t tiles = packed_row_tiles(rows);
  alignas(64) uint32_t words[kPackedTileRows][kPairsPerDepth];
  for (int64_t task = task_begin; task < task_end; ++task) {
    const int64_t k0 = task / tiles * kPackedDepth, tile = task % tiles;
    const int64_t depth = smaller(kPackedDepth, cols - k0), pairs = (depth + 1) / 2;
    for (int r = 0; r < kPackedTileRows; ++r) {
      const int64_t row = tile * kPackedTileRows + r;
      if (row < rows) {
        round_row(x + row * x_stride + k0, depth, words[r]);
      } else {
        for (int64_t p = 0; p < pairs; ++p) words[r][p] = 0;
      }
    }
    // Written in order: the six rows' words of each step together.
    uint32_t* out = packed + (k0 / 2 * tiles + tile * pairs) * kPackedTileRows;
    for (int64_t p = 0; p < pairs; ++p)
      for (int r = 0; r < kPackedTileRows; ++r) *out++ = words[r][p];
  }
}

void packed_range_bf16(const uint32_t* packed_x, int64_t rows, const MatrixView& w, int64_t o_begin,
                       int64_t o_end, float* y, int64_t y_stride) {
  const int64_t packed_end = o_begin + (o_end - o_begin) / kPackedTileOutputs * kPackedTileOutputs;
  for (int64_t o = o_begin; o < packed_end; o += kTaskOutputs)
    bf16_task(packed_x, rows, w, o, smaller(o + kTaskOutputs, packed_end), y + o, y_stride);
  if (packed_end == o_end) return;
  // Fewer than 16 outputs left: a zero-padded tile of 16 into scratch, the same arithmetic.
  alignas(64) static thread_local float tail[kPackedPassRows * kPackedTileOutputs];
  bf16_task(packed_x, rows, w, packed_end, packed_end + kPackedTileOutputs, tail, kPackedTileOutputs);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = packed_end; o < o_end; ++o)
      y[r * y_stride + o] = tail[r * kPackedTileOutputs + o - packed_end];
}

}  // namespace cpm::kernels

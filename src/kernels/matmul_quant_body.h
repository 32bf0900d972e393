// The quantized matmul (q8_0, q4_0) for every row count, shared by two builds of it: matmul_avx2.cpp
// (AVX2 byte products) and matmul_avxvnni.cpp (AVX-VNNI vpdpbusd, the same integers). Each defines
// kUseAvxVnni before including this file; everything here is internal to that file.
//
// Row-major weights: decode (fewer than 4 activation rows) computes four weight rows at a time in the
// lanes of one register; from 8 rows on, packed weight panels (matmul_panels_body.h). Weights grouped
// by eight rows (kernels/row_groups.h): group tiles below 8 rows, panels from 8. All give the order
// of matmul_tiles.h, so results are bitwise independent of the layout, the row count and the build.
#pragma once

#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu_features.h"
#include "kernels/matmul_panels_body.h"
#include "kernels/matmul_tiles.h"
#include "kernels/quant_blocks.h"

namespace cpm::kernels {

namespace {

// One weight block as 32 bytes: q8_0 signed; q4_0 as unsigned nibbles 0..15 (the offset of -8 is
// applied to the integer sums through ActivationBlock::offset, which saves two sign operations per
// product). The nibbles are loaded into both register halves and the upper half shifted by 4, which
// avoids a cross-lane shuffle.
template <DType kType>
inline __m256i load_block(const uint8_t* row, int64_t block) {
  if constexpr (kType == DType::kQ8_0) {
    return _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(reinterpret_cast<const BlockQ8_0*>(row)[block].values));
  } else {
    const __m256i packed = _mm256_broadcastsi128_si256(_mm_loadu_si128(
        reinterpret_cast<const __m128i*>(reinterpret_cast<const BlockQ4_0*>(row)[block].nibbles)));
    return _mm256_and_si256(_mm256_srlv_epi64(packed, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(0x0f));
  }
}

template <DType kType>
inline uint16_t scale_bits(const uint8_t* row, int64_t block) {
  if constexpr (kType == DType::kQ8_0) return reinterpret_cast<const BlockQ8_0*>(row)[block].scale;
  return reinterpret_cast<const BlockQ4_0*>(row)[block].scale;
}

// The scales of 4 * G weight rows' blocks (G of 1 or 2) in row order. Built in a register: through
// a stack array, the 16-byte load waits on eight 2-byte stores that cannot forward to it.
template <DType kType, int G>
inline auto row_scales(const uint8_t* const* rows, int64_t block) {
  const auto bits = [&](int c) { return static_cast<int16_t>(scale_bits<kType>(rows[c], block)); };
  if constexpr (G == 2) {
    return _mm256_cvtph_ps(
        _mm_setr_epi16(bits(0), bits(1), bits(2), bits(3), bits(4), bits(5), bits(6), bits(7)));
  } else {
    return _mm_cvtph_ps(_mm_setr_epi16(bits(0), bits(1), bits(2), bits(3), 0, 0, 0, 0));
  }
}

// Sums of four adjacent products as 8 int32 lanes. maddubs multiplies unsigned by signed bytes, so
// q8_0 weights go in as |w| against x with w's sign (exact; q4_0 nibbles are unsigned already).
template <DType kType>
inline __m256i quad_sums(__m256i weights, __m256i magnitudes, __m256i activations) {
  if constexpr (kUseAvxVnni) {  // vpdpbusd: the same products, summed in one instruction
    const __m256i zero = _mm256_setzero_si256();
    if constexpr (kType == DType::kQ8_0) {
      return _mm256_dpbusd_avx_epi32(zero, magnitudes, _mm256_sign_epi8(activations, weights));
    } else {
      return _mm256_dpbusd_avx_epi32(zero, weights, activations);
    }
  }
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (kType == DType::kQ8_0) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(activations, weights)), ones);
  } else {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(weights, activations), ones);
  }
}

// Four weight rows against one activation block: the exact integer dots of each row's two block
// halves, as [lo0 lo1 lo2 lo3 hi0 hi1 hi2 hi3] (q4_0 before its offset). Amortizes the conversion
// and scaling over four rows.
template <DType kType>
inline __m256i group_sums(const __m256i* weights, const __m256i* magnitudes, const ActivationBlock& xb) {
  const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(xb.values));
  const __m256i sums01 = _mm256_hadd_epi32(quad_sums<kType>(weights[0], magnitudes[0], x),
                                           quad_sums<kType>(weights[1], magnitudes[1], x));
  const __m256i sums23 = _mm256_hadd_epi32(quad_sums<kType>(weights[2], magnitudes[2], x),
                                           quad_sums<kType>(weights[3], magnitudes[3], x));
  return _mm256_hadd_epi32(sums01, sums23);
}

// Decode streams 4 * G weight rows at once, more streams than the hardware prefetcher follows well:
// asking for each row's block 32 ahead (576 bytes of q4_0) once per 64 bytes read measured ~10% faster
// q4_0 decode (docs/PERFORMANCE.md); q8_0 did not gain.
inline void prefetch_rows(const uint8_t* const* rows, int count, int64_t block, int64_t blocks) {
  constexpr int64_t kAhead = 32;
  if (block % 4 != 0 || block + kAhead >= blocks) return;
  for (int k = 0; k < count; ++k)
    _mm_prefetch(reinterpret_cast<const char*>(rows[k] + (block + kAhead) * sizeof(BlockQ4_0)), _MM_HINT_T0);
}

// y[r, c] for R activation rows and 4 * G weight rows (G of 1 or 2; rows: 4 * G pointers). Each
// group's halves are added into whole-block sums: across the register's halves for one group, and
// for two as [group 0's four rows | group 1's]. Stores the first `valid` outputs of each activation row.
template <DType kType, int R, int G>
void quant_tile(const ActivationBlock* xq, int64_t blocks, const uint8_t* const* rows, float* y,
                int64_t y_stride, int64_t valid) {
  static_assert(G == 1 || G == 2);
  using Floats = decltype(row_scales<kType, G>(rows, 0));  // __m256 for two groups, __m128 for one
  Floats acc[R];
  for (int r = 0; r < R; ++r) acc[r] = Floats{};
  for (int64_t b = 0; b < blocks; ++b) {
    if constexpr (R == 1 && kType == DType::kQ4_0) prefetch_rows(rows, 4 * G, b, blocks);
    // Each group's halves for every activation row, one group's weights in registers at a time
    // (eight q8_0 rows and their magnitudes at once would not fit in sixteen registers).
    __m256i halves[G][R];
    for (int g = 0; g < G; ++g) {
      __m256i weights[4], magnitudes[4];
      for (int c = 0; c < 4; ++c) {
        weights[c] = load_block<kType>(rows[4 * g + c], b);
        if constexpr (kType == DType::kQ8_0) magnitudes[c] = _mm256_sign_epi8(weights[c], weights[c]);
      }
      for (int r = 0; r < R; ++r) halves[g][r] = group_sums<kType>(weights, magnitudes, xq[r * blocks + b]);
    }
    const Floats weight_scales = row_scales<kType, G>(rows, b);
    for (int r = 0; r < R; ++r) {
      const ActivationBlock& xb = xq[r * blocks + b];
      const __m256i halves0 = halves[0][r];
      if constexpr (G == 2) {
        const __m256i halves1 = halves[G - 1][r];
        // [lo of 0..3 | hi of 4..7] + [hi of 0..3 | lo of 4..7]: one blend and one lane swap
        __m256i sums = _mm256_add_epi32(_mm256_blend_epi32(halves0, halves1, 0xf0),
                                        _mm256_permute2x128_si256(halves0, halves1, 0x21));
        if constexpr (kType == DType::kQ4_0) sums = _mm256_sub_epi32(sums, _mm256_set1_epi32(xb.offset));
        const __m256 scales = _mm256_mul_ps(weight_scales, _mm256_broadcast_ss(&xb.scale));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scales, acc[r]);
      } else {
        __m128i sums = _mm_add_epi32(_mm256_castsi256_si128(halves0), _mm256_extracti128_si256(halves0, 1));
        if constexpr (kType == DType::kQ4_0) sums = _mm_sub_epi32(sums, _mm_set1_epi32(xb.offset));
        const __m128 scales = _mm_mul_ps(weight_scales, _mm_broadcast_ss(&xb.scale));
        acc[r] = _mm_fmadd_ps(_mm_cvtepi32_ps(sums), scales, acc[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    if constexpr (G == 2) {
      store_lanes(acc[r], y + r * y_stride, static_cast<int>(std::min<int64_t>(8, valid)));
    } else if (valid >= 4) {
      _mm_storeu_ps(y + r * y_stride, acc[r]);
    } else {
      alignas(16) float lanes[4];
      _mm_store_ps(lanes, acc[r]);
      std::copy(lanes, lanes + valid, y + r * y_stride);
    }
  }
}

// Weight rows in groups of 4 * G (a short last group repeats its last row and stores only its own
// outputs), activation rows in tiles of R within blocks that stay in L2.
template <DType kType, int R, int G>
void quant_tiles(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin, int64_t o_end,
                 float* y, int64_t y_stride) {
  constexpr int64_t kRowBlock = 64;
  const int64_t blocks = w.cols / 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    const int64_t r1 = std::min(rows, r0 + kRowBlock);
    for (int64_t o = o_begin; o < o_end; o += 4 * G) {
      const uint8_t* weight_rows[4 * G];
      for (int k = 0; k < 4 * G; ++k) weight_rows[k] = w.row(std::min(o + k, o_end - 1));
      const int64_t valid = std::min<int64_t>(4 * G, o_end - o);
      int64_t r = r0;
      for (; r + R <= r1; r += R)
        quant_tile<kType, R, G>(xq + r * blocks, blocks, weight_rows, y + r * y_stride + o, y_stride, valid);
      for (; r < r1; ++r)
        quant_tile<kType, 1, G>(xq + r * blocks, blocks, weight_rows, y + r * y_stride + o, y_stride, valid);
    }
  }
}

// R activation rows against a group of eight weight rows (kernels/row_groups.h): panel_tile's sums
// with the blocks unpacked in registers as they stream in. Decode reads one stream per thread, and
// the hardware prefetcher alone keeps too few of its lines in flight: each block asks for the one
// kPrefetchBytes ahead, into L2, for every R (without it, 4 rows ran at 17-19 tokens/s per step of a
// batch of 4 where they run at 27.5-28.5 with it). On a Zen 4, 2.3 KB into L1 (best on the machines before)
// left down_proj's shape at 30-33 GB/s while the machine read 43-51 (likely the stream pushing its 12.8 KB of
// activations out of L1), and a token's q4_0 products at 44-47 where 6 or 8 KB into L2 streamed 48-52; at 33
// GB/s, 8 KB lost 3-6% and 6 KB nothing, in either format (docs/PERFORMANCE.md).
template <DType kType, int R>
void group_tile(const uint8_t* group, const ActivationBlock* xq, int64_t blocks, float* y, int64_t y_stride,
                int valid) {
  constexpr int64_t kBlockBytes = kType == DType::kQ4_0 ? sizeof(GroupBlockQ4_0) : sizeof(GroupBlockQ8_0);
  constexpr int64_t kPrefetchBytes = 6144;
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    {
      const char* ahead = reinterpret_cast<const char*>(group + b * kBlockBytes + kPrefetchBytes);
      for (int64_t line = 0; line < kBlockBytes; line += 64) _mm_prefetch(ahead + line, _MM_HINT_T1);
    }
    __m256i quads[8];
    __m256 scales;
    load_group_block<kType>(group, b, quads, &scales);
    const ActivationBlock* xb[R];
    for (int r = 0; r < R; ++r) xb[r] = xq + r * blocks + b;
    __m256i sums[R];
    block_sums<kType, R>(quads, xb, sums);
    for (int r = 0; r < R; ++r) {
      const __m256 both = _mm256_mul_ps(scales, _mm256_broadcast_ss(&xb[r]->scale));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[r]), both, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) store_lanes(acc[r], y + r * y_stride, valid);
}

// Few activation rows against grouped weights, in row tiles of 4 and one tile of the 1-3 left.
template <DType kType>
void group_range(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin, int64_t o_end,
                 float* y, int64_t y_stride) {
  const int64_t blocks = w.cols / 32;
  for (int64_t o = o_begin; o < o_end; o += kRowsPerGroup) {
    const uint8_t* group = w.data + o / kRowsPerGroup * w.row_bytes;
    const int valid = static_cast<int>(std::min<int64_t>(kRowsPerGroup, o_end - o));
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4)
      group_tile<kType, 4>(group, xq + r * blocks, blocks, y + r * y_stride + o, y_stride, valid);
    const ActivationBlock* x_rest = xq + r * blocks;
    float* y_rest = y + r * y_stride + o;
    switch (rows - r) {  // one more pass over the group at most
      case 3:
        group_tile<kType, 3>(group, x_rest, blocks, y_rest, y_stride, valid);
        break;
      case 2:
        group_tile<kType, 2>(group, x_rest, blocks, y_rest, y_stride, valid);
        break;
      case 1:
        group_tile<kType, 1>(group, x_rest, blocks, y_rest, y_stride, valid);
        break;
    }
  }
}

// From this many activation rows on, packing weight panels costs less than it saves: row-major
// weights, and weights grouped by rows (whose tiles prefetch). Grouped, on a Zen 4 (2
// threads, MiniCPM3-4B, prefill tokens/s of grouped tiles against panels): q4_0 29.5/22.3 at 16 rows,
// 28.6/23.0 at 32, 27.0/24.2 at 64, 30.3/31.8 at 96, 30.1/32.8 at 128; q8_0 27.0/19.1 at 32,
// 25.1/23.8 at 96, then about level.
constexpr int64_t kPanelMinRows = 8, kGroupedPanelMinRows = 80, kGroupPairMinRows = 3;

// The panels of this build, or of AVX-512 with VNNI where the CPU has it (same bits).
template <DType kType>
void widest_panels(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                   int64_t o_end, float* y, int64_t y_stride) {
  if (cpu_has_avx512_vnni()) return quant_panels_avx512(xq, rows, w, o_begin, o_end, y, y_stride);
  panels<kType>(xq, rows, w, o_begin, o_end, y, y_stride);
}

template <DType kType>
void quant_range(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin, int64_t o_end,
                 float* y, int64_t y_stride) {
  if (w.layout == MatrixLayout::kRowGroupsOf8) {  // o_begin is a multiple of kRowsPerGroup
    if (rows >= kGroupedPanelMinRows) return widest_panels<kType>(xq, rows, w, o_begin, o_end, y, y_stride);
    // Batched decode: on a Zen 5 (1 thread, 6400 x 2560 and 2560 x 6400 in L3, 4 to 64 rows) q4_0 ran
    // 1.6-2.2x the group tiles' rate and q8_0 1.16-1.92x (0.76-1.56x in one round in slow minutes).
    // At 3 rows the model's batch ran 1.36-1.49x (q4_0) and 1.25-1.28x (q8_0); at 2 rows pairs won in
    // L3 but not in the model (q4_0's fastest steps 61-86 ms against the group tiles' 59-74). From
    // kGroupedPanelMinRows on, panels and pairs were level (prefill; docs/PERFORMANCE.md, "Batched decode").
    if (rows >= kGroupPairMinRows && cpu_has_avx512_vnni())
      return quant_group_pairs_avx512(xq, rows, w, o_begin, o_end, y, y_stride);
    return group_range<kType>(xq, rows, w, o_begin, o_end, y, y_stride);
  }
  if (rows < 4) {
    quant_tiles<kType, 1, 2>(xq, rows, w, o_begin, o_end, y, y_stride);  // decode: eight weight streams
  } else if (rows >= kPanelMinRows) {
    widest_panels<kType>(xq, rows, w, o_begin, o_end, y, y_stride);  // prefill: packing pays for itself
  } else {
    quant_tiles<kType, 4, 1>(xq, rows, w, o_begin, o_end, y, y_stride);
  }
}

inline void run_quant_range(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                            int64_t o_end, float* y, int64_t y_stride) {
  if (w.dtype == DType::kQ8_0) {
    quant_range<DType::kQ8_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  } else {
    quant_range<DType::kQ4_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  }
}

}  // namespace

}  // namespace cpm::kernels

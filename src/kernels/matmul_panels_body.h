// The packed-panel quantized matmul for many activation rows (prefill): part of matmul_quant_body.h,
// included through it with kUseAvxVnni defined; everything here is internal to the including file.
//
// The row-major decode tiles (matmul_quant_body.h) reduce four weight rows' block halves into one
// register with horizontal adds, which costs as much as the products themselves. Here eight weight
// rows are first unpacked and interleaved into a small panel (lane c of every register belongs to
// weight row c), so one maddubs multiplies the same four activation bytes, broadcast, into eight
// rows' bytes and the block sums come out in lanes with vertical adds only. The panel stays in L1/L2
// while a block of activation rows streams over it, so the unpacking is paid once per panel, not once
// per row.
//
// The float arithmetic per output is the one of matmul_tiles.h, in the same order (per block:
// acc = fma(s, w_scale * x_scale, acc) for the block's exact integer dot s), with eight outputs in
// the lanes of one register.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/matmul_tiles.h"
#include "kernels/quant_blocks.h"
#include "kernels/quant_panel_packing.h"

namespace cpm::kernels {

namespace {

inline __m256i broadcast4(const int8_t* bytes) {
  int32_t value;
  __builtin_memcpy(&value, bytes, 4);
  return _mm256_set1_epi32(value);
}

// AVX2 products of one quad of eight weight rows (w; for q8_0 also its magnitudes |w|) with four
// activation bytes broadcast (x), to be summed with add_products: q4_0 as int16 pairs (a whole
// block's sum fits in int16: each lane adds 16 products of at most 15 * 127, 30,480 < 32,768), q8_0
// widened to int32 at once, after moving the signs onto the activations.
template <DType kType>
inline __m256i quad_products(__m256i w, __m256i magnitudes, __m256i x) {
  if constexpr (kType == DType::kQ4_0) return _mm256_maddubs_epi16(w, x);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
}

template <DType kType>
inline __m256i add_products(__m256i a, __m256i b) {
  if constexpr (kType == DType::kQ4_0) return _mm256_add_epi16(a, b);
  return _mm256_add_epi32(a, b);
}

// A block's summed products as int32 dots: q4_0 widened, less 8 × Σx for the nibbles' offset of -8.
template <DType kType>
inline __m256i finish_products(__m256i sum, const ActivationBlock& xb) {
  if constexpr (kType == DType::kQ8_0) return sum;
  return _mm256_sub_epi32(_mm256_madd_epi16(sum, _mm256_set1_epi16(1)), _mm256_set1_epi32(xb.offset));
}

template <DType kType>
inline __m256i quad_magnitudes(__m256i w) {
  if constexpr (kType == DType::kQ8_0) return _mm256_sign_epi8(w, w);
  return w;  // unused
}

// Exact integer dots of one block (32 positions) of eight weight rows (quads as in PanelBlock) with R
// activation rows: sums[r] lane c = sum over the block of w[c, k] * x[r, k].
// AVX-VNNI: one vpdpbusd per quad multiplies and sums into int32 for both formats.
template <DType kType, int R>
inline void block_sums(const __m256i* quads, const ActivationBlock* const* xb, __m256i* sums) {
  if constexpr (kUseAvxVnni) {
    // Four chains of two quads (the first from minus the offset), then a sum tree: one chain through
    // vpdpbusd's accumulator would wait out its latency eight times.
    constexpr int kOffsetScale = kType == DType::kQ8_0 ? 16 : 1;  // offset holds 8 × Σx
    __m256i chain[4][R];
    for (int k = 0; k < 4; ++k) {
      for (int r = 0; r < R; ++r) {
        const __m256i start =
            k == 0 ? _mm256_set1_epi32(-kOffsetScale * xb[r]->offset) : _mm256_setzero_si256();
        chain[k][r] = _mm256_dpbusd_avx_epi32(start, quads[k], broadcast4(xb[r]->values + 4 * k));
        chain[k][r] =
            _mm256_dpbusd_avx_epi32(chain[k][r], quads[4 + k], broadcast4(xb[r]->values + 16 + 4 * k));
      }
    }
    for (int r = 0; r < R; ++r)
      sums[r] = _mm256_add_epi32(_mm256_add_epi32(chain[0][r], chain[1][r]),
                                 _mm256_add_epi32(chain[2][r], chain[3][r]));
    return;
  }
  // AVX2: one chain per row through the eight quads; a single row keeps two (quads k and 4 + k, which
  // q4_0 unpacks from one load), added at the end: one chain of eight made the single-row decode tile
  // wait on its latency (q8_0 4-22% slower in an L2-resident probe, docs/PERFORMANCE.md).
  constexpr int kChains = R == 1 ? 2 : 1;
  __m256i chains[kChains][R];
  for (int k = 0; k < 4; ++k) {
    for (int h = 0; h < 2; ++h) {
      const __m256i w = quads[4 * h + k];
      const __m256i magnitudes = quad_magnitudes<kType>(w);
      __m256i* chain = chains[kChains == 2 ? h : 0];
      const bool first = k == 0 && (kChains == 2 || h == 0);
      for (int r = 0; r < R; ++r) {
        const __m256i p = quad_products<kType>(w, magnitudes, broadcast4(xb[r]->values + 16 * h + 4 * k));
        chain[r] = first ? p : add_products<kType>(chain[r], p);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    __m256i sum = chains[0][r];
    if constexpr (kChains == 2) sum = add_products<kType>(sum, chains[1][r]);
    sums[r] = finish_products<kType>(sum, *xb[r]);
  }
}

// Lanes [0, count) of out to dest.
inline void store_lanes(__m256 out, float* dest, int count) {
  if (count == kPanelRows) {
    _mm256_storeu_ps(dest, out);
  } else {
    alignas(32) float lanes[kPanelRows];
    _mm256_store_ps(lanes, out);
    std::copy(lanes, lanes + count, dest);
  }
}

// y[r, o + c] for R activation rows and the panel's eight weight rows; stores `valid` outputs per row.
template <DType kType, int R>
void panel_tile(const PanelBlock* panel, const ActivationBlock* xq, int64_t blocks, float* y,
                int64_t y_stride, int valid) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const ActivationBlock* xb[R];
    for (int r = 0; r < R; ++r) xb[r] = xq + r * blocks + b;
    __m256i sums[R];
    block_sums<kType, R>(panel[b].quads, xb, sums);
    for (int r = 0; r < R; ++r) {
      const __m256 scales = _mm256_mul_ps(panel[b].scales, _mm256_broadcast_ss(&xb[r]->scale));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[r]), scales, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) store_lanes(acc[r], y + r * y_stride, valid);
}

// AVX-VNNI: R activation rows against two panels (sixteen weight rows) whose blocks are interleaved
// (pair[2b] and pair[2b + 1]), over blocks [begin, end) of the reduced dimension. Each broadcast
// activation quad feeds both panels, and each block's sums chain through vpdpbusd in two chains per
// panel and row (quads 0..3 from minus the offset, quads 4..7 from zero; blocks overlap out of order),
// which leaves the dot products most of the issue slots. The float accumulators continue from `state`
// unless `first` and are left there unless `last`, when the outputs go to y: a chunk of the panel pair
// stays in L1 while every activation row passes it, and the order per output is still panel_tile's.
template <DType kType, int R>
void panel_pair_tile(const PanelBlock* pair, const ActivationBlock* xq, int64_t x_blocks, int64_t begin,
                     int64_t end, bool first, bool last, float* state, float* y, int64_t y_stride,
                     int valid) {
  constexpr int kOffsetScale = kType == DType::kQ8_0 ? 16 : 1;  // offset holds 8 × Σx
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < 2; ++p)
      acc[r][p] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(state + (r * 2 + p) * 8);
  for (int64_t b = begin; b < end; ++b) {
    const PanelBlock* wb = pair + 2 * b;
    const ActivationBlock* xb[R];
    for (int r = 0; r < R; ++r) xb[r] = xq + r * x_blocks + b;
    __m256i sums[R][2];
    if constexpr (kUseAvxVnni) {
      __m256i high[R][2];
      for (int r = 0; r < R; ++r) {
        sums[r][0] = sums[r][1] = _mm256_set1_epi32(-kOffsetScale * xb[r]->offset);
        high[r][0] = high[r][1] = _mm256_setzero_si256();
      }
      for (int q = 0; q < 4; ++q) {
        for (int h = 0; h < 2; ++h) {
          const __m256i w0 = _mm256_load_si256(&wb[0].quads[4 * h + q]);
          const __m256i w1 = _mm256_load_si256(&wb[1].quads[4 * h + q]);
          for (int r = 0; r < R; ++r) {
            const __m256i x = broadcast4(xb[r]->values + 16 * h + 4 * q);
            __m256i* chain = h == 0 ? sums[r] : high[r];
            chain[0] = _mm256_dpbusd_avx_epi32(chain[0], w0, x);
            chain[1] = _mm256_dpbusd_avx_epi32(chain[1], w1, x);
          }
        }
      }
      for (int r = 0; r < R; ++r)
        for (int p = 0; p < 2; ++p) sums[r][p] = _mm256_add_epi32(sums[r][p], high[r][p]);
    } else {  // AVX2: one chain per row and panel, each broadcast feeding both panels
      for (int q = 0; q < 8; ++q) {
        const __m256i w0 = _mm256_load_si256(&wb[0].quads[q]), w1 = _mm256_load_si256(&wb[1].quads[q]);
        const __m256i magnitudes0 = quad_magnitudes<kType>(w0), magnitudes1 = quad_magnitudes<kType>(w1);
        for (int r = 0; r < R; ++r) {
          const __m256i x = broadcast4(xb[r]->values + 4 * q);
          const __m256i p0 = quad_products<kType>(w0, magnitudes0, x),
                        p1 = quad_products<kType>(w1, magnitudes1, x);
          sums[r][0] = q == 0 ? p0 : add_products<kType>(sums[r][0], p0);
          sums[r][1] = q == 0 ? p1 : add_products<kType>(sums[r][1], p1);
        }
      }
      for (int r = 0; r < R; ++r)
        for (int p = 0; p < 2; ++p) sums[r][p] = finish_products<kType>(sums[r][p], *xb[r]);
    }
    for (int r = 0; r < R; ++r) {
      const __m256 x_scale = _mm256_broadcast_ss(&xb[r]->scale);
      for (int p = 0; p < 2; ++p)
        acc[r][p] =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[r][p]), _mm256_mul_ps(wb[p].scales, x_scale), acc[r][p]);
    }
  }
  if (!last) {
    for (int r = 0; r < R; ++r)
      for (int p = 0; p < 2; ++p) _mm256_storeu_ps(state + (r * 2 + p) * 8, acc[r][p]);
    return;
  }
  for (int r = 0; r < R; ++r) {
    for (int p = 0; p < 2; ++p)
      store_lanes(acc[r][p], y + r * y_stride + kPanelRows * p,
                  std::clamp(valid - kPanelRows * p, 0, kPanelRows));
  }
}

// Sixteen weight rows o .. o + 15 (o_end caps the valid ones) for activation rows [r0, r1), the
// reduced dimension in chunks of kChunkBlocks blocks (18 KB of the pair: it stays in L1).
template <DType kType>
void pair_rows(const ActivationBlock* xq, int64_t r0, int64_t r1, const MatrixView& w, int64_t o,
               int64_t o_end, PanelBlock* pair, float* y, int64_t y_stride) {
  constexpr int kRows = 2;
  constexpr int64_t kChunkBlocks = 32;
  const int64_t blocks = w.cols / 32;
  const int valid = static_cast<int>(std::min<int64_t>(2 * kPanelRows, o_end - o));
  pack_rows<kType>(w, o, o_end, pair, 2);
  pack_rows<kType>(w, o + kPanelRows, o_end, pair + 1, 2);
  thread_local std::vector<float> state;  // the accumulators of every row tile between chunks
  state.resize((r1 - r0 + kRows) * 16);
  for (int64_t begin = 0; begin < blocks; begin += kChunkBlocks) {
    const int64_t end = std::min(blocks, begin + kChunkBlocks);
    const bool first = begin == 0, last = end == blocks;
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows)
      panel_pair_tile<kType, kRows>(pair, xq + r * blocks, blocks, begin, end, first, last,
                                    &state[(r - r0) * 16], y + r * y_stride + o, y_stride, valid);
    for (; r < r1; ++r)
      panel_pair_tile<kType, 1>(pair, xq + r * blocks, blocks, begin, end, first, last, &state[(r - r0) * 16],
                                y + r * y_stride + o, y_stride, valid);
  }
}

template <DType kType>
void panels(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin, int64_t o_end,
            float* y, int64_t y_stride) {
  constexpr int kRows = 2;  // activation rows per micro-tile (4: AVX2 spills registers, VNNI no faster)
  constexpr int64_t kRowBlock = 64;  // activation rows kept in L2 while a panel sweeps them
  const int64_t blocks = w.cols / 32;
  thread_local std::vector<PanelBlock> panel;
  panel.resize(2 * blocks);
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    const int64_t r1 = std::min(rows, r0 + kRowBlock);
    int64_t o = o_begin;
    for (; o + kPanelRows < o_end; o += 2 * kPanelRows)  // sixteen weight rows while nine or more remain
      pair_rows<kType>(xq, r0, r1, w, o, o_end, panel.data(), y, y_stride);
    for (; o < o_end; o += kPanelRows) {
      const int valid = static_cast<int>(std::min<int64_t>(kPanelRows, o_end - o));
      pack_rows<kType>(w, o, o_end, panel.data());
      int64_t r = r0;
      for (; r + kRows <= r1; r += kRows)
        panel_tile<kType, kRows>(panel.data(), xq + r * blocks, blocks, y + r * y_stride + o, y_stride,
                                 valid);
      for (; r < r1; ++r)
        panel_tile<kType, 1>(panel.data(), xq + r * blocks, blocks, y + r * y_stride + o, y_stride, valid);
    }
  }
}

inline void run_panels(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                       int64_t o_end, float* y, int64_t y_stride) {
  if (w.dtype == DType::kQ8_0) {
    panels<DType::kQ8_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  } else {
    panels<DType::kQ4_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  }
}

}  // namespace

}  // namespace cpm::kernels

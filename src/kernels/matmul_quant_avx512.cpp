// The quantized panel matmul (prefill, q8_0 and q4_0) for AVX-512 with VNNI: matmul_panels_body.h's
// panel pairs with both panels in one 512-bit register, sixteen weight rows per vpdpbusd where the
// AVX-VNNI build multiplies eight. The same packing (quant_panel_packing.h), the same integer dots
// and the same float order per output (matmul_tiles.h), so the same bits. And for weights grouped by
// eight rows, from 3 activation rows to kGroupedPanelMinRows (batched decode; matmul_quant_body.h),
// group pairs: two groups per register unpacked as they stream, without packing.
//
// Nothing from the standard library here: an inline template instantiated in this file could be the
// copy the linker keeps for the whole program, built for AVX-512, and run on CPUs without it.
// GCC 12's own AVX-512 intrinsics (_mm512_inserti64x4, _mm512_cvtepi32_ps) start from an undefined
// register and warn that it "may be used uninitialized" (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/matmul_tiles.h"

namespace cpm::kernels {
constexpr bool kUseAvxVnni = true;  // panels hold q8_0 as w + 128 (unsigned), as vpdpbusd wants
}  // namespace cpm::kernels

#include "kernels/quant_panel_packing.h"

namespace cpm::kernels {

namespace {

constexpr int kTileRows = 4;          // activation rows per tile: 8 vpdpbusd chains (two per row)
constexpr int64_t kRowBlock = 64;     // activation rows kept in L2 while a panel pair sweeps them
constexpr int64_t kChunkBlocks = 32;  // blocks of the pair per sweep (18 KB: stays in L1)

inline int64_t smaller(int64_t a, int64_t b) {
  return a < b ? a : b;
}

// Both panels' quad q (or scales) as one register: panel 0 in the low half, panel 1 in the high.
inline __m512i pair_quads(const PanelBlock* wb, int q) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_load_si256(&wb[0].quads[q])),
                            _mm256_load_si256(&wb[1].quads[q]), 1);
}
inline __m512 pair_scales(const PanelBlock* wb) {
  return _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(_mm256_castps_si256(wb[0].scales)),
                                                _mm256_castps_si256(wb[1].scales), 1));
}

inline __m512i broadcast4(const int8_t* bytes) {
  int32_t value;
  __builtin_memcpy(&value, bytes, 4);
  return _mm512_set1_epi32(value);
}

// R activation rows against a panel pair (pair[2b], pair[2b + 1]) over blocks [begin, end): per row,
// quads 0..3 chain from minus the offset and quads 4..7 from zero, added per block. Accumulators
// continue from `state` (16 floats per row) unless `first`, and stay there unless `last`, when the
// first `valid` outputs of each row go to y.
template <DType kType, int R>
void pair_tile(const PanelBlock* pair, const ActivationBlock* xq, int64_t x_blocks, int64_t begin,
               int64_t end, bool first, bool last, float* state, float* y, int64_t y_stride, int valid) {
  constexpr int kOffsetScale = kType == DType::kQ8_0 ? 16 : 1;  // offset holds 8 × Σx
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(state + 16 * r);
  for (int64_t b = begin; b < end; ++b) {
    const PanelBlock* wb = pair + 2 * b;
    const ActivationBlock* xb[R];
    for (int r = 0; r < R; ++r) xb[r] = xq + r * x_blocks + b;
    __m512i low[R], high[R];
    for (int r = 0; r < R; ++r) {
      low[r] = _mm512_set1_epi32(-kOffsetScale * xb[r]->offset);
      high[r] = _mm512_setzero_si512();
    }
    for (int q = 0; q < 4; ++q) {
      for (int h = 0; h < 2; ++h) {
        const __m512i w = pair_quads(wb, 4 * h + q);
        for (int r = 0; r < R; ++r) {
          const __m512i x = broadcast4(xb[r]->values + 16 * h + 4 * q);
          __m512i* chain = h == 0 ? low : high;
          chain[r] = _mm512_dpbusd_epi32(chain[r], w, x);
        }
      }
    }
    const __m512 weight_scales = pair_scales(wb);
    for (int r = 0; r < R; ++r) {
      const __m512 scales = _mm512_mul_ps(weight_scales, _mm512_set1_ps(xb[r]->scale));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(low[r], high[r])), scales, acc[r]);
    }
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
  for (int r = 0; r < R; ++r) {
    if (!last) {
      _mm512_storeu_ps(state + 16 * r, acc[r]);
    } else {
      _mm512_mask_storeu_ps(y + r * y_stride, mask, acc[r]);
    }
  }
}

// Weight rows o .. o + 15 (o_end caps the valid ones) for activation rows [r0, r1), the reduced
// dimension in chunks of kChunkBlocks. A pair with eight rows or fewer packs its first panel twice.
template <DType kType>
void pair_rows(const ActivationBlock* xq, int64_t r0, int64_t r1, const MatrixView& w, int64_t o,
               int64_t o_end, PanelBlock* pair, float* state, float* y, int64_t y_stride) {
  const int64_t blocks = w.cols / 32;
  const int valid = static_cast<int>(smaller(2 * kPanelRows, o_end - o));
  pack_rows<kType>(w, o, o_end, pair, 2);
  pack_rows<kType>(w, o + kPanelRows < o_end ? o + kPanelRows : o, o_end, pair + 1, 2);
  for (int64_t begin = 0; begin < blocks; begin += kChunkBlocks) {
    const int64_t end = smaller(blocks, begin + kChunkBlocks);
    const bool first = begin == 0, last = end == blocks;
    int64_t r = r0;
    for (; r + kTileRows <= r1; r += kTileRows)
      pair_tile<kType, kTileRows>(pair, xq + r * blocks, blocks, begin, end, first, last,
                                  state + (r - r0) * 16, y + r * y_stride + o, y_stride, valid);
    for (; r < r1; ++r)
      pair_tile<kType, 1>(pair, xq + r * blocks, blocks, begin, end, first, last, state + (r - r0) * 16,
                          y + r * y_stride + o, y_stride, valid);
  }
}

// Weights grouped by eight rows (kernels/row_groups.h), for few activation rows: two groups side by
// side in each 512-bit register, unpacked as they stream in (no panels to pack for a handful of rows).
// Block b of groups 0 and 1 as pair_tile's registers: quads (group 0 low, group 1 high) and scales.
template <DType kType>
inline void load_group_pair(const uint8_t* group0, const uint8_t* group1, int64_t b, __m512i* quads,
                            __m512* scales) {
  const uint16_t *scales0, *scales1;
  const auto pair = [](const void* low, const void* high) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(static_cast<const __m256i*>(low))),
                              _mm256_loadu_si256(static_cast<const __m256i*>(high)), 1);
  };
  if constexpr (kType == DType::kQ4_0) {
    const GroupBlockQ4_0& g0 = reinterpret_cast<const GroupBlockQ4_0*>(group0)[b];
    const GroupBlockQ4_0& g1 = reinterpret_cast<const GroupBlockQ4_0*>(group1)[b];
    const __m512i mask = _mm512_set1_epi32(0x0f0f0f0f);
    for (int k = 0; k < 4; ++k) {
      const __m512i packed = pair(g0.nibbles + 32 * k, g1.nibbles + 32 * k);
      quads[k] = _mm512_and_si512(packed, mask);
      // (A 32-bit shift: the mask drops what crosses from the next byte, as with 16-bit lanes.)
      quads[4 + k] = _mm512_and_si512(_mm512_srli_epi32(packed, 4), mask);
    }
    scales0 = g0.scales, scales1 = g1.scales;
  } else {
    const GroupBlockQ8_0& g0 = reinterpret_cast<const GroupBlockQ8_0*>(group0)[b];
    const GroupBlockQ8_0& g1 = reinterpret_cast<const GroupBlockQ8_0*>(group1)[b];
    const __m512i flip = _mm512_set1_epi32(static_cast<int>(0x80808080u));  // w + 128, as the panels
    for (int q = 0; q < 8; ++q)
      quads[q] = _mm512_xor_si512(pair(g0.values + 32 * q, g1.values + 32 * q), flip);
    scales0 = g0.scales, scales1 = g1.scales;
  }
  const __m128i bits0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales0));
  const __m128i bits1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales1));
  *scales = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(bits0), bits1, 1));
}

// R activation rows against groups 0 and 1 over every block: pair_tile's sums and float order (so
// group_tile's bits), the first `valid` of the sixteen outputs stored per row. Each block asks for
// the lines 32 KB ahead in both groups, into L2: on a Zen 5 (2 threads, MiniCPM3-4B q4_0, batches of
// 4) the fastest tenth of steps took 70-82 ms where 6 KB ahead (group_tile's distance) took 84-91 and
// none 111.
template <DType kType, int R>
void group_pair_tile(const uint8_t* group0, const uint8_t* group1, const ActivationBlock* xq, int64_t blocks,
                     float* y, int64_t y_stride, int valid) {
  constexpr int kOffsetScale = kType == DType::kQ8_0 ? 16 : 1;  // offset holds 8 × Σx
  static_assert(kOffsetScale == 1 || kOffsetScale == 16);
  constexpr int64_t kBlockBytes = kType == DType::kQ4_0 ? sizeof(GroupBlockQ4_0) : sizeof(GroupBlockQ8_0);
  constexpr int64_t kPrefetchBytes = 32768;
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const uint8_t* const groups[2] = {group0, group1};
  for (int64_t b = 0; b < blocks; ++b) {
    for (const uint8_t* group : groups) {
      const char* ahead = reinterpret_cast<const char*>(group + b * kBlockBytes + kPrefetchBytes);
      for (int64_t line = 0; line < kBlockBytes; line += 64) _mm_prefetch(ahead + line, _MM_HINT_T1);
    }
    __m512i quads[8];
    __m512 weight_scales;
    load_group_pair<kType>(group0, group1, b, quads, &weight_scales);
    // Both chains start from zero and the offset comes off their sum: a broadcast from memory per row
    // instead of a negation and a move from a general register.
    __m512i low[R], high[R];
    for (int r = 0; r < R; ++r) low[r] = high[r] = _mm512_setzero_si512();
    for (int q = 0; q < 4; ++q) {
      for (int r = 0; r < R; ++r) {
        const int8_t* values = xq[r * blocks + b].values;
        low[r] = _mm512_dpbusd_epi32(low[r], quads[q], broadcast4(values + 4 * q));
        high[r] = _mm512_dpbusd_epi32(high[r], quads[4 + q], broadcast4(values + 16 + 4 * q));
      }
    }
    for (int r = 0; r < R; ++r) {
      const ActivationBlock& xb = xq[r * blocks + b];
      __m512i offset = _mm512_set1_epi32(xb.offset);
      if constexpr (kOffsetScale != 1) offset = _mm512_slli_epi32(offset, 4);
      const __m512i sums = _mm512_sub_epi32(_mm512_add_epi32(low[r], high[r]), offset);
      const __m512 scales = _mm512_mul_ps(weight_scales, _mm512_set1_ps(xb.scale));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scales, acc[r]);
    }
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(y + r * y_stride, mask, acc[r]);
}

template <DType kType>
void group_pairs(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin, int64_t o_end,
                 float* y, int64_t y_stride) {
  const int64_t blocks = w.cols / 32;
  for (int64_t o = o_begin; o < o_end; o += 2 * kRowsPerGroup) {
    const uint8_t* group0 = w.data + o / kRowsPerGroup * w.row_bytes;
    // A last group without a partner pairs with itself and stores its own outputs only.
    const uint8_t* group1 = o + kRowsPerGroup < o_end ? group0 + w.row_bytes : group0;
    const int valid = static_cast<int>(smaller(2 * kRowsPerGroup, o_end - o));
    int64_t r = 0;
    for (; r + kTileRows <= rows; r += kTileRows)
      group_pair_tile<kType, kTileRows>(group0, group1, xq + r * blocks, blocks, y + r * y_stride + o,
                                        y_stride, valid);
    const ActivationBlock* x_rest = xq + r * blocks;
    float* y_rest = y + r * y_stride + o;
    switch (rows - r) {  // one more pass over the pair at most
      case 3:
        group_pair_tile<kType, 3>(group0, group1, x_rest, blocks, y_rest, y_stride, valid);
        break;
      case 2:
        group_pair_tile<kType, 2>(group0, group1, x_rest, blocks, y_rest, y_stride, valid);
        break;
      case 1:
        group_pair_tile<kType, 1>(group0, group1, x_rest, blocks, y_rest, y_stride, valid);
        break;
    }
  }
}

// A thread's panel pair, grown as wider products come (PanelBlock needs 32-byte alignment).
struct PairBuffer {
  PanelBlock* blocks = nullptr;
  int64_t capacity = 0;
  ~PairBuffer() { delete[] blocks; }
  PanelBlock* reserve(int64_t count) {
    if (count > capacity) {
      delete[] blocks;
      blocks = new PanelBlock[count];
      capacity = count;
    }
    return blocks;
  }
};

template <DType kType>
void panels(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin, int64_t o_end,
            float* y, int64_t y_stride) {
  static thread_local PairBuffer buffer;
  alignas(64) static thread_local float state[kRowBlock * 16];  // accumulators between chunks
  PanelBlock* pair = buffer.reserve(2 * (w.cols / 32));
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    const int64_t r1 = smaller(rows, r0 + kRowBlock);
    for (int64_t o = o_begin; o < o_end; o += 2 * kPanelRows)
      pair_rows<kType>(xq, r0, r1, w, o, o_end, pair, state, y, y_stride);
  }
}

}  // namespace

void quant_group_pairs_avx512(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                              int64_t o_end, float* y, int64_t y_stride) {
  if (w.dtype == DType::kQ8_0) {
    group_pairs<DType::kQ8_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  } else {
    group_pairs<DType::kQ4_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  }
}

void quant_panels_avx512(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                         int64_t o_end, float* y, int64_t y_stride) {
  if (w.dtype == DType::kQ8_0) {
    panels<DType::kQ8_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  } else {
    panels<DType::kQ4_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  }
}

}  // namespace cpm::kernels

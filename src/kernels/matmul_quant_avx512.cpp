// The quantized panel matmul (prefill, q8_0 and q4_0) for AVX-512 with VNNI: matmul_panels_body.h's
// panel pairs with both panels in one 512-bit register, sixteen weight rows per vpdpbusd where the
// AVX-VNNI build multiplies eight. The same packing (quant_panel_packing.h), the same integer dots
// and the same float order per output (matmul_tiles.h), so the same bits.
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

void quant_panels_avx512(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                         int64_t o_end, float* y, int64_t y_stride) {
  if (w.dtype == DType::kQ8_0) {
    panels<DType::kQ8_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  } else {
    panels<DType::kQ4_0>(xq, rows, w, o_begin, o_end, y, y_stride);
  }
}

}  // namespace cpm::kernels

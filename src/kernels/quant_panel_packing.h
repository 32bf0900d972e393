// Packing quantized weights into panels of eight rows (PanelBlock), for the panel matmuls:
// matmul_panels_body.h (AVX2 and AVX-VNNI builds) and matmul_quant_avx512.cpp. The including file
// defines kUseAvxVnni first (q8_0 is packed as w + 128 for vpdpbusd when it is true); everything
// here is internal to that file. Nothing from the standard library: an inline template instantiated
// here could be the copy the linker keeps, built for the including file's instruction set.
#pragma once

#include <immintrin.h>

#include "kernels/matmul_tiles.h"
#include "kernels/quant_blocks.h"
#include "kernels/row_groups.h"

namespace cpm::kernels {

namespace {

constexpr int kPanelRows = 8;

// One block (32 reduced positions) of eight weight rows. quads[q] lane c holds weights 4q..4q+3 of
// row c: q4_0 as unsigned nibbles 0..15, q8_0 as signed bytes (with AVX-VNNI, w + 128 as unsigned
// ones). scales lane c is row c's block scale.
struct alignas(32) PanelBlock {
  __m256i quads[8];
  __m256 scales;
};

// Transposes eight rows of eight 32-bit elements: out[q] lane c = in[c] element q.
void transpose8x8(const __m256i* in, __m256i* out) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi32(in[2 * i], in[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(in[2 * i], in[2 * i + 1]);
  }
  for (int half = 0; half < 2; ++half) {  // rows 0..3, then rows 4..7
    const __m256i* s = t + 4 * half;
    u[4 * half + 0] = _mm256_unpacklo_epi64(s[0], s[2]);
    u[4 * half + 1] = _mm256_unpackhi_epi64(s[0], s[2]);
    u[4 * half + 2] = _mm256_unpacklo_epi64(s[1], s[3]);
    u[4 * half + 3] = _mm256_unpackhi_epi64(s[1], s[3]);
  }
  for (int q = 0; q < 4; ++q) {
    out[q] = _mm256_permute2x128_si256(u[q], u[q + 4], 0x20);
    out[q + 4] = _mm256_permute2x128_si256(u[q], u[q + 4], 0x31);
  }
}

// Row `c`'s block as 32 bytes in element order.
template <DType kType>
__m256i unpacked_block(const uint8_t* row, int64_t block) {
  if constexpr (kType == DType::kQ8_0) {
    return _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(reinterpret_cast<const BlockQ8_0*>(row)[block].values));
  } else {
    const __m128i packed = _mm_loadu_si128(
        reinterpret_cast<const __m128i*>(reinterpret_cast<const BlockQ4_0*>(row)[block].nibbles));
    const __m128i mask = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), mask), _mm_and_si128(packed, mask));
  }
}

template <DType kType>
uint16_t block_scale(const uint8_t* row, int64_t block) {
  if constexpr (kType == DType::kQ8_0) return reinterpret_cast<const BlockQ8_0*>(row)[block].scale;
  return reinterpret_cast<const BlockQ4_0*>(row)[block].scale;
}

// Packs eight weight rows into panel[b * stride] for every block b (stride > 1 interleaves panels).
template <DType kType>
void pack_panel(const uint8_t* const* rows, int64_t blocks, PanelBlock* panel, int64_t stride = 1) {
  for (int64_t b = 0; b < blocks; ++b) {
    __m256i bytes[kPanelRows];
    alignas(16) uint16_t scales[kPanelRows];
    for (int c = 0; c < kPanelRows; ++c) {
      bytes[c] = unpacked_block<kType>(rows[c], b);
      // vpdpbusd multiplies unsigned by signed bytes: q8_0 weights move to 0..255 (w + 128), and
      // the dot subtracts 128 × Σx as q4_0's subtracts 8 × Σx.
      if constexpr (kUseAvxVnni && kType == DType::kQ8_0)
        bytes[c] = _mm256_xor_si256(bytes[c], _mm256_set1_epi8(static_cast<char>(0x80)));
      scales[c] = block_scale<kType>(rows[c], b);
    }
    transpose8x8(bytes, panel[b * stride].quads);
    panel[b * stride].scales = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(scales)));
  }
}

// Block b of a group of eight rows (kernels/row_groups.h) as PanelBlock quads and f32 scales: the
// q4_0 nibbles are only masked and shifted, the q8_0 bytes taken as they are (no transpose).
template <DType kType>
inline void load_group_block(const uint8_t* group, int64_t b, __m256i* quads, __m256* scales) {
  const uint16_t* scale_bits;
  if constexpr (kType == DType::kQ4_0) {
    const GroupBlockQ4_0& g = reinterpret_cast<const GroupBlockQ4_0*>(group)[b];
    const __m256i mask = _mm256_set1_epi8(0x0f);
    for (int k = 0; k < 4; ++k) {
      __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.nibbles + 32 * k));
      // Kept in a register: GCC otherwise folds the load into the mask and loads the same bytes again
      // for the shift, one extra load per register in the decode tile (docs/PERFORMANCE.md).
      asm("" : "+x"(packed));
      quads[k] = _mm256_and_si256(packed, mask);
      quads[4 + k] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), mask);
    }
    scale_bits = g.scales;
  } else {
    const GroupBlockQ8_0& g = reinterpret_cast<const GroupBlockQ8_0*>(group)[b];
    for (int q = 0; q < 8; ++q) {
      quads[q] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.values + 32 * q));
      if constexpr (kUseAvxVnni)
        quads[q] = _mm256_xor_si256(quads[q], _mm256_set1_epi8(static_cast<char>(0x80)));
    }
    scale_bits = g.scales;
  }
  *scales = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scale_bits)));
}

// pack_panel for eight rows stored as a group.
template <DType kType>
void pack_group_panel(const uint8_t* group, int64_t blocks, PanelBlock* panel, int64_t stride) {
  for (int64_t b = 0; b < blocks; ++b)
    load_group_block<kType>(group, b, panel[b * stride].quads, &panel[b * stride].scales);
}

// The eight weight rows from o in panel[b * stride] (a short last panel repeats its last row).
template <DType kType>
void pack_rows(const MatrixView& w, int64_t o, int64_t o_end, PanelBlock* panel, int64_t stride = 1) {
  const int64_t blocks = w.cols / 32;
  if (w.layout == MatrixLayout::kRowGroupsOf8)
    return pack_group_panel<kType>(w.data + o / kRowsPerGroup * w.row_bytes, blocks, panel, stride);
  const uint8_t* weight_rows[kPanelRows];
  for (int c = 0; c < kPanelRows; ++c) weight_rows[c] = w.row(o + c < o_end ? o + c : o_end - 1);
  pack_panel<kType>(weight_rows, blocks, panel, stride);
}

}  // namespace

}  // namespace cpm::kernels

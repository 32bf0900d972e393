// Internal to src/kernels: the per-ISA bodies of matmul over a range of output rows.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "kernels/quant_blocks.h"

namespace cpm::kernels {

// One 32-wide block of an activation row quantized to q8_0 (the same values and fp16-rounded scale
// as quantize_row_q8_0), with what the quantized kernels would otherwise recompute per weight row:
// the scale widened to f32, and 8 × the block's sum (q4_0 weights are multiplied as unsigned nibbles
// 0..15, so 8 × Σx is subtracted to apply their offset of -8).
struct alignas(32) ActivationBlock {
  int8_t values[32];
  int32_t offset;  // 8 × Σ x[0..32)
  float scale;
};

void quantize_activations(const float* x, int64_t n, ActivationBlock* out);  // AVX2 where available
void quantize_activations_portable(const float* x, int64_t n, ActivationBlock* out);
void quantize_activations_avx2(const float* x, int64_t n, ActivationBlock* out);

// y[r, o] for r < rows, o_begin <= o < o_end. Quantized weights read xq (x quantized per row, n/32
// blocks each); float weights read x.
//
// Quantized summation order, per output: for each block in order, the exact integer dot of the
// block, s; acc = fma(s, w_scale * x_scale, acc) from acc = 0. It depends only on the width, never on
// tiles, rows or threads.
void matmul_range_avx2(const float* x, const ActivationBlock* xq, int64_t rows, int64_t x_stride,
                       const MatrixView& w, int64_t o_begin, int64_t o_end, float* y, int64_t y_stride);
// The quantized part of matmul_range_avx2 for many rows, in packed weight panels (the same order).
void quant_panels_avx2(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                       int64_t o_end, float* y, int64_t y_stride);
// The same with AVX-VNNI byte dot products (same bits); only where cpu_has_avx_vnni(). So is
// quant_range_avxvnni: the quantized part of matmul_range_avx2 for any row count.
void quant_panels_avxvnni(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                          int64_t o_end, float* y, int64_t y_stride);
void quant_range_avxvnni(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                         int64_t o_end, float* y, int64_t y_stride);
// The same with AVX-512 and its VNNI (sixteen weight rows per instruction; same bits); only where
// cpu_has_avx512_vnni().
void quant_panels_avx512(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                         int64_t o_end, float* y, int64_t y_stride);
// Grouped weights (MatrixLayout::kRowGroupsOf8, o_begin on a group) for few rows: two groups per
// 512-bit register, unpacked as they stream (same bits); only where cpu_has_avx512_vnni().
void quant_group_pairs_avx512(const ActivationBlock* xq, int64_t rows, const MatrixView& w, int64_t o_begin,
                              int64_t o_end, float* y, int64_t y_stride);
// The packed GEMM for float weights (matmul_packed_avx2.cpp), SummationOrder::kFastest. x is packed
// once per product: per depth block of kPackedDepth columns (the last may be shorter), per tile of
// kPackedTileRows rows (the last padded with zeros), each column's 6 values in turn.
constexpr int64_t kPackedTileRows = 6, kPackedTileOutputs = 16, kPackedDepth = 256;
inline int64_t packed_row_tiles(int64_t rows) {
  return (rows + kPackedTileRows - 1) / kPackedTileRows;
}
inline int64_t packed_rows_floats(int64_t rows, int64_t cols) {
  return packed_row_tiles(rows) * kPackedTileRows * cols;
}
// Packing splits into (depth block, row tile) tasks; pack_rows_avx2 does tasks [task_begin, task_end).
inline int64_t pack_rows_tasks(int64_t rows, int64_t cols) {
  return (cols + kPackedDepth - 1) / kPackedDepth * packed_row_tiles(rows);
}
void pack_rows_avx2(const float* x, int64_t rows, int64_t x_stride, int64_t cols, int64_t task_begin,
                    int64_t task_end, float* packed);
// y[r, o] for r < rows, o_begin <= o < o_end from the packed x; x itself for the last outputs when
// fewer than kPackedTileOutputs are left (the batch-invariant tiles).
void packed_range_avx2(const float* packed_x, const float* x, int64_t rows, int64_t x_stride,
                       const MatrixView& w, int64_t o_begin, int64_t o_end, float* y, int64_t y_stride);
// The packed GEMM over at most kPackedPassRows rows at a time (the packed copy of 512 rows of
// down_proj's input is 13 MB in f32).
constexpr int64_t kPackedPassRows = 516;  // a multiple of the 6-row tiles
// SummationOrder::kFastestBf16 (matmul_bf16_avx512bf16.cpp; only where cpu_has_avx512_bf16()): x
// rounded to bf16 and packed as pack_rows_avx2 packs it, but with one 32-bit word per row and pair
// of columns (two bf16 values, the lower column in the low half; an odd last column paired with zero).
inline int64_t packed_rows_bf16_words(int64_t rows, int64_t cols) {
  return packed_row_tiles(rows) * kPackedTileRows * ((cols + 1) / 2);
}
void pack_rows_bf16(const float* x, int64_t rows, int64_t x_stride, int64_t cols, int64_t task_begin,
                    int64_t task_end, uint32_t* packed);
// y[r, o] for r < rows (at most kPackedPassRows), o_begin <= o < o_end, from that packed x and
// row-major bf16 weights, multiplied in pairs by vdpbf16ps.
void packed_range_bf16(const uint32_t* packed_x, int64_t rows, const MatrixView& w, int64_t o_begin,
                       int64_t o_end, float* y, int64_t y_stride);
// The inner loops of packed_range_avx2 for AVX-512F (matmul_packed_avx512.cpp; only where
// cpu_has_avx512()): the row tiles covering `rows` rows from `a` (one depth block of the packed x,
// tile after tile) against `outputs` packed outputs (a multiple of kPackedTileOutputs) at `b`, over
// `depth` steps, into c (added to when `accumulate`). The same bits as the AVX2 tiles.
void packed_block_avx512(const float* a, int64_t rows, const float* b, int64_t outputs, int64_t depth,
                         float* c, int64_t c_stride, bool accumulate);
// How far ahead the float decode tiles (AVX2 and AVX-512) ask for weights, at least: one tile of
// q_b_proj's short bf16 rows (2 x 1.5 KB) left it streaming at 33 GB/s where the other products ran
// 46-52; 8 KB (two tiles) brought it to 46-50, and 16 KB did no better (docs/PERFORMANCE.md).
constexpr int64_t kFloatPrefetchBytes = 8192;
// Float weights against few rows (batched decode) for AVX-512F (matmul_float_avx512.cpp; only where
// cpu_has_avx512() and w.cols % 8 == 0): tiles of 4 activation rows by 8 outputs from o_begin, as many
// as fit in [0, rows) x [o_begin, o_end); the caller computes the rest. The bits of the AVX2 tiles.
constexpr int64_t kFloatTileRowsAvx512 = 4, kFloatTileOutputsAvx512 = 8;
void float_tiles_avx512(const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, int64_t o_begin,
                        int64_t o_end, float* y, int64_t y_stride);
void matmul_range_portable(const float* x, const ActivationBlock* xq, int64_t rows, int64_t x_stride,
                           const MatrixView& w, int64_t o_begin, int64_t o_end, float* y, int64_t y_stride);

}  // namespace cpm::kernels

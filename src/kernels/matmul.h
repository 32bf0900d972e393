// Matrix products of f32 activations with weight matrices of any supported type.
//
// Determinism: in the batch-invariant order (the default), every output element is one dot product
// whose summation order depends only on the length of the reduced dimension, never on how many rows
// share the call or how threads split the work. So a token's results are bitwise the same alone or in
// any batch. The fastest order gives up only the first part: results still never depend on threads.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace cpm {

enum class SummationOrder {
  kBatchInvariant,  // each row's results the same bits whatever other rows share the call
  // Float weights (f32, f16, bf16) over kFastestMinRows rows or more, with AVX2: a packed GEMM, faster in
  // prefill (docs/PERFORMANCE.md), whose rows differ in the last bits from the same rows in fewer. Otherwise
  // the same as kBatchInvariant.
  kFastest,
  // kFastest, and where the CPU has AVX512_BF16 the packed GEMM over bf16 weights rounds x to bf16 (to
  // nearest even) and multiplies column pairs with vdpbf16ps: twice the arithmetic rate of f32 FMAs,
  // as llama.cpp computes with f16 and bf16 weights. Each bf16 product is exact and sums in f32, so
  // results move only by x's rounding (relative 2^-9 per element). Elsewhere the same as kFastest.
  kFastestBf16,
};
// Below it the packed GEMM was no faster: bf16 6400 x 2560 and 2560 x 6400 on 2 threads ran 0.93-1.01x
// the batch-invariant tiles at 16-32 rows, 1.06-1.10x at 48-64 (docs/PERFORMANCE.md).
constexpr int64_t kFastestMinRows = 48;

// The weights a decode step multiplies next (the next product's, or kv_b_proj's for attention). A
// product of at most kMaxPrefetchingRows rows given them has each thread, once done with its part,
// ask for the start of its share of them while it waits (ThreadPool's PrefetchPlan). Results do not
// depend on it.
using NextWeights = std::initializer_list<const MatrixView*>;
constexpr int64_t kMaxPrefetchingRows = 16;
// Thread `index` of `parts`: the start of the index-th of equal byte parts of `next` in order, up to
// the end of the matrix it starts in and at most 512 KB. Empty for a matrix that is not one
// contiguous run (a column slice).
PrefetchRange prefetch_share(NextWeights next, int parts, int index);

// y[r, o] = sum_k x[r, k] * w[o, k] for r < rows, o < w.rows. x is [rows, w.cols] with row stride
// x_stride; y is [rows, w.rows] with row stride y_stride. rows may be 0.
void matmul(ThreadPool& pool, const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, float* y,
            int64_t y_stride, SummationOrder order = SummationOrder::kBatchInvariant, NextWeights next = {});
inline void matmul(ThreadPool& pool, const float* x, int64_t rows, const MatrixView& w, float* y,
                   SummationOrder order = SummationOrder::kBatchInvariant, NextWeights next = {}) {
  matmul(pool, x, rows, w.cols, w, y, w.rows, order, next);
}

// Several products of the same x, such as gate_proj and up_proj: x is quantized once and all outputs
// are computed in one parallel region (one wait for the threads instead of one per matrix). Same
// results as separate matmul calls.
struct MatmulOutput {
  const MatrixView* w;
  float* y;
  int64_t y_stride;
};
void matmul_same_input(ThreadPool& pool, const float* x, int64_t rows, int64_t x_stride,
                       std::initializer_list<MatmulOutput> outputs,
                       SummationOrder order = SummationOrder::kBatchInvariant, NextWeights next = {});

// Single-threaded building blocks with the same summation order as matmul (batch-invariant).
//
// y[i] = row first + i of w times x, for i < count: one row of x through a run of w's rows on the
// calling thread, bitwise as matmul gives those outputs (x quantized per block for block-quantized
// w). For products too small to be worth waking threads, such as one attention head's. Under
// kRowGroupsOf8, first must start a group.
void matvec_rows(const MatrixView& w, int64_t first, int64_t count, const float* x, float* y);
float dot_row(const MatrixView& w, int64_t row, const float* x);
// y[0..w.cols) += scale * w[row, :]
void axpy_row(const MatrixView& w, int64_t row, float scale, float* y);
// Many inputs at once, bitwise the same as the loops they replace, faster (weights widened once):
// y[t][j] = sum over i < k of x[t][i] * w[first + i, j] (as zeroing y[t], then axpy_row for each i in
// order), and y[t][o] = dot_row(w, first + o, x[t]) for o < outputs; t < tokens. `next_first` names
// the rows of the caller's next call (decode reads kv_b_proj one head's block after another): while
// reading these, a decode step asks for those into L2. Ignored when negative or past the last row.
void combine_rows(const MatrixView& w, int64_t first, int64_t k, const float* const* x, float* const* y,
                  int64_t tokens, int64_t next_first = -1);
void dot_rows(const MatrixView& w, int64_t first, int64_t outputs, const float* const* x, float* const* y,
              int64_t tokens, int64_t next_first = -1);
// Widens one row of w to f32.
void load_row(const MatrixView& w, int64_t row, float* out);

// Plain f32 dot product with the fixed summation order used throughout (8 interleaved partial sums).
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace cpm

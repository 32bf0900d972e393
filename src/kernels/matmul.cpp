#include "kernels/matmul.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/aligned_vector.h"
#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/dot_kernels.h"
#include "kernels/matmul_tiles.h"
#include "kernels/quantize.h"
#include "kernels/row_groups.h"

namespace cpm {

namespace kernels {

void quantize_activations(const float* x, int64_t n, ActivationBlock* out) {
  if (cpu_has_avx2()) return quantize_activations_avx2(x, n, out);
  quantize_activations_portable(x, n, out);
}

void quantize_activations_portable(const float* x, int64_t n, ActivationBlock* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    BlockQ8_0 block;
    quantize_row_q8_0(x + b * 32, 32, &block);
    ActivationBlock& a = out[b];
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      a.values[i] = block.values[i];
      sum += block.values[i];
    }
    a.offset = 8 * sum;
    a.scale = f16_to_f32(block.scale);
  }
}

namespace {

inline float portable_lane_sum(const float lanes[8]) {
  return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
}

// Block `block` of row o as 32 integer weights; returns its scale.
float block_weights(const MatrixView& w, int64_t o, int64_t block, int* values) {
  const bool grouped = w.layout == MatrixLayout::kRowGroupsOf8;
  if (w.dtype == DType::kQ8_0) {
    const BlockQ8_0 wb =
        grouped ? grouped_block_q8_0(w, o, block) : reinterpret_cast<const BlockQ8_0*>(w.row(o))[block];
    for (int i = 0; i < 32; ++i) values[i] = wb.values[i];
    return f16_to_f32(wb.scale);
  }
  const BlockQ4_0 wb =
      grouped ? grouped_block_q4_0(w, o, block) : reinterpret_cast<const BlockQ4_0*>(w.row(o))[block];
  for (int i = 0; i < 32; ++i) values[i] = q4_0_value(wb, i);
  return f16_to_f32(wb.scale);
}

// The quantized summation order of matmul_tiles.h in scalar code; std::fma rounds as the FMA does,
// so the result is bitwise the AVX2 one.
float quantized_dot(const MatrixView& w, int64_t o, const ActivationBlock* xq) {
  float acc = 0;
  for (int64_t b = 0; b < w.cols / 32; ++b) {
    int values[32];
    const float scale = block_weights(w, o, b, values);
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) sum += values[i] * xq[b].values[i];
    acc = std::fma(static_cast<float>(sum), scale * xq[b].scale, acc);
  }
  return acc;
}

}  // namespace

// The AVX2 tiles' summation order, in scalar code (float weights: without fused multiply-adds).
void matmul_range_portable(const float* x, const ActivationBlock* xq, int64_t rows, int64_t x_stride,
                           const MatrixView& w, int64_t o_begin, int64_t o_end, float* y, int64_t y_stride) {
  const bool quantized = dtype_info(w.dtype).block_size > 1;
  std::vector<float> weights(w.cols);
  for (int64_t o = o_begin; o < o_end; ++o) {
    if (quantized) {
      for (int64_t r = 0; r < rows; ++r) y[r * y_stride + o] = quantized_dot(w, o, xq + r * (w.cols / 32));
      continue;
    }
    load_row(w, o, weights.data());
    for (int64_t r = 0; r < rows; ++r) {
      float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      const float* row = x + r * x_stride;
      const int64_t full = w.cols / 8 * 8;
      for (int64_t i = 0; i < full; ++i) lanes[i & 7] += weights[i] * row[i];
      float sum = portable_lane_sum(lanes);
      for (int64_t i = full; i < w.cols; ++i) sum += weights[i] * row[i];
      y[r * y_stride + o] = sum;
    }
  }
}

}  // namespace kernels

namespace {
// Output rows per task: small enough to balance two threads, large enough to amortize dispatch.
// Quantized tiles compute outputs four or eight at a time, so their tasks are multiples of 16.
constexpr int64_t kOutputGrain = 24;  // a multiple of the float panels (12 outputs) and decode tiles (8)
constexpr int64_t kQuantizedOutputGrain = 16;
static_assert(kQuantizedOutputGrain % kRowsPerGroup == 0, "tasks must start on a group of rows");

// Quantizes x once per row for every output to share; rows in parallel (prefill has many).
const kernels::ActivationBlock* quantize_rows(ThreadPool& pool, const float* x, int64_t rows,
                                              int64_t x_stride, int64_t cols) {
  thread_local std::vector<kernels::ActivationBlock> quantized;
  if (cols % 32 != 0) fail("internal: quantized matrix width ", cols, " is not a multiple of 32");
  const int64_t blocks = cols / 32;
  quantized.resize(rows * blocks);
  kernels::ActivationBlock* out = quantized.data();
  pool.parallel_for(rows, 1, [&](int, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      kernels::quantize_activations(x + r * x_stride, cols, out + r * blocks);
  });
  return out;
}

// Work units of `grain` output rows, numbered across the matrices in order, balanced over the threads:
// fn(w, y, y_stride, o_begin, o_end) per piece.
template <typename Fn>
void for_output_ranges(ThreadPool& pool, std::initializer_list<MatmulOutput> outputs, int64_t grain,
                       const Fn& fn, const PrefetchPlan* then = nullptr) {
  int64_t units = 0;
  for (const MatmulOutput& out : outputs) units += (out.w->rows + grain - 1) / grain;
  // Balanced: two threads streaming weights from memory rarely get equal shares of its bandwidth.
  pool.parallel_for_balanced(
      units, 1,
      [&](int, int64_t begin, int64_t end) {
        int64_t first_unit = 0;
        for (const MatmulOutput& out : outputs) {
          const int64_t count = (out.w->rows + grain - 1) / grain;
          const int64_t from = std::max(begin, first_unit), to = std::min(end, first_unit + count);
          if (from < to)
            fn(*out.w, out.y, out.y_stride, (from - first_unit) * grain,
               std::min(out.w->rows, (to - first_unit) * grain));
          first_unit += count;
        }
      },
      then);
}

// SummationOrder::kFastest over float weights: x packed once for all outputs, at most
// kernels::kPackedPassRows rows at a time.
// The task size, in 16-output tiles, that splits the products' tiles most evenly over the threads:
// 2560 outputs in 96s are 27 tasks, 14 on one of two threads and 13 on the other; in 80s they are 32,
// 16 on each. Ties go to the larger task. Tasks of 3 to 6 tiles for the AVX2 tiles (96 outputs packed
// over one depth block are 96 KB, in L2); of 8 or 4 for the AVX-512 tiles, whose fastest form takes
// 4 tiles (64 outputs) at once.
int64_t packed_output_grain(const ThreadPool& pool, std::initializer_list<MatmulOutput> outputs) {
  const int64_t threads = std::max(1, pool.num_threads());
  const bool avx512 = cpu_has_avx512();
  int64_t best_grain = 0, best_load = INT64_MAX;
  for (int64_t tiles = avx512 ? 8 : 6; tiles >= 3; tiles -= avx512 ? 4 : 1) {
    const int64_t grain = tiles * kernels::kPackedTileOutputs;
    int64_t units = 0;
    for (const MatmulOutput& out : outputs) units += (out.w->rows + grain - 1) / grain;
    const int64_t load = (units + threads - 1) / threads * grain;  // outputs on the busiest thread
    if (load < best_load) best_grain = grain, best_load = load;
  }
  return best_grain;
}

// bf16_products: x rounded to bf16 and multiplied in pairs (every output's w is bf16, the CPU has
// AVX512_BF16); otherwise the f32 packed GEMM.
void packed_same_input(ThreadPool& pool, const float* x, int64_t rows, int64_t x_stride, int64_t cols,
                       std::initializer_list<MatmulOutput> outputs, bool bf16_products) {
  thread_local AlignedVector<float> packed_rows;  // the caller's: workers see only the pointer
  thread_local AlignedVector<uint32_t> packed_bf16_rows;
  const int64_t passes = (rows + kernels::kPackedPassRows - 1) / kernels::kPackedPassRows;
  const int64_t pass_rows = (rows + passes - 1) / passes;
  const int64_t grain = packed_output_grain(pool, outputs);
  for (int64_t r0 = 0; r0 < rows; r0 += pass_rows) {
    const int64_t count = std::min(pass_rows, rows - r0);
    const float* pass_x = x + r0 * x_stride;
    if (bf16_products) {
      packed_bf16_rows.resize(kernels::packed_rows_bf16_words(count, cols));
    } else {
      packed_rows.resize(kernels::packed_rows_floats(count, cols));
    }
    float* packed = packed_rows.data();
    uint32_t* packed_bf16 = packed_bf16_rows.data();
    pool.parallel_for(kernels::pack_rows_tasks(count, cols), 1, [&](int, int64_t begin, int64_t end) {
      if (bf16_products)
        return kernels::pack_rows_bf16(pass_x, count, x_stride, cols, begin, end, packed_bf16);
      kernels::pack_rows_avx2(pass_x, count, x_stride, cols, begin, end, packed);
    });
    for_output_ranges(pool, outputs, grain,
                      [&](const MatrixView& w, float* y, int64_t y_stride, int64_t o_begin, int64_t o_end) {
                        if (bf16_products)
                          return kernels::packed_range_bf16(packed_bf16, count, w, o_begin, o_end,
                                                            y + r0 * y_stride, y_stride);
                        kernels::packed_range_avx2(packed, pass_x, count, x_stride, w, o_begin, o_end,
                                                   y + r0 * y_stride, y_stride);
                      });
  }
}

// Whether kFastestBf16 applies: every matrix row-major bf16, and the CPU has the instructions.
bool bf16_products_apply(std::initializer_list<MatmulOutput> outputs) {
  if (!cpu_has_avx512_bf16()) return false;
  for (const MatmulOutput& out : outputs)
    if (out.w->dtype != DType::kBF16 || out.w->layout != MatrixLayout::kRows) return false;
  return true;
}

// Whether a matrix's bytes are one run from w.data (not so for a column slice).
bool is_contiguous(const MatrixView& w) {
  const int64_t rows_per_stride = w.layout == MatrixLayout::kRowGroupsOf8 ? kRowsPerGroup : 1;
  return w.row_bytes == rows_per_stride * dtype_bytes(w.dtype, w.cols);
}
// Enough for the waits at a product's end and the serial work after it at one core's share of the
// bandwidth, within L2 (512 KB and more on the CPUs measured). In a paired benchmark of decode's
// products (bench/decode_step_bench), 512 KB and 1 MB took about 1% off a layer's time, 128-256 KB
// less (docs/PERFORMANCE.md).
constexpr int64_t kPrefetchShareBytes = 512 * 1024;
}  // namespace

PrefetchRange prefetch_share(NextWeights next, int parts, int index) {
  int64_t total = 0;
  for (const MatrixView* w : next) total += w->num_bytes();
  if (parts <= 0 || total == 0) return {};
  int64_t offset = total / parts * index;  // into the matrices' bytes in order
  for (const MatrixView* w : next) {
    const int64_t bytes = w->num_bytes();
    if (offset >= bytes) {
      offset -= bytes;
      continue;
    }
    if (!is_contiguous(*w)) return {};
    offset = offset / 64 * 64;
    return PrefetchRange{w->data + offset, std::min({kPrefetchShareBytes, bytes - offset, total / parts})};
  }
  return {};
}

void matmul(ThreadPool& pool, const float* x, int64_t rows, int64_t x_stride, const MatrixView& w, float* y,
            int64_t y_stride, SummationOrder order, NextWeights next) {
  if (w.rows <= 0) return;
  matmul_same_input(pool, x, rows, x_stride, {{&w, y, y_stride}}, order, next);
}

void matmul_same_input(ThreadPool& pool, const float* x, int64_t rows, int64_t x_stride,
                       std::initializer_list<MatmulOutput> outputs, SummationOrder order, NextWeights next) {
  if (rows <= 0 || outputs.size() == 0) return;
  const MatrixView& first = *outputs.begin()->w;
  const bool quantized = dtype_info(first.dtype).block_size > 1;
  bool alike = true;  // one quantization of x serves all only when they agree on it
  for (const MatmulOutput& out : outputs)
    alike = alike && out.w->cols == first.cols && (dtype_info(out.w->dtype).block_size > 1) == quantized;
  if (!alike) {
    for (const MatmulOutput& out : outputs)
      matmul(pool, x, rows, x_stride, *out.w, out.y, out.y_stride, order,
             &out == outputs.end() - 1 ? next : NextWeights{});
    return;
  }
  // (Zero columns: the packed GEMM would have no depth block to write y in.)
  if (order != SummationOrder::kBatchInvariant && !quantized && rows >= kFastestMinRows && first.cols > 0 &&
      cpu_has_avx2()) {
    const bool bf16_products = order == SummationOrder::kFastestBf16 && bf16_products_apply(outputs);
    return packed_same_input(pool, x, rows, x_stride, first.cols, outputs, bf16_products);
  }
  const kernels::ActivationBlock* xq =
      quantized ? quantize_rows(pool, x, rows, x_stride, first.cols) : nullptr;
  const auto body = cpu_has_avx2() ? kernels::matmul_range_avx2 : kernels::matmul_range_portable;
  const int64_t grain = quantized ? kQuantizedOutputGrain : kOutputGrain;
  const PrefetchPlan plan = [&](int index) { return prefetch_share(next, pool.num_threads(), index); };
  for_output_ranges(
      pool, outputs, grain,
      [&](const MatrixView& w, float* y, int64_t y_stride, int64_t o_begin, int64_t o_end) {
        body(x, xq, rows, x_stride, w, o_begin, o_end, y, y_stride);
      },
      rows <= kMaxPrefetchingRows && next.size() > 0 ? &plan : nullptr);
}

void matvec_rows(const MatrixView& w, int64_t first, int64_t count, const float* x, float* y) {
  if (count <= 0) return;
  const bool grouped = w.layout == MatrixLayout::kRowGroupsOf8;
  if (first < 0 || first + count > w.rows || (grouped && first % kRowsPerGroup != 0))
    fail("internal: matvec_rows over rows ", first, "..", first + count, " of ", w.rows);
  // The rows as a matrix of their own (row_slice serves row-major matrices only).
  const int64_t rows_per_stride = grouped ? kRowsPerGroup : 1;
  const MatrixView rows{w.dtype,     count,   w.cols, w.data + first / rows_per_stride * w.row_bytes,
                        w.row_bytes, w.layout};
  const kernels::ActivationBlock* xq = nullptr;
  if (dtype_info(w.dtype).block_size > 1) {
    thread_local std::vector<kernels::ActivationBlock> quantized;
    if (w.cols % 32 != 0) fail("internal: quantized matrix width ", w.cols, " is not a multiple of 32");
    quantized.resize(w.cols / 32);
    kernels::quantize_activations(x, w.cols, quantized.data());
    xq = quantized.data();
  }
  const auto body = cpu_has_avx2() ? kernels::matmul_range_avx2 : kernels::matmul_range_portable;
  body(x, xq, 1, w.cols, rows, 0, count, y, count);
}

namespace {
// The row kernels address rows directly; grouped matrices serve matmul only.
void require_rows(const MatrixView& w) {
  if (w.layout != MatrixLayout::kRows) fail("internal: a row operation on a matrix grouped by rows");
}
}  // namespace

float dot_row(const MatrixView& w, int64_t row, const float* x) {
  require_rows(w);
  return kernels::active_row_kernels().dot[kernels::dtype_index(w.dtype)](w.row(row), x, w.cols);
}

void axpy_row(const MatrixView& w, int64_t row, float scale, float* y) {
  require_rows(w);
  kernels::active_row_kernels().axpy[kernels::dtype_index(w.dtype)](w.row(row), scale, y, w.cols);
}

namespace {
// Rows [next_first, next_first + count) of w, when they are all there.
const uint8_t* next_rows(const MatrixView& w, int64_t next_first, int64_t count) {
  return next_first >= 0 && next_first + count <= w.rows ? w.row(next_first) : nullptr;
}
}  // namespace

void combine_rows(const MatrixView& w, int64_t first, int64_t k, const float* const* x, float* const* y,
                  int64_t tokens, int64_t next_first) {
  require_rows(w);
  kernels::active_row_kernels().combine[kernels::dtype_index(w.dtype)](
      w.row(first), w.row_bytes, k, x, y, tokens, w.cols, next_rows(w, next_first, k));
}

void dot_rows(const MatrixView& w, int64_t first, int64_t outputs, const float* const* x, float* const* y,
              int64_t tokens, int64_t next_first) {
  require_rows(w);
  kernels::active_row_kernels().dots[kernels::dtype_index(w.dtype)](
      w.row(first), w.row_bytes, outputs, x, y, tokens, w.cols, next_rows(w, next_first, outputs));
}

void load_row(const MatrixView& w, int64_t row, float* out) {
  for (int64_t i = 0; i < w.cols; ++i) out[i] = 0.0f;
  axpy_row(w, row, 1.0f, out);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  return kernels::active_row_kernels().dot[kernels::dtype_index(DType::kF32)](
      reinterpret_cast<const uint8_t*>(a), b, n);
}

}  // namespace cpm

// Non-owning views of weight matrices in any supported element type.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace cpm {

// How a matrix's rows are stored.
enum class MatrixLayout : uint8_t {
  kRows,  // row r starts at data + r * row_bytes, as in a checkpoint
  // Block-quantized types only, made by kernels::group_rows for the AVX2 matrix products: eight rows
  // per group (the last one padded with zero blocks), group g at data + g * row_bytes, and each block
  // of a group the eight rows' blocks transposed (kernels/row_groups.h). row() does not apply.
  kRowGroupsOf8,
};

// A matrix [rows, cols]. For block-quantized types, cols is a multiple of the block size and a row
// (or a group of rows) is a run of blocks.
struct MatrixView {
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  int64_t row_bytes = 0;  // of one group of rows under kRowGroupsOf8
  MatrixLayout layout = MatrixLayout::kRows;

  const uint8_t* row(int64_t index) const { return data + index * row_bytes; }
  // Rows [begin, begin + count) as a matrix of their own (used to split heads and shards).
  // Row-major matrices only.
  MatrixView row_slice(int64_t begin, int64_t count) const {
    return MatrixView{dtype, count, cols, row(begin), row_bytes, layout};
  }
  // Columns [begin, begin + count) of every row, still in this matrix's storage (rows keep their
  // stride). Block-quantized types need begin and count to be multiples of the block size
  // (dtype_bytes throws cpm::Error otherwise).
  MatrixView column_slice(int64_t begin, int64_t count) const {
    const int64_t rows_per_stride = layout == MatrixLayout::kRowGroupsOf8 ? 8 : 1;
    return MatrixView{dtype,     rows,  count, data + rows_per_stride * dtype_bytes(dtype, begin),
                      row_bytes, layout};
  }
  // Bytes of the elements in view (for a column slice they are not one contiguous run).
  int64_t num_bytes() const { return rows * dtype_bytes(dtype, cols); }
};

inline MatrixView make_matrix_view(DType dtype, int64_t rows, int64_t cols, const void* data) {
  return MatrixView{
      dtype, rows, cols, static_cast<const uint8_t*>(data), dtype_bytes(dtype, cols), MatrixLayout::kRows};
}

}  // namespace cpm

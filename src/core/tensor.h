// Non-owning views of weight matrices in any supported element type.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace cpm {

// A row-major matrix [rows, cols] as stored in a checkpoint: row r starts at data + r * row_bytes.
// For block-quantized types, cols is a multiple of the block size and a row is a run of blocks.
struct MatrixView {
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  int64_t row_bytes = 0;

  const uint8_t* row(int64_t index) const { return data + index * row_bytes; }
  // Rows [begin, begin + count) as a matrix of their own (used to split heads and shards).
  MatrixView row_slice(int64_t begin, int64_t count) const {
    return MatrixView{dtype, count, cols, row(begin), row_bytes};
  }
  int64_t num_bytes() const { return rows * row_bytes; }
};

inline MatrixView make_matrix_view(DType dtype, int64_t rows, int64_t cols, const void* data) {
  return MatrixView{dtype, rows, cols, static_cast<const uint8_t*>(data), dtype_bytes(dtype, cols)};
}

}  // namespace cpm

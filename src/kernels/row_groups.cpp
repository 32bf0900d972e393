#include "kernels/row_groups.h"

#include <cstring>

#include "core/error.h"
#include "kernels/cpu_features.h"

namespace cpm {

namespace {

// Byte j of row c's block goes to quad register j / 4, lane c, byte j % 4.
inline int64_t grouped_byte(int c, int j) {
  return 32 * (j / 4) + 4 * c + j % 4;
}

void group_block(const MatrixView& w, int64_t first_row, int64_t block, uint8_t* out) {
  const bool q4 = w.dtype == DType::kQ4_0;
  const int value_bytes = q4 ? 16 : 32;
  uint16_t scales[kRowsPerGroup] = {};
  for (int c = 0; c < kRowsPerGroup; ++c) {
    const int64_t row = first_row + c;
    if (row >= w.rows) {  // padding: zero weights, zero scale
      for (int j = 0; j < value_bytes; ++j) out[grouped_byte(c, j)] = q4 ? 0x88 : 0;
      continue;
    }
    const uint8_t* values;
    if (q4) {
      const BlockQ4_0& b = reinterpret_cast<const BlockQ4_0*>(w.row(row))[block];
      values = b.nibbles;
      scales[c] = b.scale;
    } else {
      const BlockQ8_0& b = reinterpret_cast<const BlockQ8_0*>(w.row(row))[block];
      values = reinterpret_cast<const uint8_t*>(b.values);
      scales[c] = b.scale;
    }
    for (int j = 0; j < value_bytes; ++j) out[grouped_byte(c, j)] = values[j];
  }
  std::memcpy(out + kRowsPerGroup * value_bytes, scales, sizeof(scales));
}

const uint8_t* grouped_block_bytes(const MatrixView& w, int64_t row, int64_t block, int64_t block_bytes) {
  if (w.layout != MatrixLayout::kRowGroupsOf8 || row < 0 || row >= w.rows)
    fail("internal: row ", row, " of a ", w.rows, "-row matrix is not in a grouped layout");
  return w.data + row / kRowsPerGroup * w.row_bytes + block * block_bytes;
}

}  // namespace

bool matmul_prefers_row_groups(const MatrixView& w) {
  return (w.dtype == DType::kQ4_0 || w.dtype == DType::kQ8_0) && w.layout == MatrixLayout::kRows &&
         cpu_has_avx2();
}

MatrixView group_rows(const MatrixView& w, std::vector<uint8_t>* storage, ThreadPool& pool) {
  if ((w.dtype != DType::kQ4_0 && w.dtype != DType::kQ8_0) || w.layout != MatrixLayout::kRows)
    fail("internal: only row-major q4_0 and q8_0 matrices can be grouped by rows");
  const int64_t blocks = w.cols / 32;
  const int64_t block_bytes = kRowsPerGroup * dtype_bytes(w.dtype, 32);
  const int64_t groups = (w.rows + kRowsPerGroup - 1) / kRowsPerGroup;
  storage->assign(groups * blocks * block_bytes, 0);
  uint8_t* out = storage->data();
  pool.parallel_for(groups, 1, [&](int, int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g)
      for (int64_t b = 0; b < blocks; ++b)
        group_block(w, g * kRowsPerGroup, b, out + (g * blocks + b) * block_bytes);
  });
  return MatrixView{w.dtype, w.rows, w.cols, out, blocks * block_bytes, MatrixLayout::kRowGroupsOf8};
}

BlockQ4_0 grouped_block_q4_0(const MatrixView& w, int64_t row, int64_t block) {
  const auto& g = *reinterpret_cast<const GroupBlockQ4_0*>(grouped_block_bytes(w, row, block, 144));
  const int c = static_cast<int>(row % kRowsPerGroup);
  BlockQ4_0 out;
  out.scale = g.scales[c];
  for (int j = 0; j < 16; ++j) out.nibbles[j] = g.nibbles[grouped_byte(c, j)];
  return out;
}

BlockQ8_0 grouped_block_q8_0(const MatrixView& w, int64_t row, int64_t block) {
  const auto& g = *reinterpret_cast<const GroupBlockQ8_0*>(grouped_block_bytes(w, row, block, 272));
  const int c = static_cast<int>(row % kRowsPerGroup);
  BlockQ8_0 out;
  out.scale = g.scales[c];
  for (int j = 0; j < 32; ++j) out.values[j] = g.values[grouped_byte(c, j)];
  return out;
}

}  // namespace cpm

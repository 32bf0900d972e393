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

// A block's weight bytes, after its fp16 scale (BlockQ4_0 and BlockQ8_0 alike).
template <typename Block>
constexpr int kValueBytesOf = sizeof(Block) - sizeof(uint16_t);

// The group of rows from first_row, block `block`: each row's bytes go in 4-byte quads.
template <typename Block>
void group_block(const MatrixView& w, int64_t first_row, int64_t block, uint8_t* out) {
  constexpr int kValueBytes = kValueBytesOf<Block>;
  uint16_t scales[kRowsPerGroup] = {};
  for (int c = 0; c < kRowsPerGroup; ++c) {
    const int64_t row = first_row + c;
    if (row >= w.rows) {  // padding: zero weights (q4_0 nibbles of 8), zero scale
      for (int j = 0; j < kValueBytes; j += 4)
        std::memset(out + grouped_byte(c, j), kValueBytes == 16 ? 0x88 : 0, 4);
      continue;
    }
    const Block& source = reinterpret_cast<const Block*>(w.row(row))[block];
    const auto* values = reinterpret_cast<const uint8_t*>(&source) + sizeof(uint16_t);
    std::memcpy(&scales[c], &source, sizeof(uint16_t));
    for (int j = 0; j < kValueBytes; j += 4) std::memcpy(out + grouped_byte(c, j), values + j, 4);
  }
  std::memcpy(out + kRowsPerGroup * kValueBytes, scales, sizeof(scales));
}

// group_block's inverse for one row: the row-major block (scale, then values) it came from.
template <typename Block>
Block ungroup_block(const MatrixView& w, int64_t row, int64_t block) {
  constexpr int kValueBytes = kValueBytesOf<Block>;
  if (w.layout != MatrixLayout::kRowGroupsOf8 || row < 0 || row >= w.rows)
    fail("internal: row ", row, " of a ", w.rows, "-row matrix is not in a grouped layout");
  const uint8_t* group = w.data + row / kRowsPerGroup * w.row_bytes + block * kRowsPerGroup * sizeof(Block);
  const int c = static_cast<int>(row % kRowsPerGroup);
  Block out;
  auto* bytes = reinterpret_cast<uint8_t*>(&out);
  std::memcpy(bytes, group + kRowsPerGroup * kValueBytes + c * sizeof(uint16_t), sizeof(uint16_t));
  for (int j = 0; j < kValueBytes; j += 4)
    std::memcpy(bytes + sizeof(uint16_t) + j, group + grouped_byte(c, j), 4);
  return out;
}

}  // namespace

bool matmul_prefers_row_groups(const MatrixView& w) {
  return (w.dtype == DType::kQ4_0 || w.dtype == DType::kQ8_0) && w.layout == MatrixLayout::kRows &&
         cpu_has_avx2();
}

int64_t grouped_bytes(const MatrixView& w) {
  const int64_t groups = (w.rows + kRowsPerGroup - 1) / kRowsPerGroup;
  return groups * kRowsPerGroup * dtype_bytes(w.dtype, w.cols);
}

MatrixView group_rows(const MatrixView& w, LargeBuffer* storage, ThreadPool& pool) {
  *storage = LargeBuffer(static_cast<size_t>(grouped_bytes(w)));
  return group_rows(w, storage->data(), pool);
}

MatrixView group_rows(const MatrixView& w, uint8_t* out, ThreadPool& pool) {
  if ((w.dtype != DType::kQ4_0 && w.dtype != DType::kQ8_0) || w.layout != MatrixLayout::kRows)
    fail("internal: only row-major q4_0 and q8_0 matrices can be grouped by rows");
  const bool q4 = w.dtype == DType::kQ4_0;
  const int64_t blocks = w.cols / 32;
  const int64_t block_bytes = kRowsPerGroup * dtype_bytes(w.dtype, 32);
  const int64_t groups = (w.rows + kRowsPerGroup - 1) / kRowsPerGroup;
  pool.parallel_for(groups, 1, [&](int, int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      for (int64_t b = 0; b < blocks; ++b) {
        uint8_t* dest = out + (g * blocks + b) * block_bytes;
        if (q4) {
          group_block<BlockQ4_0>(w, g * kRowsPerGroup, b, dest);
        } else {
          group_block<BlockQ8_0>(w, g * kRowsPerGroup, b, dest);
        }
      }
    }
  });
  return MatrixView{w.dtype, w.rows, w.cols, out, blocks * block_bytes, MatrixLayout::kRowGroupsOf8};
}

BlockQ4_0 grouped_block_q4_0(const MatrixView& w, int64_t row, int64_t block) {
  return ungroup_block<BlockQ4_0>(w, row, block);
}

BlockQ8_0 grouped_block_q8_0(const MatrixView& w, int64_t row, int64_t block) {
  return ungroup_block<BlockQ8_0>(w, row, block);
}

}  // namespace cpm

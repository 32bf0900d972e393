// Weight rows grouped by eight for the AVX2 matrix products (MatrixLayout::kRowGroupsOf8).
//
// Decode reads every weight once per token. With row-major blocks the kernel reduces four rows' sums
// across register lanes with horizontal adds, which cost as much as the products: q4_0 decode was
// compute bound near the memory bandwidth. In groups of eight rows whose blocks are transposed in
// 4-byte quads, lane c of every register belongs to row c, so the sums need vertical adds only, and
// the prefill panels unpack the same groups without a transpose. The values are unchanged: matmul
// gives the same bits on either layout.
#pragma once

#include <cstdint>
#include <vector>

#include "core/large_buffer.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/quant_blocks.h"

namespace cpm {

constexpr int kRowsPerGroup = 8;

// One block (32 columns) of eight q4_0 rows. Register k (bytes 32k..32k+31), lane c holds row c's
// nibble bytes 4k..4k+3: low nibbles are weights 4k..4k+3, high nibbles weights 16+4k..16+4k+3.
struct GroupBlockQ4_0 {
  uint8_t nibbles[128];
  uint16_t scales[kRowsPerGroup];  // fp16, row c's
};
static_assert(sizeof(GroupBlockQ4_0) == kRowsPerGroup * sizeof(BlockQ4_0));

// One block of eight q8_0 rows: register q (bytes 32q..32q+31), lane c holds row c's weights 4q..4q+3.
struct GroupBlockQ8_0 {
  int8_t values[256];
  uint16_t scales[kRowsPerGroup];
};
static_assert(sizeof(GroupBlockQ8_0) == kRowsPerGroup * sizeof(BlockQ8_0));

// Whether matmul runs faster on w grouped: block-quantized row-major weights on an AVX2 machine.
bool matmul_prefers_row_groups(const MatrixView& w);

// w (block-quantized, row-major, possibly a column slice) grouped into *storage.
MatrixView group_rows(const MatrixView& w, LargeBuffer* storage, ThreadPool& pool);
// The same into grouped_bytes(w) bytes at out (several matrices in one buffer).
int64_t grouped_bytes(const MatrixView& w);
MatrixView group_rows(const MatrixView& w, uint8_t* out, ThreadPool& pool);

// Row `row`'s block `block` of a grouped matrix, as the row-major block it came from.
BlockQ4_0 grouped_block_q4_0(const MatrixView& w, int64_t row, int64_t block);
BlockQ8_0 grouped_block_q8_0(const MatrixView& w, int64_t row, int64_t block);

}  // namespace cpm

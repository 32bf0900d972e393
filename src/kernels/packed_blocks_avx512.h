// Internal to the AVX-512 packed GEMMs (matmul_packed_avx512.cpp for f32 steps, and
// matmul_bf16_avx512bf16.cpp for bf16 pairs): how one depth block's row tiles meet its packed outputs.
// In an unnamed namespace and free of the standard library, so each including file keeps its own
// copy built for its own instruction set.
#pragma once

#include "kernels/matmul_tiles.h"

namespace cpm::kernels {
namespace {

// tile.template operator()<R, T>(a_tile, b_tiles, c_tile) for R = rows (1 to 6).
template <int T, typename Operand, typename Tile>
inline void run_tile_rows(int64_t rows, const Operand* a, const Operand* b, float* c, const Tile& tile) {
  switch (rows) {
    case 1:
      return tile.template operator()<1, T>(a, b, c);
    case 2:
      return tile.template operator()<2, T>(a, b, c);
    case 3:
      return tile.template operator()<3, T>(a, b, c);
    case 4:
      return tile.template operator()<4, T>(a, b, c);
    case 5:
      return tile.template operator()<5, T>(a, b, c);
    default:
      return tile.template operator()<6, T>(a, b, c);
  }
}

// The row tiles covering `rows` rows from `a` (one depth block of the packed x, tile after tile, each
// kPackedTileRows * steps operands) against `outputs` packed outputs (a multiple of kPackedTileOutputs,
// `steps` operands each) at b, into c: tile.template operator()<R, T>(a_tile, b_tiles, c_tile) for R
// rows by T 16-output tiles. Four tiles at a time; five or six left (a product's last task) as three
// and the rest, which run faster than four and one or two.
template <typename Operand, typename Tile>
void for_each_packed_tile(const Operand* a, int64_t rows, const Operand* b, int64_t outputs, int64_t steps,
                          float* c, int64_t c_stride, const Tile& tile) {
  const int64_t a_tile_size = steps * kPackedTileRows;
  for (int64_t o = 0; o < outputs;) {
    const int64_t left = (outputs - o) / kPackedTileOutputs;
    const int64_t tiles = left == 5 || left == 6 ? 3 : left >= 4 ? 4 : left;
    const Operand* b_tiles = b + o * steps;
    for (int64_t r = 0; r < rows; r += kPackedTileRows) {
      const int64_t count = rows - r < kPackedTileRows ? rows - r : kPackedTileRows;
      const Operand* a_tile = a + r / kPackedTileRows * a_tile_size;
      float* c_tile = c + r * c_stride + o;
      if (tiles == 4) {
        run_tile_rows<4>(count, a_tile, b_tiles, c_tile, tile);
      } else if (tiles == 3) {
        run_tile_rows<3>(count, a_tile, b_tiles, c_tile, tile);
      } else if (tiles == 2) {
        run_tile_rows<2>(count, a_tile, b_tiles, c_tile, tile);
      } else {
        run_tile_rows<1>(count, a_tile, b_tiles, c_tile, tile);
      }
    }
    o += tiles * kPackedTileOutputs;
  }
}

}  // namespace
}  // namespace cpm::kernels

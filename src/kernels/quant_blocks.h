// Block layouts of the quantized weight formats (the same bytes as ggml's q8_0 and q4_0).
#pragma once

#include <cstdint>

namespace cpm {

// 32 weights: value[i] * scale.
struct BlockQ8_0 {
  uint16_t scale;  // fp16
  int8_t values[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

// 32 weights: (nibble - 8) * scale; byte j holds weight j in its low nibble and weight j + 16 in its high
// one.
struct BlockQ4_0 {
  uint16_t scale;  // fp16
  uint8_t nibbles[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

inline int q4_0_value(const BlockQ4_0& block, int index) {
  const uint8_t byte = block.nibbles[index & 15];
  return (index < 16 ? (byte & 0x0f) : (byte >> 4)) - 8;
}

}  // namespace cpm

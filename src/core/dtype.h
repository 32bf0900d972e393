// Element types of weights and caches, and exact conversions between the 16-bit formats and f32.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cpm {

enum class DType : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0 };

// Block-quantized formats store `block_size` weights in `block_bytes`; plain types have block size 1.
struct DTypeInfo {
  std::string_view name;
  int block_size;
  int block_bytes;
};

const DTypeInfo& dtype_info(DType dtype);
inline std::string_view dtype_name(DType dtype) {
  return dtype_info(dtype).name;
}
// Parses "f32", "f16", "bf16", "q8_0", "q4_0" (and the safetensors spellings "F32", "BF16", ...).
bool parse_dtype(std::string_view text, DType* dtype);
// Bytes taken by `count` consecutive elements; count must be a multiple of the block size.
int64_t dtype_bytes(DType dtype, int64_t count);

inline float bf16_to_f32(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float value);

}  // namespace cpm

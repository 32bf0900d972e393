#include "core/dtype.h"

#include <cmath>

#include "core/error.h"

namespace cpm {

namespace {
// q8_0: fp16 scale + 32 int8. q4_0: fp16 scale + 16 bytes of packed nibbles (ggml's layouts).
constexpr DTypeInfo kInfos[] = {
    {"f32", 1, 4}, {"f16", 1, 2}, {"bf16", 1, 2}, {"q8_0", 32, 34}, {"q4_0", 32, 18},
};
}  // namespace

const DTypeInfo& dtype_info(DType dtype) {
  return kInfos[static_cast<int>(dtype)];
}

bool parse_dtype(std::string_view text, DType* dtype) {
  struct Alias {
    std::string_view text;
    DType dtype;
  };
  static constexpr Alias kAliases[] = {
      {"f32", DType::kF32},       {"F32", DType::kF32},     {"float32", DType::kF32}, {"f16", DType::kF16},
      {"F16", DType::kF16},       {"float16", DType::kF16}, {"bf16", DType::kBF16},   {"BF16", DType::kBF16},
      {"bfloat16", DType::kBF16}, {"q8_0", DType::kQ8_0},   {"Q8_0", DType::kQ8_0},   {"q4_0", DType::kQ4_0},
      {"Q4_0", DType::kQ4_0},
  };
  for (const Alias& alias : kAliases) {
    if (alias.text == text) {
      *dtype = alias.dtype;
      return true;
    }
  }
  return false;
}

int64_t dtype_bytes(DType dtype, int64_t count) {
  const DTypeInfo& info = dtype_info(dtype);
  if (count % info.block_size != 0) {
    fail("internal: ", count, " elements is not a multiple of the ", info.name, " block size ",
         info.block_size);
  }
  return count / info.block_size * info.block_bytes;
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  uint32_t out;
  if (exponent == 0) {
    // Zero or subnormal: value = mantissa * 2^-24, exact in f32.
    float value = std::ldexp(static_cast<float>(mantissa), -24);
    std::memcpy(&out, &value, sizeof out);
    out |= sign;
  } else if (exponent == 31) {
    out = sign | 0x7f800000u | (mantissa << 13);
  } else {
    out = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float result;
  std::memcpy(&result, &out, sizeof result);
  return result;
}

uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs_bits >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: infinity
  if (abs_bits < 0x38800000u) {                        // below the smallest normal f16
    // Subnormal: round value * 2^24 to nearest even integer.
    float scaled = std::ldexp(std::fabs(value), 24);
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  uint32_t rounded = abs_bits + 0x0fffu + ((abs_bits >> 13) & 1u);
  return sign | static_cast<uint16_t>(((rounded >> 13) - (112u << 10)) & 0x7fffu);
}

}  // namespace cpm

#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>

#include "core/dtype.h"

namespace cpm {

void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* block = x + b * 32;
    float largest = 0;
    for (int i = 0; i < 32; ++i) largest = std::max(largest, std::fabs(block[i]));
    // Quantize with the scale as stored (fp16-rounded), so values and scale agree exactly.
    out[b].scale = f32_to_f16(largest / 127.0f);
    const float scale = f16_to_f32(out[b].scale);
    const float inverse = scale > 0 ? 1.0f / scale : 0.0f;
    for (int i = 0; i < 32; ++i) {
      out[b].values[i] = static_cast<int8_t>(std::clamp<long>(std::lrintf(block[i] * inverse), -127, 127));
    }
  }
}

void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* block = x + b * 32;
    // The value of largest magnitude maps to -8 exactly, which uses the full asymmetric range.
    float extreme = 0;
    for (int i = 0; i < 32; ++i) {
      if (std::fabs(block[i]) > std::fabs(extreme)) extreme = block[i];
    }
    out[b].scale = f32_to_f16(extreme / -8.0f);
    const float scale = f16_to_f32(out[b].scale);
    const float inverse = scale != 0 ? 1.0f / scale : 0.0f;
    for (int i = 0; i < 16; ++i) {
      const int low = std::clamp(static_cast<int>(std::lrintf(block[i] * inverse)) + 8, 0, 15);
      const int high = std::clamp(static_cast<int>(std::lrintf(block[i + 16] * inverse)) + 8, 0, 15);
      out[b].nibbles[i] = static_cast<uint8_t>(low | (high << 4));
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* blocks, int64_t n, float* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float scale = f16_to_f32(blocks[b].scale);
    for (int i = 0; i < 32; ++i) out[b * 32 + i] = scale * static_cast<float>(blocks[b].values[i]);
  }
}

void dequantize_row_q4_0(const BlockQ4_0* blocks, int64_t n, float* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float scale = f16_to_f32(blocks[b].scale);
    for (int i = 0; i < 32; ++i) out[b * 32 + i] = scale * static_cast<float>(q4_0_value(blocks[b], i));
  }
}

}  // namespace cpm

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

namespace {

// Squared error of a q4_0 block at `scale`, writing its nibbles.
float q4_0_block_error(const float* block, float scale, uint8_t* codes) {
  const float inverse = scale != 0 ? 1.0f / scale : 0.0f;
  float error = 0;
  for (int i = 0; i < 32; ++i) {
    codes[i] = static_cast<uint8_t>(std::clamp(static_cast<int>(std::lrintf(block[i] * inverse)) + 8, 0, 15));
    const float difference = block[i] - scale * static_cast<float>(codes[i] - 8);
    error += difference * difference;
  }
  return error;
}

}  // namespace

void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* block = x + b * 32;
    float extreme = 0;
    for (int i = 0; i < 32; ++i) {
      if (std::fabs(block[i]) > std::fabs(extreme)) extreme = block[i];
    }
    // Mapping the extreme to -8 exactly wastes levels when the block has one outlier; try a few
    // nearby scales and keep the one with the least squared error (the format is unchanged).
    uint16_t best_scale = f32_to_f16(extreme / -8.0f);
    uint8_t codes[32], best_codes[32];
    float best_error = q4_0_block_error(block, f16_to_f32(best_scale), best_codes);
    for (int step = -4; step <= 8; ++step) {
      const uint16_t candidate = f32_to_f16(extreme / (-8.0f + 0.125f * static_cast<float>(step)));
      const float error = q4_0_block_error(block, f16_to_f32(candidate), codes);
      if (error < best_error) {
        best_error = error;
        best_scale = candidate;
        std::copy(codes, codes + 32, best_codes);
      }
    }
    out[b].scale = best_scale;
    for (int i = 0; i < 16; ++i)
      out[b].nibbles[i] = static_cast<uint8_t>(best_codes[i] | (best_codes[i + 16] << 4));
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

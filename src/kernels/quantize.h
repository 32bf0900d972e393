// Block quantization of f32 rows into q8_0 (int8 values, one fp16 scale per 32) and q4_0 (4-bit
// values offset by 8, one fp16 scale per 32), and back.
#pragma once

#include <cstdint>

#include "kernels/quant_blocks.h"

namespace cpm {

// n must be a multiple of 32.
void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out);
void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* out);
void dequantize_row_q8_0(const BlockQ8_0* blocks, int64_t n, float* out);
void dequantize_row_q4_0(const BlockQ4_0* blocks, int64_t n, float* out);

}  // namespace cpm

#include "kernels/dot_kernels.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu_features.h"
#include "kernels/quant_blocks.h"

namespace cpm::kernels {

namespace {

// 8 interleaved partial sums, combined pairwise: mirrors one 8-lane vector accumulator.
template <typename Load>
float dot_portable(const float* x, int64_t n, Load load) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) acc[i & 7] += load(i) * x[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

float dot_f32(const uint8_t* w, const float* x, int64_t n) {
  const float* row = reinterpret_cast<const float*>(w);
  return dot_portable(x, n, [row](int64_t i) { return row[i]; });
}
float dot_f16(const uint8_t* w, const float* x, int64_t n) {
  const uint16_t* row = reinterpret_cast<const uint16_t*>(w);
  return dot_portable(x, n, [row](int64_t i) { return f16_to_f32(row[i]); });
}
float dot_bf16(const uint8_t* w, const float* x, int64_t n) {
  const uint16_t* row = reinterpret_cast<const uint16_t*>(w);
  return dot_portable(x, n, [row](int64_t i) { return bf16_to_f32(row[i]); });
}
float dot_q8_0(const uint8_t* w, const float* x, int64_t n) {
  const BlockQ8_0* blocks = reinterpret_cast<const BlockQ8_0*>(w);
  return dot_portable(x, n, [blocks](int64_t i) {
    const BlockQ8_0& block = blocks[i / 32];
    return f16_to_f32(block.scale) * static_cast<float>(block.values[i % 32]);
  });
}
float dot_q4_0(const uint8_t* w, const float* x, int64_t n) {
  const BlockQ4_0* blocks = reinterpret_cast<const BlockQ4_0*>(w);
  return dot_portable(x, n, [blocks](int64_t i) {
    const BlockQ4_0& block = blocks[i / 32];
    return f16_to_f32(block.scale) * static_cast<float>(q4_0_value(block, static_cast<int>(i % 32)));
  });
}

template <typename Load>
void axpy_portable(float scale, float* y, int64_t n, Load load) {
  for (int64_t i = 0; i < n; ++i) y[i] += scale * load(i);
}
void axpy_f32(const uint8_t* w, float scale, float* y, int64_t n) {
  const float* row = reinterpret_cast<const float*>(w);
  axpy_portable(scale, y, n, [row](int64_t i) { return row[i]; });
}
void axpy_f16(const uint8_t* w, float scale, float* y, int64_t n) {
  const uint16_t* row = reinterpret_cast<const uint16_t*>(w);
  axpy_portable(scale, y, n, [row](int64_t i) { return f16_to_f32(row[i]); });
}
void axpy_bf16(const uint8_t* w, float scale, float* y, int64_t n) {
  const uint16_t* row = reinterpret_cast<const uint16_t*>(w);
  axpy_portable(scale, y, n, [row](int64_t i) { return bf16_to_f32(row[i]); });
}
void axpy_q8_0(const uint8_t* w, float scale, float* y, int64_t n) {
  const BlockQ8_0* blocks = reinterpret_cast<const BlockQ8_0*>(w);
  axpy_portable(scale, y, n, [blocks](int64_t i) {
    const BlockQ8_0& block = blocks[i / 32];
    return f16_to_f32(block.scale) * static_cast<float>(block.values[i % 32]);
  });
}
void axpy_q4_0(const uint8_t* w, float scale, float* y, int64_t n) {
  const BlockQ4_0* blocks = reinterpret_cast<const BlockQ4_0*>(w);
  axpy_portable(scale, y, n, [blocks](int64_t i) {
    const BlockQ4_0& block = blocks[i / 32];
    return f16_to_f32(block.scale) * static_cast<float>(q4_0_value(block, static_cast<int>(i % 32)));
  });
}

}  // namespace

const RowKernels& portable_row_kernels() {
  static const RowKernels kernels = {
      {dot_f32, dot_f16, dot_bf16, dot_q8_0, dot_q4_0},
      {axpy_f32, axpy_f16, axpy_bf16, axpy_q8_0, axpy_q4_0},
      {combine_by_rows<axpy_f32>, combine_by_rows<axpy_f16>, combine_by_rows<axpy_bf16>,
       combine_by_rows<axpy_q8_0>, combine_by_rows<axpy_q4_0>},
      {dots_by_rows<dot_f32>, dots_by_rows<dot_f16>, dots_by_rows<dot_bf16>, dots_by_rows<dot_q8_0>,
       dots_by_rows<dot_q4_0>}};
  return kernels;
}

const RowKernels& active_row_kernels() {
  static const RowKernels& kernels = cpu_has_avx2() ? avx2_row_kernels() : portable_row_kernels();
  return kernels;
}

}  // namespace cpm::kernels

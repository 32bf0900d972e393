// Internal to src/kernels, for *_avx2.cpp files only: float weights of any stored type widened to f32.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/dtype.h"

namespace cpm::kernels {

// Eight weights row[i .. i + 8) as f32.
template <DType kType>
inline __m256 load_weights(const uint8_t* row, int64_t i) {
  if constexpr (kType == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  } else if constexpr (kType == DType::kF16) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i)));
  } else {
    const __m128i half =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
  }
}

template <DType kType>
inline float weight_scalar(const uint8_t* row, int64_t i) {
  if constexpr (kType == DType::kF32) return reinterpret_cast<const float*>(row)[i];
  if constexpr (kType == DType::kF16) return f16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]);
  return bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]);
}

}  // namespace cpm::kernels

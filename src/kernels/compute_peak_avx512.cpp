// The FMA peak with 512-bit registers, where the CPU has AVX-512F: the width the attention kernels and
// the packed GEMM use there. Nothing from the standard library here (see matmul_packed_avx512.cpp).
#include <immintrin.h>

#include "kernels/compute_peak.h"

namespace cpm::kernels {

float fma_chains_avx512(int64_t iterations) {
  // The AVX2 chains, 16 lanes wide: every lane holds the same value, so lanes 0 and 7 give its bits.
  __m512 acc[kFmaChains];
  for (int c = 0; c < kFmaChains; ++c) acc[c] = _mm512_set1_ps(kFmaChainStart * static_cast<float>(c));
  const __m512 a = _mm512_set1_ps(kFmaChainFactor), b = _mm512_set1_ps(kFmaChainAddend);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int c = 0; c < kFmaChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  __m512 sum = acc[0];
  for (int c = 1; c < kFmaChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  return lanes[0] + lanes[7];
}

}  // namespace cpm::kernels

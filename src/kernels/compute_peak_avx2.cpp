#include <immintrin.h>

#include "kernels/compute_peak.h"

namespace cpm::kernels {

float fma_chains_avx2(int64_t iterations) {
  // Ten independent accumulators cover the FMA latency (4-5 cycles) on both FMA ports.
  __m256 acc[kFmaChains];
  for (int c = 0; c < kFmaChains; ++c) acc[c] = _mm256_set1_ps(kFmaChainStart * static_cast<float>(c));
  const __m256 a = _mm256_set1_ps(kFmaChainFactor), b = _mm256_set1_ps(kFmaChainAddend);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int c = 0; c < kFmaChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 sum = acc[0];
  for (int c = 1; c < kFmaChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  return lanes[0] + lanes[7];
}

}  // namespace cpm::kernels

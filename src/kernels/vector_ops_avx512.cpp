// AVX-512 softmax, where the CPU has AVX-512F, with softmax_avx2's bits: the same exp polynomial lane
// by lane, 16 scores a step, and the sum kept in softmax_avx2's 8 lanes (each step adds its low half,
// then its high half, as two AVX2 steps would). Long prompts spend 6% of their prefill here.
//
// Nothing from the standard library here: an inline function instantiated in this file could be the
// copy the linker keeps for the whole program, built for AVX-512, and run on CPUs without it.
//
// GCC 12's AVX-512 headers build the unused upper half of a register from an uninitialized variable
// and then warn about it where the intrinsics are inlined (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/vector_ops_internal.h"

namespace cpm::kernels {

namespace {

// exp_avx2 of vector_ops_avx2.cpp, 16 lanes wide.
inline __m512 exp_avx512(__m512 x) {
  using namespace exp_polynomial;
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(kLowest)), _mm512_set1_ps(kHighest));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2High), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Low), r);
  __m512 p = _mm512_set1_ps(kCoefficients[0]);
  for (int k = 1; k < 6; ++k) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kCoefficients[k]));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i exponent =
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(exponent));
}

inline __m256 low_half(__m512 v) {
  return _mm512_castps512_ps256(v);
}

inline __m256 high_half(__m512 v) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

}  // namespace

void softmax_avx512(float* scores, int64_t n) {
  if (n <= 0) return;
  const int64_t wide = n / 16 * 16;
  // The maximum is exact in any order; the sum and the rest go through softmax_avx2 below 16 scores.
  if (wide == 0) return softmax_avx2(scores, n);
  __m512 largest = _mm512_loadu_ps(scores);
  for (int64_t i = 16; i < wide; i += 16) largest = _mm512_max_ps(largest, _mm512_loadu_ps(scores + i));
  float max_score = _mm512_reduce_max_ps(largest);
  for (int64_t i = wide; i < n; ++i) max_score = scores[i] > max_score ? scores[i] : max_score;
  const __m512 max16 = _mm512_set1_ps(max_score);
  __m256 total = _mm256_setzero_ps();
  for (int64_t i = 0; i < wide; i += 16) {
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(scores + i), max16));
    _mm512_storeu_ps(scores + i, e);
    total = _mm256_add_ps(total, low_half(e));
    total = _mm256_add_ps(total, high_half(e));
  }
  // The last n % 16 scores (and the division) exactly as softmax_avx2 takes them.
  alignas(32) float sums[8];
  _mm256_store_ps(sums, total);
  softmax_avx2_rest(scores, n, wide, max_score, sums);
}

}  // namespace cpm::kernels

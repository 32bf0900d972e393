// AVX2 + FMA versions of the per-row operations of vector_ops.h. Only reached after cpu_has_avx2().
//
// exp is a vector polynomial (the classic Cephes expf scheme: 2^n times a degree-7 polynomial of the
// remainder, within about 2 ulp of std::exp over the range softmax and SiLU use); the scalar code
// called libm's expf once per element, about 5% of a prefill profile.
#include <immintrin.h>

#include <cmath>

#include "kernels/vector_ops_internal.h"

namespace cpm::kernels {

namespace {

inline __m256 exp_avx2(__m256 x) {
  using namespace exp_polynomial;
  // Below -87.3 the result would be subnormal: clamp (softmax's scores are then ~1e-38, not 0).
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kLowest)), _mm256_set1_ps(kHighest));
  // x = n ln2 + r with |r| <= ln2 / 2; ln2 in two parts so n ln2 is exact enough.
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), r);
  __m256 p = _mm256_set1_ps(kCoefficients[0]);
  for (int k = 1; k < 6; ++k) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kCoefficients[k]));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n: n + 127 in the exponent bits (n is within [-126, 127] after the clamp).
  const __m256i exponent =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
}

inline float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// The tail (n % 8 elements) through the same vector code, loaded and stored by mask.
inline __m256i tail_mask(int64_t remaining) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(remaining)), lanes);
}

inline __m256 silu_times(__m256 g, __m256 u) {
  const __m256 sigmoid_denominator =
      _mm256_add_ps(_mm256_set1_ps(1.0f), exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), g)));
  return _mm256_mul_ps(_mm256_div_ps(g, sigmoid_denominator), u);
}

}  // namespace

// Full vectors load and store plainly and only a tail goes by mask: masked stores are slow on AMD
// cores (softmax took 3x as long on Zen 3 with every vector masked). The lanes hold the same values.
void silu_mul_avx2(float* gate, const float* up, int64_t n) {
  const int64_t full = n / 8 * 8;
  for (int64_t i = 0; i < full; i += 8)
    _mm256_storeu_ps(gate + i, silu_times(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (full < n) {
    const __m256i mask = tail_mask(n - full);
    _mm256_maskstore_ps(
        gate + full, mask,
        silu_times(_mm256_maskload_ps(gate + full, mask), _mm256_maskload_ps(up + full, mask)));
  }
}

void softmax_avx2(float* scores, int64_t n) {
  if (n <= 0) return;
  const int64_t full = n / 8 * 8;
  const __m256i tail = tail_mask(n - full);
  __m256 largest = _mm256_set1_ps(scores[0]);
  for (int64_t i = 0; i < full; i += 8) largest = _mm256_max_ps(largest, _mm256_loadu_ps(scores + i));
  if (full < n) {
    // Masked-off lanes load 0: blend the first score in instead, which never changes the maximum.
    const __m256 s =
        _mm256_blendv_ps(largest, _mm256_maskload_ps(scores + full, tail), _mm256_castsi256_ps(tail));
    largest = _mm256_max_ps(largest, s);
  }
  const float no_sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  softmax_avx2_rest(scores, n, 0, horizontal_max(largest), no_sums);
}

void softmax_avx2_rest(float* scores, int64_t n, int64_t begin, float max_score, const float* sums) {
  const int64_t full = n / 8 * 8;
  const __m256i tail = tail_mask(n - full);
  const __m256 max8 = _mm256_set1_ps(max_score);
  __m256 total = _mm256_loadu_ps(sums);
  for (int64_t i = begin; i < full; i += 8) {
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(scores + i), max8));
    _mm256_storeu_ps(scores + i, e);
    total = _mm256_add_ps(total, e);
  }
  if (full < n) {
    const __m256 e = _mm256_and_ps(exp_avx2(_mm256_sub_ps(_mm256_maskload_ps(scores + full, tail), max8)),
                                   _mm256_castsi256_ps(tail));
    _mm256_maskstore_ps(scores + full, tail, e);
    total = _mm256_add_ps(total, e);
  }
  const __m256 inverse = _mm256_set1_ps(1.0f / horizontal_sum(total));
  for (int64_t i = 0; i < full; i += 8)
    _mm256_storeu_ps(scores + i, _mm256_mul_ps(_mm256_loadu_ps(scores + i), inverse));
  if (full < n)
    _mm256_maskstore_ps(scores + full, tail, _mm256_mul_ps(_mm256_maskload_ps(scores + full, tail), inverse));
}

void rms_norm_avx2(const float* x, const float* weight, float eps, int64_t n, float* out) {
  if (n <= 0) return;
  // Sum of squares in double lanes, as the portable code sums in double.
  __m256d sum = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    sum = _mm256_fmadd_pd(v, v, sum);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, sum);
  double total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) total += static_cast<double>(x[i]) * x[i];
  const __m256 inverse =
      _mm256_set1_ps(static_cast<float>(1.0 / std::sqrt(total / static_cast<double>(n) + eps)));
  const int64_t full = n / 8 * 8;
  for (int64_t j = 0; j < full; j += 8) {
    const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(x + j), inverse);
    _mm256_storeu_ps(out + j, _mm256_mul_ps(scaled, _mm256_loadu_ps(weight + j)));
  }
  if (full < n) {
    const __m256i mask = tail_mask(n - full);
    const __m256 scaled = _mm256_mul_ps(_mm256_maskload_ps(x + full, mask), inverse);
    _mm256_maskstore_ps(out + full, mask, _mm256_mul_ps(scaled, _mm256_maskload_ps(weight + full, mask)));
  }
}

}  // namespace cpm::kernels

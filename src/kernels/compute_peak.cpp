#include "kernels/compute_peak.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "kernels/cpu_features.h"

namespace cpm {

namespace kernels {

float fma_chains_portable(int64_t iterations) {
  // The same chains as the AVX2 version, lane by lane, so both return the same bits.
  float acc[kFmaChains][8];
  for (int c = 0; c < kFmaChains; ++c)
    for (int lane = 0; lane < 8; ++lane) acc[c][lane] = kFmaChainStart * static_cast<float>(c);
  for (int64_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kFmaChains; ++c)
      for (int lane = 0; lane < 8; ++lane)
        acc[c][lane] = std::fma(acc[c][lane], kFmaChainFactor, kFmaChainAddend);
  float first = acc[0][0], last = acc[0][7];
  for (int c = 1; c < kFmaChains; ++c) {
    first += acc[c][0];
    last += acc[c][7];
  }
  return first + last;
}

}  // namespace kernels

double measure_fma_peak(ThreadPool& pool, int repeats) {
  const bool avx512 = cpu_has_avx512();
  const auto chains = avx512           ? kernels::fma_chains_avx512
                      : cpu_has_avx2() ? kernels::fma_chains_avx2
                                       : kernels::fma_chains_portable;
  const double lanes = avx512 ? 16 : 8;
  // About 50 ms per thread at a few GHz: long enough to reach full clock, short enough to stay cheap.
  constexpr int64_t kIterations = 20'000'000;
  const int threads = pool.num_threads();
  std::vector<float> sinks(threads, 0.0f);
  double best = 0;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(threads, 1,
                      [&](int thread, int64_t, int64_t) { sinks[thread] += chains(kIterations); });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double flops = 2.0 * lanes * kernels::kFmaChains * static_cast<double>(kIterations) * threads;
    best = std::max(best, flops / seconds);
  }
  volatile float keep = 0;
  for (float sink : sinks) keep = keep + sink;
  return best;
}

}  // namespace cpm

#include "kernels/compute_peak.h"

#include <gtest/gtest.h>

#include <cstring>

#include "kernels/cpu_features.h"

namespace cpm {
namespace {

TEST(ComputePeakTest, AvxAndPortableChainsComputeTheSameBits) {
  const float avx2 = kernels::fma_chains_avx2(1000), portable = kernels::fma_chains_portable(1000);
  EXPECT_EQ(0, std::memcmp(&avx2, &portable, sizeof(float))) << avx2 << " vs " << portable;
  // The chains really ran: x -> 0.999999 x + 1e-7 moves away from the starting sum (0.09 for lanes 0 and 7).
  EXPECT_GT(std::abs(avx2 - 0.09f), 1e-5f);
  if (cpu_has_avx512()) {
    const float avx512 = kernels::fma_chains_avx512(1000);
    EXPECT_EQ(0, std::memcmp(&avx512, &portable, sizeof(float))) << avx512 << " vs " << portable;
  }
}

TEST(ComputePeakTest, MeasuresAPositiveRateOnEveryThread) {
  ThreadPool pool(2);
  const double peak = measure_fma_peak(pool, 1);
  EXPECT_GT(peak, 1e8);  // any x86-64 core does far more than 0.1 GFLOP/s
}

}  // namespace
}  // namespace cpm

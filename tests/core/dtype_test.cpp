#include "core/dtype.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "core/thread_pool.h"

namespace cpm {
namespace {

TEST(DTypeTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);  // halfway: rounds to even (down)
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);  // halfway: rounds to even (up)
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DTypeTest, F16RoundTripsEveryHalf) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float value = f16_to_f32(static_cast<uint16_t>(bits));
    if (std::isnan(value)) continue;
    ASSERT_EQ(f32_to_f16(value), bits) << bits;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);  // overflow to infinity
}

TEST(DTypeTest, ParseAndSizes) {
  DType dtype;
  ASSERT_TRUE(parse_dtype("BF16", &dtype));
  EXPECT_EQ(dtype, DType::kBF16);
  ASSERT_TRUE(parse_dtype("q4_0", &dtype));
  EXPECT_EQ(dtype_bytes(dtype, 64), 36);
  EXPECT_FALSE(parse_dtype("int3", &dtype));
}

TEST(ThreadPoolTest, CoversRangeOnceWithAnyThreadCount) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t count : {0, 1, 5, 100}) {
      std::vector<int> hits(count, 0);
      pool.parallel_for(count, 4, [&](int, int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) ++hits[i];
      });
      for (int hit : hits) EXPECT_EQ(hit, 1);
    }
  }
}

TEST(ThreadPoolTest, BalancedLoopCoversRangeOnceWhenThreadsRunAtDifferentSpeeds) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t count : {0, 1, 5, 100, 1001}) {
      std::vector<std::atomic<int>> hits(count);
      std::vector<std::atomic<int64_t>> done_by(threads);
      pool.parallel_for_balanced(count, 3, [&](int thread, int64_t begin, int64_t end) {
        EXPECT_EQ(begin % 3, 0);
        EXPECT_TRUE(end == count || end % 3 == 0);
        // Thread 0 is slow, so the others finish their ranges first and take from the end of its.
        if (thread == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        done_by[thread].fetch_add(end - begin);
      });
      for (const auto& hit : hits) EXPECT_EQ(hit.load(), 1);
      if (threads > 1 && count == 1001) {
        int64_t first_grain = 0, end_grain = 0;
        ThreadPool::split_range((count + 2) / 3, 1, threads, 0, &first_grain, &end_grain);
        EXPECT_LT(done_by[0].load(), end_grain * 3) << "no grain of the slow thread was taken by another";
      }
    }
  }
}

}  // namespace
}  // namespace cpm

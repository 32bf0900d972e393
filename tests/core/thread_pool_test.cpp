#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace cpm {
namespace {

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

// Each thread reads its plan once per loop, after its part and before the loop returns (the plan may
// refer to the caller's state); the loop's results are the same with one, and the threads asking for
// memory while they wait do not keep the next loop from running.
TEST(ThreadPoolTest, PrefetchPlanIsReadOncePerThreadBeforeTheLoopReturns) {
  const std::vector<uint8_t> memory(1 << 20, 1);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (bool balanced : {false, true}) {
      std::vector<std::atomic<int>> asked(threads);
      std::atomic<int> parts_done{0};
      const PrefetchPlan plan = [&](int thread) {
        EXPECT_GE(thread, 0);
        EXPECT_LT(thread, threads);
        asked[thread].fetch_add(1);
        return PrefetchRange{memory.data() + thread * 4096, static_cast<int64_t>(memory.size()) / 4};
      };
      for (int round = 0; round < 20; ++round) {
        std::vector<std::atomic<int>> hits(100);
        const auto body = [&](int, int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
          parts_done.fetch_add(1);
        };
        if (balanced) {
          pool.parallel_for_balanced(100, 1, body, &plan);
        } else {
          pool.parallel_for(100, 1, body, &plan);
        }
        for (const auto& hit : hits) ASSERT_EQ(hit.load(), 1);
        pool.parallel_for(10, 1, [](int, int64_t, int64_t) {});  // a loop without a plan
      }
      // One thread runs a loop alone and asks nothing; otherwise every thread once per loop.
      for (int thread = 0; thread < threads; ++thread)
        EXPECT_EQ(asked[thread].load(), threads == 1 ? 0 : 20) << threads << " threads, thread " << thread;
    }
  }
}

}  // namespace
}  // namespace cpm

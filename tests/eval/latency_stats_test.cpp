// Latency statistics against values numpy gives for the same data (np.mean, np.median,
// np.percentile(x, 99) with its default linear interpolation, np.std).
#include "eval/latency_stats.h"

#include <gtest/gtest.h>

namespace cpm {
namespace {

TEST(LatencyStats, MatchesNumpyOnKnownData) {
  // np.percentile([1..10], 99) = 9.91, median 5.5, std sqrt(8.25)
  const LatencySummary summary = summarize_latencies({10, 3, 1, 7, 2, 9, 4, 8, 6, 5});
  EXPECT_EQ(summary.count, 10u);
  EXPECT_DOUBLE_EQ(summary.mean, 5.5);
  EXPECT_DOUBLE_EQ(summary.median, 5.5);
  EXPECT_NEAR(summary.p99, 9.91, 1e-12);
  EXPECT_DOUBLE_EQ(summary.min, 1);
  EXPECT_DOUBLE_EQ(summary.max, 10);
  EXPECT_NEAR(summary.stddev, 2.8722813232690143, 1e-12);
}

TEST(LatencyStats, OddCountsAndSkewedData) {
  // [0.1, 0.2, 5.0]: median 0.2, p99 = 0.2 + 0.98 * 4.8 = 4.904
  const LatencySummary summary = summarize_latencies({5.0, 0.1, 0.2});
  EXPECT_DOUBLE_EQ(summary.median, 0.2);
  EXPECT_NEAR(summary.p99, 4.904, 1e-12);
  EXPECT_NEAR(summary.mean, 1.7666666666666666, 1e-12);
  // 100 samples 1..100: np.percentile(x, 99) = 99.01, median 50.5
  std::vector<double> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  const LatencySummary large = summarize_latencies(hundred);
  EXPECT_NEAR(large.p99, 99.01, 1e-9);
  EXPECT_DOUBLE_EQ(large.median, 50.5);
}

TEST(LatencyStats, OneSampleAndNone) {
  const LatencySummary one = summarize_latencies({0.25});
  EXPECT_DOUBLE_EQ(one.mean, 0.25);
  EXPECT_DOUBLE_EQ(one.median, 0.25);
  EXPECT_DOUBLE_EQ(one.p99, 0.25);
  EXPECT_DOUBLE_EQ(one.stddev, 0);
  const LatencySummary none = summarize_latencies({});
  EXPECT_EQ(none.count, 0u);
  EXPECT_DOUBLE_EQ(none.mean, 0);
  EXPECT_DOUBLE_EQ(none.p99, 0);
}

TEST(LatencyStats, PercentileEndsAndJsonFieldsInMilliseconds) {
  const std::vector<double> sorted = {1, 2, 4};
  EXPECT_DOUBLE_EQ(percentile_of_sorted(sorted, 0), 1);
  EXPECT_DOUBLE_EQ(percentile_of_sorted(sorted, 100), 4);
  EXPECT_DOUBLE_EQ(percentile_of_sorted(sorted, 75), 3);
  EXPECT_DOUBLE_EQ(percentile_of_sorted({}, 50), 0);
  nlohmann::ordered_json out;
  add_latency_fields("ttft", summarize_latencies({0.001, 0.003}), &out);
  EXPECT_DOUBLE_EQ(out["ttft_mean_ms"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(out["ttft_median_ms"].get<double>(), 2.0);
  EXPECT_NEAR(out["ttft_p99_ms"].get<double>(), 2.98, 1e-9);
  EXPECT_TRUE(out.contains("ttft_max_ms"));
}

}  // namespace
}  // namespace cpm

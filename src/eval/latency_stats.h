// Summary statistics of latency samples, computed the way numpy does (sglang's bench_serving
// reports np.mean, np.median and np.percentile with linear interpolation).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cpm {

struct LatencySummary {
  size_t count = 0;
  double mean = 0, median = 0, p99 = 0, min = 0, max = 0, stddev = 0;  // 0 when there are no samples
};

// The p-th percentile (0..100) of samples sorted ascending, interpolating linearly between the two
// nearest ranks (numpy's default). 0 for no samples.
double percentile_of_sorted(const std::vector<double>& sorted, double p);

LatencySummary summarize_latencies(std::vector<double> samples);

// {"<prefix>_mean_ms": ..., "<prefix>_median_ms": ..., "<prefix>_p99_ms": ..., ...} with the
// samples (seconds) converted to milliseconds.
void add_latency_fields(const std::string& prefix, const LatencySummary& seconds,
                        nlohmann::ordered_json* out);

}  // namespace cpm

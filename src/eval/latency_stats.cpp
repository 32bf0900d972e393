#include "eval/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace cpm {

double percentile_of_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = rank - static_cast<double>(below);
  return sorted[below] + (sorted[above] - sorted[below]) * fraction;
}

LatencySummary summarize_latencies(std::vector<double> samples) {
  LatencySummary summary;
  if (samples.empty()) return summary;
  std::sort(samples.begin(), samples.end());
  const double n = static_cast<double>(samples.size());
  summary.count = samples.size();
  summary.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / n;
  summary.median = percentile_of_sorted(samples, 50);
  summary.p99 = percentile_of_sorted(samples, 99);
  summary.min = samples.front();
  summary.max = samples.back();
  double squares = 0;
  for (double sample : samples) squares += (sample - summary.mean) * (sample - summary.mean);
  summary.stddev = std::sqrt(squares / n);  // population deviation, as np.std
  return summary;
}

void add_latency_fields(const std::string& prefix, const LatencySummary& seconds,
                        nlohmann::ordered_json* out) {
  (*out)[prefix + "_mean_ms"] = seconds.mean * 1000;
  (*out)[prefix + "_median_ms"] = seconds.median * 1000;
  (*out)[prefix + "_p99_ms"] = seconds.p99 * 1000;
  (*out)[prefix + "_min_ms"] = seconds.min * 1000;
  (*out)[prefix + "_max_ms"] = seconds.max * 1000;
  (*out)[prefix + "_std_ms"] = seconds.stddev * 1000;
}

}  // namespace cpm

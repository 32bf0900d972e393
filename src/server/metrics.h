// Server metrics in the Prometheus text format: request counts by outcome, token counters, latency
// histograms, and gauges read from the engine at scrape time.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace cpm {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double value);
  // Appends the _bucket, _sum and _count lines of `name`.
  void render(const std::string& name, const std::string& help, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServerMetrics {
 public:
  ServerMetrics();
  // One finished generation (one choice of one HTTP request).
  void record_request(const std::string& finish_reason, double time_to_first_token, double end_to_end);
  void record_inter_token_latency(double seconds);
  void record_http_status(int status);
  std::string render(const EngineStats& stats) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> requests_by_reason_;
  std::map<int, uint64_t> http_statuses_;
  Histogram time_to_first_token_;
  Histogram inter_token_latency_;
  Histogram end_to_end_latency_;
};

}  // namespace cpm

#include "server/metrics.h"

#include <cstdio>

namespace cpm {

namespace {

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

void metric(std::string* out, const std::string& name, const char* type, const std::string& help) {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string* out, const std::string& name, double value, const std::string& labels = "") {
  *out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + number(value) + "\n";
}

std::vector<double> latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}

}  // namespace

void Histogram::observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& help, std::string* out) const {
  metric(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    char bound[32];
    std::snprintf(bound, sizeof bound, "%g", bounds_[i]);
    sample(out, name + "_bucket", static_cast<double>(cumulative), std::string("le=\"") + bound + "\"");
  }
  sample(out, name + "_bucket", static_cast<double>(count_), "le=\"+Inf\"");
  sample(out, name + "_sum", sum_);
  sample(out, name + "_count", static_cast<double>(count_));
}

ServerMetrics::ServerMetrics()
    : time_to_first_token_(latency_buckets()),
      inter_token_latency_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      end_to_end_latency_(latency_buckets()) {}

void ServerMetrics::record_request(const std::string& finish_reason, double time_to_first_token,
                                   double end_to_end) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_by_reason_[finish_reason];
  if (time_to_first_token >= 0) time_to_first_token_.observe(time_to_first_token);
  end_to_end_latency_.observe(end_to_end);
}

void ServerMetrics::record_inter_token_latency(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  inter_token_latency_.observe(seconds);
}

void ServerMetrics::record_http_status(int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++http_statuses_[status];
}

std::string ServerMetrics::render(const EngineStats& stats) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  const std::string prefix = "cpmserve_";
  metric(&out, prefix + "requests_total", "counter", "Finished generations by finish reason.");
  for (const char* reason : {"stop", "length", "abort", "error"}) {
    auto it = requests_by_reason_.find(reason);
    sample(&out, prefix + "requests_total",
           it == requests_by_reason_.end() ? 0.0 : static_cast<double>(it->second),
           std::string("status=\"") + reason + "\"");
  }
  metric(&out, prefix + "http_responses_total", "counter", "HTTP responses by status code.");
  for (const auto& [status, count] : http_statuses_) {
    sample(&out, prefix + "http_responses_total", static_cast<double>(count),
           "code=\"" + std::to_string(status) + "\"");
  }
  const SchedulerCounters& c = stats.counters;
  metric(&out, prefix + "prompt_tokens_total", "counter", "Prompt tokens of admitted requests.");
  sample(&out, prefix + "prompt_tokens_total", static_cast<double>(c.prompt_tokens));
  metric(&out, prefix + "generation_tokens_total", "counter", "Generated tokens.");
  sample(&out, prefix + "generation_tokens_total", static_cast<double>(c.generated_tokens));
  metric(&out, prefix + "cached_tokens_total", "counter", "Prompt tokens served from the prefix cache.");
  sample(&out, prefix + "cached_tokens_total", static_cast<double>(c.cached_prompt_tokens));
  metric(&out, prefix + "retracted_requests_total", "counter", "Requests preempted for lack of KV memory.");
  sample(&out, prefix + "retracted_requests_total", static_cast<double>(c.retractions));
  metric(&out, prefix + "spec_draft_tokens_total", "counter", "Tokens proposed by speculative decoding.");
  sample(&out, prefix + "spec_draft_tokens_total", static_cast<double>(c.draft_tokens));
  metric(&out, prefix + "spec_accepted_tokens_total", "counter", "Proposed tokens the model confirmed.");
  sample(&out, prefix + "spec_accepted_tokens_total", static_cast<double>(c.accepted_draft_tokens));
  time_to_first_token_.render(prefix + "time_to_first_token_seconds", "Time to first token.", &out);
  inter_token_latency_.render(prefix + "inter_token_latency_seconds", "Time between streamed tokens.", &out);
  end_to_end_latency_.render(prefix + "e2e_request_latency_seconds", "End-to-end request latency.", &out);
  metric(&out, prefix + "num_running_requests", "gauge", "Requests in the running batch.");
  sample(&out, prefix + "num_running_requests", static_cast<double>(stats.running));
  metric(&out, prefix + "num_queued_requests", "gauge", "Requests waiting for admission.");
  sample(&out, prefix + "num_queued_requests", static_cast<double>(stats.waiting));
  metric(&out, prefix + "kv_cache_used_tokens", "gauge",
         "KV pool slots in use (running requests and prefix cache).");
  sample(&out, prefix + "kv_cache_used_tokens", static_cast<double>(stats.kv_used_tokens));
  metric(&out, prefix + "kv_cache_capacity_tokens", "gauge", "KV pool size in tokens.");
  sample(&out, prefix + "kv_cache_capacity_tokens", static_cast<double>(stats.kv_capacity_tokens));
  metric(&out, prefix + "kv_cache_usage_ratio", "gauge", "Fraction of the KV pool in use.");
  sample(&out, prefix + "kv_cache_usage_ratio",
         stats.kv_capacity_tokens > 0 ? static_cast<double>(stats.kv_used_tokens) / stats.kv_capacity_tokens
                                      : 0.0);
  metric(&out, prefix + "prefix_cache_tokens", "gauge", "Tokens held by the radix prefix cache.");
  sample(&out, prefix + "prefix_cache_tokens", static_cast<double>(stats.prefix_cache_tokens));
  return out;
}

}  // namespace cpm

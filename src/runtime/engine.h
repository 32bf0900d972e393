// The serving engine: a scheduler running on its own thread. Any thread may submit or abort
// requests; outputs arrive on each request's RequestStream, so a server thread waits on its own
// stream and never blocks the step loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "runtime/data_parallel_scheduler.h"

namespace cpm {

struct EngineStats {
  int64_t running = 0;
  int64_t waiting = 0;
  int64_t kv_used_tokens = 0;
  int64_t kv_capacity_tokens = 0;
  int64_t prefix_cache_tokens = 0;
  SchedulerCounters counters;
};

// Thrown by submit when the queue is full (the server answers 503).
class QueueFullError : public Error {
 public:
  using Error::Error;
};

class Engine {
 public:
  // max_queued_requests bounds requests waiting for admission.
  Engine(MiniCPM3& model, const Tokenizer* tokenizer, const SchedulerOptions& options,
         int64_t max_queued_requests = 4096);
  ~Engine();  // aborts what is in flight and joins the thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Checks the request on the calling thread (throws cpm::Error for bad input, QueueFullError when
  // full) and queues it. Request ids must be unique among requests in flight.
  std::shared_ptr<RequestStream> submit(EngineRequest request);
  // The same, delivering into an existing stream (several requests may share one; chunks carry
  // their request id).
  void submit(EngineRequest request, std::shared_ptr<RequestStream> stream);
  void abort(const std::string& id);
  // Drops every unlocked prefix-cache entry; returns after the engine thread did it.
  void flush_cache();
  // Aborts everything in flight and stops the thread (also done by the destructor).
  void shutdown();

  EngineStats stats() const;
  const SchedulerOptions& options() const { return scheduler_.options(); }
  // DP ranks whose requests this engine schedules (1 without data-parallel attention).
  int data_parallel_size() const { return scheduler_.size(); }
  const MiniCPM3& model() const { return model_; }
  const Tokenizer* tokenizer() const { return tokenizer_; }

 private:
  struct Submission {
    EngineRequest request;
    std::shared_ptr<RequestStream> stream;
  };
  void loop();
  void drain_inbox();
  void publish_stats();

  MiniCPM3& model_;
  const Tokenizer* tokenizer_;
  DataParallelScheduler scheduler_;
  int64_t max_queued_requests_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable flushed_;
  std::vector<Submission> inbox_;
  std::vector<std::string> aborts_;
  int64_t flush_requests_ = 0, flushes_done_ = 0;
  bool stopping_ = false;
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace cpm

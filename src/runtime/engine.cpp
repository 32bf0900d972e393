#include "runtime/engine.h"

#include <iostream>

namespace cpm {

Engine::Engine(MiniCPM3& model, const Tokenizer* tokenizer, const SchedulerOptions& options,
               int64_t max_queued_requests)
    : model_(model),
      tokenizer_(tokenizer),
      scheduler_(model, tokenizer, options),
      max_queued_requests_(max_queued_requests) {
  publish_stats();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  shutdown();
}

void Engine::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<RequestStream> Engine::submit(EngineRequest request) {
  auto stream = std::make_shared<RequestStream>();
  submit(std::move(request), stream);
  return stream;
}

void Engine::submit(EngineRequest request, std::shared_ptr<RequestStream> stream) {
  scheduler_.check(request);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw QueueFullError("the server is shutting down");
    if (static_cast<int64_t>(inbox_.size()) + stats_.waiting >= max_queued_requests_) {
      throw QueueFullError(str_cat("the request queue is full (", max_queued_requests_, " waiting)"));
    }
    inbox_.push_back({std::move(request), std::move(stream)});
  }
  wake_.notify_all();
}

void Engine::abort(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    aborts_.push_back(id);
  }
  wake_.notify_all();
}

void Engine::flush_cache() {
  std::unique_lock<std::mutex> lock(mutex_);
  const int64_t ticket = ++flush_requests_;
  wake_.notify_all();
  flushed_.wait(lock, [&] { return flushes_done_ >= ticket || stopping_; });
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Engine::publish_stats() {
  EngineStats stats;
  stats.running = scheduler_.num_running();
  stats.waiting = scheduler_.num_waiting();
  stats.kv_used_tokens = scheduler_.kv_used_tokens();
  stats.kv_capacity_tokens = scheduler_.kv_capacity_tokens();
  stats.prefix_cache_tokens = scheduler_.cached_tokens();
  stats.counters = scheduler_.counters();
  std::lock_guard<std::mutex> lock(mutex_);
  stats_ = stats;
}

void Engine::drain_inbox() {
  std::vector<std::string> aborts;
  int64_t flush_target = 0;
  {
    // Queue under the lock, so submit() always sees inbox plus waiting counted exactly once.
    std::lock_guard<std::mutex> lock(mutex_);
    for (Submission& submission : inbox_) {
      const std::string id = submission.request.id;
      try {
        scheduler_.add(std::move(submission.request), submission.stream);
      } catch (const Error& error) {
        OutputChunk chunk;
        chunk.request_id = id;
        chunk.finished = true;
        chunk.finish_reason = "error";
        chunk.error = error.what();
        submission.stream->push(std::move(chunk));
      }
    }
    inbox_.clear();
    stats_.waiting = scheduler_.num_waiting();
    aborts.swap(aborts_);
    flush_target = flush_requests_;
  }
  for (const std::string& id : aborts) scheduler_.abort(id);
  if (flush_target > flushes_done_) {
    scheduler_.flush_cache();
    publish_stats();  // so a caller returning from flush_cache() sees the state after it
    std::lock_guard<std::mutex> lock(mutex_);
    flushes_done_ = flush_target;
    flushed_.notify_all();
  }
}

void Engine::loop() {
  while (true) {
    drain_inbox();
    publish_stats();  // aborts and admissions change what clients see even when no step runs
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (stopping_) break;
      if (scheduler_.idle() && inbox_.empty() && aborts_.empty() && flush_requests_ == flushes_done_) {
        wake_.wait(lock, [this] {
          return stopping_ || !inbox_.empty() || !aborts_.empty() || flush_requests_ != flushes_done_;
        });
        continue;
      }
    }
    try {
      scheduler_.step();
    } catch (const std::exception& error) {
      // A failed step leaves the batch in an unknown state: end every request with the error.
      std::cerr << "error: model step failed: " << error.what() << "\n";
      scheduler_.abort_all(error.what());
    }
    publish_stats();
  }
  scheduler_.abort_all("");
  publish_stats();
  std::lock_guard<std::mutex> lock(mutex_);
  flushed_.notify_all();
}

}  // namespace cpm

#include "server/generation_session.h"

#include <algorithm>

namespace cpm {

nlohmann::ordered_json matched_stop_json(const OutputChunk& chunk) {
  if (chunk.matched_stop_token >= 0) return chunk.matched_stop_token;
  if (!chunk.matched_stop.empty()) return chunk.matched_stop;
  return nullptr;
}

GenerationSession::GenerationSession(Engine& engine, ServerMetrics& metrics,
                                     std::vector<EngineRequest> requests, SessionRegistry* registry,
                                     std::string id)
    : engine_(engine),
      metrics_(metrics),
      registry_(registry),
      id_(std::move(id)),
      requests_(std::move(requests)),
      stream_(std::make_shared<RequestStream>()),
      done_(requests_.size(), false),
      first_token_(requests_.size()),
      last_token_(requests_.size()),
      remaining_(requests_.size()),
      start_(std::chrono::steady_clock::now()) {
  for (const EngineRequest& request : requests_) ids_.push_back(request.id);
  if (registry_) registry_->claim(id_, ids_);
  for (size_t i = 0; i < requests_.size(); ++i) {
    try {
      engine_.submit(requests_[i], stream_);
    } catch (...) {
      for (size_t j = 0; j < i; ++j) engine_.abort(ids_[j]);
      remaining_ = 0;
      if (registry_) registry_->release(id_);
      throw;
    }
  }
}

GenerationSession::~GenerationSession() {
  abort();
  if (registry_) registry_->release(id_);
}

void GenerationSession::abort() {
  // The client is gone: nobody will read the final chunks, so count the aborts here.
  for (size_t i = 0; i < ids_.size(); ++i) {
    if (done_[i]) continue;
    engine_.abort(ids_[i]);
    done_[i] = true;
    --remaining_;
    metrics_.record_request("abort", -1.0, elapsed_seconds());
  }
}

double GenerationSession::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

bool GenerationSession::next(size_t* index, OutputChunk* chunk, std::chrono::milliseconds timeout) {
  if (remaining_ == 0 || !stream_->pop(chunk, timeout)) return false;
  const size_t i = std::find(ids_.begin(), ids_.end(), chunk->request_id) - ids_.begin();
  if (i >= ids_.size()) return false;
  *index = i;
  const auto now = std::chrono::steady_clock::now();
  if (!chunk->token_ids.empty()) {
    if (first_token_[i] == std::chrono::steady_clock::time_point{}) {
      first_token_[i] = now;
    } else {
      metrics_.record_inter_token_latency(std::chrono::duration<double>(now - last_token_[i]).count());
    }
    last_token_[i] = now;
  }
  if (chunk->finished && !done_[i]) {
    done_[i] = true;
    --remaining_;
    const bool has_token = first_token_[i] != std::chrono::steady_clock::time_point{};
    metrics_.record_request(
        chunk->finish_reason,
        has_token ? std::chrono::duration<double>(first_token_[i] - start_).count() : -1.0,
        std::chrono::duration<double>(now - start_).count());
  }
  return true;
}

std::vector<OutputChunk> GenerationSession::wait_all() {
  std::vector<OutputChunk> all(ids_.size());
  size_t index;
  OutputChunk chunk;
  while (!finished()) {
    if (next(&index, &chunk, std::chrono::milliseconds(1000))) merge_chunk(chunk, &all[index]);
  }
  return all;
}

}  // namespace cpm

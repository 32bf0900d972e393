// What a client gives the engine and what it gets back, chunk by chunk.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/sampler.h"
#include "runtime/sampling_params.h"

namespace cpm {

struct EngineRequest {
  std::string id;                  // unique among requests in flight
  std::vector<int32_t> input_ids;  // the prompt, tokenized by the caller
  SamplingParams params;
};

// Incremental output: the tokens and text produced since the previous chunk.
struct OutputChunk {
  std::string request_id;
  std::vector<int32_t> token_ids;
  std::string text;                    // never a partial UTF-8 sequence, never part of a stop string
  std::vector<SampledToken> logprobs;  // one per token, when requested
  // Prompt tokens' logprobs (logprob_start_len), each with its prompt position; in the first chunk.
  std::vector<std::pair<int64_t, SampledToken>> input_logprobs;
  bool finished = false;
  std::string finish_reason;        // "stop", "length", "abort" or "error" once finished
  std::string matched_stop;         // the stop string that ended the request, if one did
  int32_t matched_stop_token = -1;  // or the stop / EOS token id that did
  std::string error;                // message when finish_reason is "error"
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;  // total so far
  int64_t cached_tokens = 0;      // prompt tokens served from the prefix cache
};

// Merges `chunk` into `all` (tokens, text and logprobs appended; status fields replaced).
inline void merge_chunk(const OutputChunk& chunk, OutputChunk* all) {
  all->request_id = chunk.request_id;
  all->token_ids.insert(all->token_ids.end(), chunk.token_ids.begin(), chunk.token_ids.end());
  all->text += chunk.text;
  all->logprobs.insert(all->logprobs.end(), chunk.logprobs.begin(), chunk.logprobs.end());
  all->input_logprobs.insert(all->input_logprobs.end(), chunk.input_logprobs.begin(),
                             chunk.input_logprobs.end());
  all->finished = chunk.finished;
  all->finish_reason = chunk.finish_reason;
  all->matched_stop = chunk.matched_stop;
  all->matched_stop_token = chunk.matched_stop_token;
  all->error = chunk.error;
  all->prompt_tokens = chunk.prompt_tokens;
  all->completion_tokens = chunk.completion_tokens;
  all->cached_tokens = chunk.cached_tokens;
}

// A single-producer (engine), single-consumer (client) queue of chunks. The engine never blocks on it.
class RequestStream {
 public:
  void push(OutputChunk chunk) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      chunks_.push_back(std::move(chunk));
    }
    ready_.notify_all();
  }
  // Waits up to `timeout` for the next chunk; false on timeout.
  bool pop(OutputChunk* chunk, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [this] { return !chunks_.empty(); })) return false;
    *chunk = std::move(chunks_.front());
    chunks_.pop_front();
    return true;
  }
  // Blocks until the request finishes and returns everything merged into one chunk.
  OutputChunk wait_all() {
    OutputChunk all, chunk;
    while (!all.finished) {
      pop(&chunk, std::chrono::milliseconds(1000 * 3600));
      merge_chunk(chunk, &all);
    }
    return all;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<OutputChunk> chunks_;
};

}  // namespace cpm

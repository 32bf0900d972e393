// Runs one sequence through the model with its own cache: the simplest client of MiniCPM3::forward,
// used by the logits command, tests and benchmarks. Serving uses the runtime's scheduler instead.
#pragma once

#include <memory>
#include <vector>

#include "model/minicpm3.h"

namespace cpm {

class SequenceRunner {
 public:
  // Reserves cache room for `capacity` tokens (at most the model's context length).
  SequenceRunner(MiniCPM3& model, int64_t capacity, DType cache_dtype = DType::kF32);

  // Appends tokens (all in one step) and returns the logits of every new position when
  // all_positions is true, else of the last one: [positions, vocab].
  std::vector<float> feed(const std::vector<int32_t>& tokens, bool all_positions = false);
  int64_t length() const { return length_; }
  int64_t capacity() const { return static_cast<int64_t>(slots_.size()); }

 private:
  MiniCPM3& model_;
  std::unique_ptr<KvCache> cache_;
  std::vector<int32_t> slots_;
  int64_t length_ = 0;
};

}  // namespace cpm

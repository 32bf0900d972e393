#include "model/sequence_runner.h"

#include <numeric>

#include "core/error.h"

namespace cpm {

SequenceRunner::SequenceRunner(MiniCPM3& model, int64_t capacity, DType cache_dtype) : model_(model) {
  if (capacity > model.context_length()) {
    fail("sequence of ", capacity, " tokens exceeds the context length ", model.context_length());
  }
  cache_ = model.make_cache(std::max<int64_t>(capacity, 1), cache_dtype);
  slots_.resize(std::max<int64_t>(capacity, 1));
  std::iota(slots_.begin(), slots_.end(), 0);
}

std::vector<float> SequenceRunner::feed(const std::vector<int32_t>& tokens, bool all_positions) {
  const int64_t count = static_cast<int64_t>(tokens.size());
  if (count == 0) fail("no tokens to feed");
  if (length_ + count > capacity()) {
    fail("sequence of ", length_ + count, " tokens exceeds the ", capacity(), " reserved");
  }
  ForwardBatch batch;
  batch.token_ids = tokens;
  batch.sequences.push_back({0, count, length_, slots_.data()});
  if (all_positions) {
    for (int64_t i = 0; i < count; ++i) batch.logit_rows.push_back(i);
  } else {
    batch.logit_rows.push_back(count - 1);
  }
  std::vector<float> logits;
  model_.forward(batch, *cache_, &logits);
  length_ += count;
  return logits;
}

}  // namespace cpm

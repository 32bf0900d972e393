// One model step: the new tokens of several sequences, laid out sequence after sequence.
#pragma once

#include <cstdint>
#include <vector>

namespace cpm {

struct SequenceSpan {
  int64_t first_row = 0;   // row of this sequence's first new token in the batch
  int64_t num_new = 0;     // new tokens this step (0 is allowed)
  int64_t num_cached = 0;  // tokens already cached; new token i sits at position num_cached + i
  // Cache slots of positions 0 .. num_cached + num_new - 1 (the new tokens' slots are written).
  const int32_t* slots = nullptr;
};

struct ForwardBatch {
  std::vector<int32_t> token_ids;  // all new tokens, [rows]
  std::vector<SequenceSpan> sequences;
  std::vector<int64_t> logit_rows;  // rows whose next-token logits are wanted

  int64_t num_rows() const { return static_cast<int64_t>(token_ids.size()); }
};

}  // namespace cpm

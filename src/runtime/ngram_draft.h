// Prompt-lookup drafts for speculative decoding: text being generated often repeats text before it
// (a quoted passage, code being edited, numbers from the question), so the tokens that followed the
// last earlier occurrence of the current ending are a cheap guess at what comes next. The model
// checks the guess in one step (scheduler.cpp), which costs little more than one token where decode
// is bound by reading the weights.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace cpm {

// `max_tokens` tokens that followed the latest earlier occurrence of the last n tokens, for the
// largest n in [min_window, max_window] that occurs (continued periodically where they reach the
// end); empty when none does.
std::vector<int32_t> ngram_draft(std::span<const int32_t> tokens, int min_window, int max_window,
                                 int64_t max_tokens);

// How many tokens to draft (0 to max_tokens) for the most tokens per unit of step time, when each
// draft is right with probability `hit_rate` given the ones before it were, and each drafted row
// adds `row_cost` to the cost of a one-token step. A wrong guess is not free on a CPU: a q4_0
// MiniCPM3-4B step over five rows took 1.6-1.8x one over one row (docs/PERFORMANCE.md), so drafts
// must be right often enough to pay.
int64_t best_draft_length(double hit_rate, double row_cost, int64_t max_tokens);

}  // namespace cpm

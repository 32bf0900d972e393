#include "runtime/ngram_draft.h"

#include <algorithm>

namespace cpm {

std::vector<int32_t> ngram_draft(std::span<const int32_t> tokens, int min_window, int max_window,
                                 int64_t max_tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (max_tokens <= 0) return {};
  for (int64_t window = std::min<int64_t>(max_window, n - 1); window >= std::max(min_window, 1); --window) {
    const std::span<const int32_t> ending = tokens.subspan(n - window);
    // Latest first: the nearest repetition is the likeliest to continue the same way.
    for (int64_t start = n - window - 1; start >= 0; --start) {
      if (!std::equal(ending.begin(), ending.end(), tokens.begin() + start)) continue;
      // Copied as LZ77 copies: a match that runs into the end goes on with what it copied, so a
      // text repeating with period n - from keeps doing so.
      const int64_t from = start + window;
      std::vector<int32_t> draft;
      for (int64_t k = 0; k < max_tokens; ++k)
        draft.push_back(from + k < n ? tokens[from + k] : draft[from + k - n]);
      return draft;
    }
  }
  return {};
}

int64_t best_draft_length(double hit_rate, double row_cost, int64_t max_tokens) {
  int64_t best = 0;
  double best_rate = 1.0;  // no draft: one token per step
  double expected = 1.0, chance = 1.0;
  for (int64_t k = 1; k <= max_tokens; ++k) {
    chance *= hit_rate;  // all of the first k drafts right
    expected += chance;
    const double rate = expected / (1.0 + row_cost * static_cast<double>(k));
    if (rate > best_rate) best = k, best_rate = rate;
  }
  return best;
}

}  // namespace cpm

#include "runtime/ngram_draft.h"

#include <gtest/gtest.h>

namespace cpm {
namespace {

TEST(NgramDraft, ContinuesTheLatestEarlierOccurrenceOfTheLongestEnding) {
  //                                  0  1  2  3  4  5  6  7  8  9 10
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 9, 2, 3, 5, 6, 2, 3};
  // "2 3" last occurred at 5 (followed by 5 6 2 3), and before that at 1.
  EXPECT_EQ(ngram_draft(tokens, 1, 4, 3), (std::vector<int32_t>{5, 6, 2}));
  // Past the end the copy goes on with itself: the text repeats with period 4.
  EXPECT_EQ(ngram_draft(tokens, 1, 4, 6), (std::vector<int32_t>{5, 6, 2, 3, 5, 6}));
  // A longer ending wins: "1 2 3" occurred at 0, so its continuation beats that of the nearer "2 3".
  const std::vector<int32_t> longer = {1, 2, 3, 7, 8, 2, 3, 4, 1, 2, 3};
  EXPECT_EQ(ngram_draft(longer, 1, 3, 2), (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(ngram_draft(longer, 1, 2, 2), (std::vector<int32_t>{4, 1}));
}

TEST(NgramDraft, NothingWithoutARepetitionOrRoom) {
  EXPECT_TRUE(ngram_draft(std::vector<int32_t>{1, 2, 3, 4}, 1, 4, 5).empty());
  EXPECT_TRUE(ngram_draft(std::vector<int32_t>{5, 6, 5, 6}, 1, 4, 0).empty());
  EXPECT_TRUE(ngram_draft(std::vector<int32_t>{}, 1, 4, 5).empty());
  EXPECT_TRUE(ngram_draft(std::vector<int32_t>{3}, 1, 4, 5).empty());
  // The shortest window allowed is 2: a single repeated token does not count.
  EXPECT_TRUE(ngram_draft(std::vector<int32_t>{1, 9, 2, 9}, 2, 4, 5).empty());
  EXPECT_EQ(ngram_draft(std::vector<int32_t>{1, 9, 2, 9}, 1, 4, 3), (std::vector<int32_t>{2, 9, 2}));
  // A run continues itself (the match overlaps the ending).
  EXPECT_EQ(ngram_draft(std::vector<int32_t>{4, 4, 4}, 1, 4, 3), (std::vector<int32_t>{4, 4, 4}));
}

TEST(NgramDraft, DraftsOnlyAsManyAsPayForTheirRows) {
  EXPECT_EQ(best_draft_length(0.1, 0.2, 4), 0);  // 1.1 tokens for 1.2 steps' time
  EXPECT_EQ(best_draft_length(0.5, 0.2, 4), 1);  // 1.5 / 1.2; two drafts give 1.75 / 1.4, no better
  EXPECT_EQ(best_draft_length(0.95, 0.2, 4), 4);
  EXPECT_EQ(best_draft_length(0.95, 0.2, 2), 2);
  EXPECT_EQ(best_draft_length(1.0, 0.2, 0), 0);
  EXPECT_EQ(best_draft_length(0.3, 0.0, 3), 3);  // free rows: always worth it
}

}  // namespace
}  // namespace cpm

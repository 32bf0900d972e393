#include "runtime/stop_checker.h"

#include <gtest/gtest.h>

namespace cpm {
namespace {

TEST(StopCheckerTest, MatchesAcrossChunksAndExcludesTheStop) {
  StopChecker checker({"Question"});
  std::string out;
  for (const char* piece : {"The answer is 7.\n\nQue", "st", "ion: next"}) out += checker.add(piece);
  EXPECT_TRUE(checker.matched());
  EXPECT_EQ(out, "The answer is 7.\n\n");
  EXPECT_EQ(checker.matched_stop(), "Question");
}

TEST(StopCheckerTest, HoldsBackPossiblePrefixThenReleasesIt) {
  StopChecker checker({"###"});
  EXPECT_EQ(checker.add("a #"), "a ");
  EXPECT_EQ(checker.add("#"), "");
  EXPECT_EQ(checker.add(" b"), "## b");
  EXPECT_FALSE(checker.matched());
  EXPECT_EQ(checker.add("#"), "");
  EXPECT_EQ(checker.flush(), "#");
}

TEST(StopCheckerTest, EarliestOfSeveralStops) {
  StopChecker checker({"world", "lo"});
  EXPECT_EQ(checker.add("hello world"), "hel");
  EXPECT_EQ(checker.matched_stop(), "lo");
}

TEST(StopCheckerTest, NoStopsPassesEverything) {
  StopChecker checker({});
  EXPECT_EQ(checker.add("abc"), "abc");
  EXPECT_EQ(checker.flush(), "");
}

}  // namespace
}  // namespace cpm

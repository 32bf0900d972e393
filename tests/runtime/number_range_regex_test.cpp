// Ranges of integers and decimal numbers as regexes: checked against every value on a grid.
#include "runtime/number_range_regex.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "runtime/regex_matcher.h"

namespace cpm {
namespace {

using Matcher = RegexMatcher;

TEST(NumberRangeRegexTest, IntegerRangesMatchExactlyTheirMembers) {
  std::mt19937 random(3);
  const int64_t limits[] = {-1000, -101, -100, -99, -10, -9, -1, 0, 1, 7, 9, 10, 99, 100, 101, 999, 1000};
  for (int trial = 0; trial < 60; ++trial) {
    const bool has_low = trial % 4 != 1, has_high = trial % 4 != 2;
    int64_t low = limits[random() % 17], high = limits[random() % 17];
    if (low > high) std::swap(low, high);
    Matcher match(integer_range_regex(has_low ? &low : nullptr, has_high ? &high : nullptr));
    for (int64_t value = -1100; value <= 1100; ++value) {
      const bool inside = (!has_low || value >= low) && (!has_high || value <= high);
      ASSERT_EQ(match(std::to_string(value)), inside) << value << " in [" << low << ", " << high << "]";
    }
    EXPECT_FALSE(match("-0"));
    EXPECT_FALSE(match("007"));
    EXPECT_FALSE(match(""));
  }
}

// k thousandths as text: the shortest form, or with `decimals` digits after the point.
std::string thousandths(int64_t k, int decimals = -1) {
  const int64_t magnitude = k < 0 ? -k : k;
  std::string fraction = std::to_string(magnitude % 1000);
  fraction.insert(0, 3 - fraction.size(), '0');
  if (decimals < 0) {
    fraction.erase(fraction.find_last_not_of('0') + 1);
  } else {
    fraction.resize(static_cast<size_t>(decimals), '0');
  }
  std::string text = k < 0 ? "-" : "";
  text.append(std::to_string(magnitude / 1000));
  if (!fraction.empty()) text.append(".").append(fraction);
  return text;
}

TEST(NumberRangeRegexTest, DecimalRangesMatchExactlyTheirMembers) {
  std::mt19937 random(5);
  const int64_t limits[] = {-2500, -2001, -1000, -999, -500, -10,  -1,   0,    1,
                            5,     50,    100,   250,  999,  1000, 1001, 1500, 2999};
  int ranges = 0;
  for (int trial = 0; trial < 150; ++trial) {
    const bool has_low = trial % 4 != 1, has_high = trial % 4 != 2;
    const int64_t low = limits[random() % 18], high = limits[random() % 18];
    const bool low_inclusive = random() % 2 == 0, high_inclusive = random() % 2 == 0;
    // Bounds are written in the forms JSON schemas carry: plain, with trailing zeros, with an exponent.
    auto text = [&random](int64_t k) {
      switch (random() % 3) {
        case 0:
          return thousandths(k);
        case 1:
          return thousandths(k, 4);
        default:
          return std::to_string(k) + "e-3";
      }
    };
    const std::optional<NumberBound> low_bound =
        has_low ? std::optional<NumberBound>(NumberBound{text(low), low_inclusive}) : std::nullopt;
    const std::optional<NumberBound> high_bound =
        has_high ? std::optional<NumberBound>(NumberBound{text(high), high_inclusive}) : std::nullopt;
    auto inside = [&](int64_t k) {
      return (!has_low || k > low || (k == low && low_inclusive)) &&
             (!has_high || k < high || (k == high && high_inclusive));
    };
    bool any = false;
    for (int64_t k = -4000; k <= 4000 && !any; ++k) any = inside(k);
    if (!any && has_low && has_high) {
      EXPECT_THROW(number_range_regex(low_bound, high_bound), Error) << low << " " << high;
      continue;
    }
    Matcher match(number_range_regex(low_bound, high_bound));
    ++ranges;
    for (int64_t k = -3500; k <= 3500; ++k) {
      for (const std::string& form : {thousandths(k), thousandths(k, 3), thousandths(k, 5)}) {
        ASSERT_EQ(match(form), inside(k))
            << form << " in " << (low_inclusive ? "[" : "(") << (has_low ? low_bound->number : "-inf") << ", "
            << (has_high ? high_bound->number : "inf") << (high_inclusive ? "]" : ")");
      }
    }
    for (const char* never : {"-0", "-0.0", "01", "1.", ".5", "1e3", "+1", ""})
      EXPECT_FALSE(match(never)) << never;
  }
  EXPECT_GT(ranges, 100);
}

TEST(NumberRangeRegexTest, BoundsItCannotWriteAreRefused) {
  EXPECT_THROW(number_range_regex(NumberBound{"1e19"}, std::nullopt), Error);
  EXPECT_THROW(number_range_regex(NumberBound{"0.0000000000000000000000000000001"}, std::nullopt), Error);
  EXPECT_THROW(number_range_regex(NumberBound{"1", false}, NumberBound{"1"}), Error);
  EXPECT_THROW(number_range_regex(NumberBound{"abc"}, std::nullopt), Error);
  Matcher tiny(number_range_regex(NumberBound{"1e-5", false}, NumberBound{"2.5E-5"}));
  EXPECT_TRUE(tiny("0.00002"));
  EXPECT_TRUE(tiny("0.000025"));
  EXPECT_FALSE(tiny("0.00001"));
  EXPECT_FALSE(tiny("0.0000251"));
  Matcher large(number_range_regex(NumberBound{"-1e18"}, NumberBound{"1e18"}));
  EXPECT_TRUE(large("999999999999999999.5"));
  EXPECT_FALSE(large("1000000000000000000.5"));
}

}  // namespace
}  // namespace cpm

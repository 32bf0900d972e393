// The JavaScript-compatible text helpers behind the template engine. Expected values are what node
// prints for the same operations.
#include "server/jinja_text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace cpm::jinja {
namespace {

TEST(JinjaText, NumbersPrintAsJavaScriptStrings) {
  const std::vector<std::pair<double, std::string>> cases = {
      {0, "0"},
      {-0.0, "0"},
      {1, "1"},
      {-1.5, "-1.5"},
      {0.1, "0.1"},
      {1e-6, "0.000001"},
      {1e-7, "1e-7"},
      {123456789.125, "123456789.125"},
      {1e21, "1e+21"},
      {1.5e300, "1.5e+300"},
      {5e-324, "5e-324"},
      {9007199254740992.0, "9007199254740992"},
      {0.1 + 0.2, "0.30000000000000004"},
      {-1e-7, "-1e-7"},
      {1e20, "100000000000000000000"},
      {123e18, "123000000000000000000"},
  };
  for (const auto& [value, expected] : cases) EXPECT_EQ(js_number_string(value), expected) << value;
  EXPECT_EQ(float_display_string(3), "3.0");
  EXPECT_EQ(float_display_string(-0.0), "-0.0");
  EXPECT_EQ(float_display_string(2.5), "2.5");
}

TEST(JinjaText, SortKeysLikeLocaleCompare) {
  std::vector<std::string> keys = {"b",  "B", "a", "A", "ab", "aB", "Ab", "a_b", "a-b", "a1",
                                   "aa", "e", "E", "z", "Z",  "10", "9",  " x",  ""};
  std::stable_sort(keys.begin(), keys.end(),
                   [](const std::string& x, const std::string& y) { return locale_compare(x, y) < 0; });
  EXPECT_EQ(keys, (std::vector<std::string>{"", " x", "10", "9", "a", "A", "a_b", "a-b", "a1", "aa", "ab",
                                            "aB", "Ab", "b", "B", "e", "E", "z", "Z"}));
  std::string printable;
  for (char c = ' '; c < 127; ++c) printable += c;
  std::stable_sort(printable.begin(), printable.end(),
                   [](char x, char y) { return locale_compare(std::string(1, x), std::string(1, y)) < 0; });
  EXPECT_EQ(
      printable,
      " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ");
}

TEST(JinjaText, JavaScriptWhitespaceAndStripping) {
  EXPECT_EQ(js_trim("\xC2\xA0\t x \xE3\x80\x80\n"), "x");
  EXPECT_EQ(js_trim_end("x\xE2\x80\xA8"), "x");
  EXPECT_EQ(js_trim_end("x\xA0"), "x\xA0");  // a lone continuation byte is no space
  EXPECT_EQ(strip_characters("xx-a-xx", "x", true, true), "-a-");
  EXPECT_EQ(strip_characters("\xC3\xA9"
                             "a\xC3\xA9",
                             "\xC3\xA9", true, false),
            "a\xC3\xA9");
  EXPECT_EQ(strip_characters("xxx", "x", false, true), "");
}

TEST(JinjaText, CharactersAndCase) {
  EXPECT_EQ(utf16_length("a\xC3\xA9\xF0\x9F\x98\x80"), 4u);
  EXPECT_EQ(character_at("a\xC3\xA9z", 1), "\xC3\xA9");
  EXPECT_EQ(character_at("a\xC3\xA9z", -1), "z");
  EXPECT_FALSE(character_at("az", 2).has_value());
  EXPECT_EQ(character_starts("a\xC3\xA9z"), (std::vector<uint32_t>{0, 1, 3, 4}));
  EXPECT_EQ(to_upper("stra\xC3\x9F"
                     "e \xCE\xB1\xCF\x82 \xD0\xB6"),
            "STRASSE \xCE\x91\xCE\xA3 \xD0\x96");
  EXPECT_EQ(to_lower("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 \xCE\xA3"),
            "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82 \xCF\x83");
  EXPECT_EQ(title_case("hello wORLD_x 1a"), "Hello WORLD_x 1a");
  EXPECT_EQ(capitalize("\xC3\xA9t\xC3\xA9"), "\xC3\x89t\xC3\xA9");
  EXPECT_EQ(to_upper("\xFF ok"), "\xFF OK");  // invalid bytes pass through
}

TEST(JinjaText, JsonQuotingAndNumberParsing) {
  EXPECT_EQ(json_quote("a\"\\\n\x01\x7F\xC3\xA9", false), "\"a\\\"\\\\\\n\\u0001\x7F\xC3\xA9\"");
  EXPECT_EQ(json_quote("\x7F\xC3\xA9\xF0\x9F\x98\x80", true), "\"\\u007f\\u00e9\\ud83d\\ude00\"");
  double value = 0;
  EXPECT_TRUE(js_parse_int("  -12abc", value));
  EXPECT_EQ(value, -12);
  EXPECT_FALSE(js_parse_int("abc", value));
  EXPECT_TRUE(js_parse_float(" 1.5e3x", value));
  EXPECT_EQ(value, 1500);
  EXPECT_TRUE(js_string_to_number(" 0x1F ", value));
  EXPECT_EQ(value, 31);
  EXPECT_TRUE(js_string_to_number("", value));
  EXPECT_EQ(value, 0);
  EXPECT_FALSE(js_string_to_number("1 2", value));
}

}  // namespace
}  // namespace cpm::jinja

// Regular expressions for constrained decoding: what matches (whole strings, as bytes through the
// lazy automaton), what is refused, and prefixes that stay alive.
#include "runtime/regex_nfa.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "runtime/byte_dfa.h"

namespace cpm {
namespace {

bool matches(std::string_view pattern, std::string_view text) {
  return ByteDfa(compile_regex(pattern)).matches(text);
}

bool live_prefix(std::string_view pattern, std::string_view text) {
  ByteDfa dfa(compile_regex(pattern));
  return dfa.run(dfa.start(), text) != ByteDfa::kDead;
}

TEST(RegexTest, LiteralsMatchWholeStrings) {
  EXPECT_TRUE(matches("abc", "abc"));
  EXPECT_FALSE(matches("abc", "ab"));
  EXPECT_FALSE(matches("abc", "abcd"));
  EXPECT_TRUE(live_prefix("abc", "ab"));
  EXPECT_FALSE(live_prefix("abc", "ax"));
  EXPECT_TRUE(matches("^abc$", "abc"));  // anchors are implicit
  EXPECT_TRUE(matches("", ""));
  EXPECT_FALSE(matches("", "a"));
}

TEST(RegexTest, ClassesAndEscapes) {
  EXPECT_TRUE(matches("[a-c]x", "bx"));
  EXPECT_FALSE(matches("[a-c]x", "dx"));
  EXPECT_TRUE(matches("[^a-c]", "d"));
  EXPECT_FALSE(matches("[^a-c]", "a"));
  EXPECT_TRUE(matches("\\d\\d", "42"));
  EXPECT_FALSE(matches("\\d", "x"));
  EXPECT_TRUE(matches("\\w+", "snake_case9"));
  EXPECT_TRUE(matches("\\s", "\t"));
  EXPECT_TRUE(matches("\\S\\D\\W", "xx-"));
  EXPECT_TRUE(matches("a\\.b", "a.b"));
  EXPECT_FALSE(matches("a\\.b", "axb"));
  EXPECT_TRUE(matches("[]a]", "]"));
  EXPECT_TRUE(matches("[a-]", "-"));
  EXPECT_TRUE(matches("[\\d.]+", "3.14"));
  EXPECT_TRUE(matches("\\x41\\u00e9", "A\xC3\xA9"));
  EXPECT_TRUE(matches("\\{\\}\\[\\]\\(\\)", "{}[]()"));
  EXPECT_TRUE(matches("a{b", "a{b"));  // not a counted repetition: a literal brace, as in Python
}

TEST(RegexTest, DotAndNegatedClassesMatchWholeUtf8Characters) {
  EXPECT_TRUE(matches(".", "\xC3\xA9"));          // é, two bytes
  EXPECT_TRUE(matches(".", "\xE4\xB8\xAD"));      // 中, three bytes
  EXPECT_TRUE(matches(".", "\xF0\x9F\x98\x80"));  // 😀, four bytes
  EXPECT_FALSE(matches(".", "\n"));
  EXPECT_FALSE(matches(".", "\xC3"));          // a lone lead byte is no character
  EXPECT_FALSE(live_prefix(".", "\x80"));      // nor a lone continuation byte
  EXPECT_FALSE(live_prefix(".", "\xED\xA0"));  // nor the start of a surrogate
  EXPECT_TRUE(matches("[^\"]", "\xE4\xB8\xAD"));
  EXPECT_TRUE(matches("[α-ω]+", "λμ"));
  EXPECT_FALSE(matches("[α-ω]", "a"));
}

TEST(RegexTest, QuantifiersAlternationAndGroups) {
  EXPECT_TRUE(matches("ab*c", "ac"));
  EXPECT_TRUE(matches("ab*c", "abbbc"));
  EXPECT_FALSE(matches("ab+c", "ac"));
  EXPECT_TRUE(matches("ab?c", "abc"));
  EXPECT_FALSE(matches("ab?c", "abbc"));
  EXPECT_TRUE(matches("a{3}", "aaa"));
  EXPECT_FALSE(matches("a{3}", "aa"));
  EXPECT_TRUE(matches("a{2,}", "aaaaa"));
  EXPECT_FALSE(matches("a{2,}", "a"));
  EXPECT_TRUE(matches("a{1,3}", "aaa"));
  EXPECT_FALSE(matches("a{1,3}", "aaaa"));
  EXPECT_TRUE(matches("a{0,2}", ""));
  EXPECT_TRUE(matches("a+?b*?", "aab"));  // lazy forms match the same strings
  EXPECT_TRUE(matches("cat|dog", "dog"));
  EXPECT_FALSE(matches("cat|dog", "cog"));
  EXPECT_TRUE(matches("(ab|cd)+e", "abcdabe"));
  EXPECT_TRUE(matches("(?:x|y)(?P<n>z)(?<m>w)", "yzw"));
  EXPECT_TRUE(matches("(a|)b", "b"));
  EXPECT_TRUE(matches("((a*)*b)*", "aabab"));
}

TEST(RegexTest, BadPatternsAreRefusedWithTheirPosition) {
  for (const char* pattern : {"(ab", "ab)", "[ab", "*a", "a**", "a{3,1}", "\\1", "\\b", "(?=a)", "a^", "$a",
                              "[z-a]", "\\", "a{100001}"}) {
    try {
      compile_regex(pattern);
      ADD_FAILURE() << "accepted " << pattern;
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("position"), std::string::npos) << error.what();
    }
  }
}

TEST(RegexTest, TooLargeAutomataAreRefused) {
  EXPECT_THROW(compile_regex("(a{1000}){1000}"), Error);
  // The lazy automaton refuses to grow past its limit: (a|b)*a(a|b){12} needs 2^13 states.
  ByteDfa dfa(compile_regex("(a|b)*a(a|b){12}"), 1000);
  EXPECT_THROW(
      {
        std::mt19937 random(7);
        int32_t state = dfa.start();
        for (int i = 0; i < 100000; ++i) state = dfa.next(state, random() % 2 ? 'a' : 'b');
      },
      Error);
}

TEST(RegexTest, EscapeMakesTextLiteral) {
  const std::string text = "a.b*c(d)[e]{f}|g?h+i^j$k\\l/m-n";
  EXPECT_TRUE(matches(regex_escape(text), text));
  EXPECT_FALSE(matches(regex_escape("a.b"), "axb"));
}

}  // namespace
}  // namespace cpm

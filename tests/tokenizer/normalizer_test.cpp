// Normalizer steps and the Unicode operations behind them (NFC / NFD, whitespace and word classes).
#include "tokenizer/normalizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace cpm {
namespace {

Normalizer parse(const nlohmann::json& spec) {
  return Normalizer::from_json(spec, "tokenizer.json");
}

TEST(NormalizerTest, PrependAndReplaceAsMiniCpm3UsesThem) {
  const Normalizer normalizer =
      parse({{"type", "Sequence"},
             {"normalizers",
              {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
               {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}});
  EXPECT_EQ(normalizer.normalize("Hello  world "), "▁Hello▁▁world▁");
  EXPECT_EQ(normalizer.normalize(""), "");  // an empty piece gets no prefix
  EXPECT_EQ(normalizer.normalize("\n"), "▁\n");
}

TEST(NormalizerTest, NullIsTheIdentity) {
  const Normalizer normalizer = parse(nullptr);
  EXPECT_TRUE(normalizer.is_identity());
  EXPECT_EQ(normalizer.normalize(" a b "), " a b ");
}

TEST(NormalizerTest, ReplaceIsLeftToRightWithoutOverlaps) {
  const Normalizer normalizer =
      parse({{"type", "Replace"}, {"pattern", {{"String", "aa"}}}, {"content", "b"}});
  EXPECT_EQ(normalizer.normalize("aaaaa"), "bba");
}

TEST(NormalizerTest, StripRemovesUnicodeWhitespace) {
  const Normalizer normalizer = parse({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}});
  EXPECT_EQ(normalizer.normalize("\xE3\x80\x80\t a b \n\xC2\xA0"), "a b");
}

TEST(NormalizerTest, NfcComposesAndNfdDecomposes) {
  const Normalizer nfc = parse({{"type", "NFC"}});
  const Normalizer nfd = parse({{"type", "NFD"}});
  EXPECT_EQ(nfc.normalize("e\xCC\x81"), "é");
  EXPECT_EQ(nfd.normalize("é"), "e\xCC\x81");
  EXPECT_EQ(nfc.normalize("plain ASCII"), "plain ASCII");
}

TEST(UnicodeTest, NfcFollowsTheStandard) {
  EXPECT_EQ(unicode::nfc("\xE2\x84\xAB"), "\xC3\x85");  // U+212B ANGSTROM SIGN -> U+00C5 (a singleton)
  // Marks are put in canonical order first, so both orders compose to U+1EAD.
  EXPECT_EQ(unicode::nfc("a\xCC\xA3\xCC\x82"), "\xE1\xBA\xAD");
  EXPECT_EQ(unicode::nfc("a\xCC\x82\xCC\xA3"), "\xE1\xBA\xAD");
  // A second acute accent is blocked by the first: only one composes.
  EXPECT_EQ(unicode::nfc("a\xCC\x81\xCC\x81"), "\xC3\xA1\xCC\x81");
  // U+0958 is a composition exclusion: it stays decomposed.
  EXPECT_EQ(unicode::nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");
  // Hangul: conjoining jamo compose arithmetically, LV + T too.
  EXPECT_EQ(unicode::nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // U+AC01
  EXPECT_EQ(unicode::nfc("\xEA\xB0\x80\xE1\x86\xA8"), "\xEA\xB0\x81");
  EXPECT_EQ(unicode::nfd("\xEA\xB0\x81"), "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8");
  // A leading mark has no starter to join.
  EXPECT_EQ(unicode::nfc("\xCC\x81"
                         "e"),
            "\xCC\x81"
            "e");
  // Bytes that are not UTF-8 pass through.
  EXPECT_EQ(unicode::nfc("e\xFF\xCC\x81"), "e\xFF\xCC\x81");
  EXPECT_EQ(unicode::nfc("日本語 🙂"), "日本語 🙂");
}

TEST(UnicodeTest, WhitespaceAndWordCharacters) {
  for (char32_t c : {U' ', U'\t', U'\n', U'\u00A0', U'\u2003', U'\u3000', U'\u2028'})
    EXPECT_TRUE(unicode::is_whitespace(c)) << static_cast<uint32_t>(c);
  for (char32_t c : {U'a', U'_', U'\u200B', U'\u00B7', U'x'})
    EXPECT_FALSE(unicode::is_whitespace(c)) << static_cast<uint32_t>(c);
  for (char32_t c : {U'a', U'Z', U'7', U'_', U'é', U'日', U'\u0301', U'\u0663', U'\u24B6'})
    EXPECT_TRUE(unicode::is_word_character(c)) << static_cast<uint32_t>(c);
  for (char32_t c : {U' ', U'-', U'.', U'\u3000', U'\U0001F642', U'\u00BF'})
    EXPECT_FALSE(unicode::is_word_character(c)) << static_cast<uint32_t>(c);
  EXPECT_EQ(unicode::leading_whitespace_length(" \t\xE3\x80\x80x "), 5u);
  EXPECT_EQ(unicode::trailing_whitespace_length("x \xE3\x80\x80"), 4u);
  EXPECT_EQ(unicode::trailing_whitespace_length("x\xE3\x80"), 0u);  // a truncated sequence is not whitespace
  EXPECT_TRUE(unicode::ends_with_word_character("abc é"));
  EXPECT_FALSE(unicode::starts_with_word_character("🙂x"));
}

TEST(NormalizerTest, UnsupportedKindsNameTheFile) {
  for (const nlohmann::json& spec :
       {nlohmann::json{{"type", "Lowercase"}},
        nlohmann::json{{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}}}) {
    try {
      parse(spec);
      FAIL() << "accepted " << spec.dump();
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("tokenizer.json"), std::string::npos) << error.what();
    }
  }
}

}  // namespace
}  // namespace cpm

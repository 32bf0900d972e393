// The BPE model on small hand-written vocabularies: merge order, byte fallback, unknown characters.
#include <gtest/gtest.h>

#include <chrono>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_support.h"

namespace cpm {
namespace {

using test::piece_id;
const std::string kSpace = "\xE2\x96\x81";  // "▁"

// Encodes without BOS; the normalizer puts "▁" in front.
std::vector<int32_t> encode(const Tokenizer& tokenizer, const std::string& text) {
  return tokenizer.encode(text, false);
}

TEST(BpeModelTest, MergesApplyInRankOrderNotTextOrder) {
  const std::vector<std::string> pieces = {kSpace, "a", "b", "c", "ab", "bc"};
  test::TempDir first_ab, first_bc;
  const Tokenizer ab_first =
      test::load_from_json(first_ab, test::minicpm3_style_tokenizer(pieces, {"a b", "b c"}));
  const Tokenizer bc_first =
      test::load_from_json(first_bc, test::minicpm3_style_tokenizer(pieces, {"b c", "a b"}));
  EXPECT_EQ(encode(ab_first, "abc"), (std::vector<int32_t>{piece_id(0), piece_id(4), piece_id(3)}));
  EXPECT_EQ(encode(bc_first, "abc"), (std::vector<int32_t>{piece_id(0), piece_id(1), piece_id(5)}));
}

TEST(BpeModelTest, EqualRanksMergeLeftmostFirst) {
  test::TempDir dir;
  const Tokenizer tokenizer =
      test::load_from_json(dir, test::minicpm3_style_tokenizer({kSpace, "a", "aa"}, {"a a"}));
  // "aaa": the left pair merges first, leaving the third "a" alone.
  EXPECT_EQ(encode(tokenizer, "aaa"), (std::vector<int32_t>{piece_id(0), piece_id(2), piece_id(1)}));
  EXPECT_EQ(encode(tokenizer, "aaaa"), (std::vector<int32_t>{piece_id(0), piece_id(2), piece_id(2)}));
}

TEST(BpeModelTest, MergesChainIntoLongerPieces) {
  const std::vector<std::string> pieces = {kSpace, "h",  "e",    "l",     "o",
                                           "he",   "ll", "hell", "hello", kSpace + "hello"};
  test::TempDir dir;
  const Tokenizer tokenizer = test::load_from_json(
      dir, test::minicpm3_style_tokenizer(pieces, {"h e", "l l", "he ll", "hell o", kSpace + " hello"}));
  EXPECT_EQ(encode(tokenizer, "hello"), std::vector<int32_t>{piece_id(9)});
  EXPECT_EQ(encode(tokenizer, "hello hello"), (std::vector<int32_t>{piece_id(9), piece_id(9)}));
  EXPECT_EQ(tokenizer.decode(encode(tokenizer, "hello hello")), "hello hello");
  EXPECT_EQ(tokenizer.encode("hello", true), (std::vector<int32_t>{1, piece_id(9)}));
}

TEST(BpeModelTest, MergePairsMayBeWrittenAsArrays) {
  const std::vector<std::string> pieces = {kSpace, "a", "b", "ab"};
  test::TempDir strings_dir, arrays_dir;
  const Tokenizer strings =
      test::load_from_json(strings_dir, test::minicpm3_style_tokenizer(pieces, {"a b"}));
  nlohmann::json with_arrays = test::minicpm3_style_tokenizer(pieces, {});
  with_arrays["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "b"})});
  const Tokenizer arrays = test::load_from_json(arrays_dir, with_arrays);
  EXPECT_EQ(encode(strings, "abab"), encode(arrays, "abab"));
  EXPECT_EQ(encode(arrays, "ab"), (std::vector<int32_t>{piece_id(0), piece_id(3)}));
}

TEST(BpeModelTest, UnknownCharactersFallBackToBytes) {
  test::TempDir dir;
  const Tokenizer tokenizer = test::load_from_json(dir, test::minicpm3_style_tokenizer({kSpace, "a"}, {}));
  // "é" is C3 A9: byte tokens are 3 + byte value.
  EXPECT_EQ(encode(tokenizer, "aé"), (std::vector<int32_t>{piece_id(0), piece_id(1), 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tokenizer.decode(encode(tokenizer, "aé")), "aé");
}

TEST(BpeModelTest, WithoutByteTokensUnknownCharactersBecomeUnk) {
  nlohmann::json spec = test::minicpm3_style_tokenizer({kSpace, "a"}, {});
  spec["model"]["byte_fallback"] = false;
  for (bool fuse : {true, false}) {
    spec["model"]["fuse_unk"] = fuse;
    test::TempDir dir;
    const Tokenizer tokenizer = test::load_from_json(dir, spec);
    const std::vector<int32_t> expected = fuse ? std::vector<int32_t>{piece_id(0), 0, piece_id(1), 0}
                                               : std::vector<int32_t>{piece_id(0), 0, 0, piece_id(1), 0};
    EXPECT_EQ(encode(tokenizer, "éèaü"), expected) << "fuse_unk " << fuse;
  }
}

TEST(BpeModelTest, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  nlohmann::json spec = test::minicpm3_style_tokenizer({kSpace, "x", "y", kSpace + "xy"}, {});
  spec["model"]["ignore_merges"] = true;
  test::TempDir dir;
  const Tokenizer tokenizer = test::load_from_json(dir, spec);
  EXPECT_EQ(encode(tokenizer, "xy"), std::vector<int32_t>{piece_id(3)});
  EXPECT_EQ(encode(tokenizer, "yx"), (std::vector<int32_t>{piece_id(0), piece_id(2), piece_id(1)}));
}

TEST(BpeModelTest, InvalidUtf8InputRoundTripsThroughByteTokens) {
  test::TempDir dir;
  const Tokenizer tokenizer = test::load_from_json(dir, test::minicpm3_style_tokenizer({kSpace, "a"}, {}));
  const std::string broken = "a\xFF\xC3";
  EXPECT_EQ(encode(tokenizer, broken), (std::vector<int32_t>{piece_id(0), piece_id(1), 3 + 0xFF, 3 + 0xC3}));
  EXPECT_EQ(tokenizer.decode(encode(tokenizer, broken)), "a\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(BpeModelTest, LongWordsMergeInNLogNTime) {
  std::vector<std::string> pieces = {kSpace, "a", "b", "ab", "abab"};
  test::TempDir dir;
  const Tokenizer tokenizer =
      test::load_from_json(dir, test::minicpm3_style_tokenizer(pieces, {"a b", "ab ab"}));
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "ab";
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = encode(tokenizer, text);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  ASSERT_EQ(ids.size(), 1u + 100000u);
  EXPECT_EQ(ids[1], piece_id(4));
  EXPECT_EQ(tokenizer.decode(ids), text);
}

}  // namespace
}  // namespace cpm

// Added tokens: how they are cut out of the input (leftmost-longest, lstrip / rstrip, single_word,
// normalized) and how tokenizer_config.json and the legacy files add or change them.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_support.h"

namespace cpm {
namespace {

using test::piece_id;
const std::string kSpace = "\xE2\x96\x81";  // "▁"
const std::vector<std::string> kPieces = {kSpace, "a", "b", "x", "y", "\n"};
const int32_t kImEnd = piece_id(kPieces.size()), kImStart = kImEnd + 1;
const int32_t kSpaceId = piece_id(0), kA = piece_id(1), kB = piece_id(2), kX = piece_id(3),
              kNewline = piece_id(5);

nlohmann::json added_token(int32_t id, const std::string& content) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", false}};
}

// The base tokenizer plus extra added tokens (ids from kImStart + 1 on).
Tokenizer with_added_tokens(const test::TempDir& dir, const std::vector<nlohmann::json>& extra) {
  nlohmann::json spec = test::minicpm3_style_tokenizer(kPieces, {});
  for (const nlohmann::json& token : extra) spec["added_tokens"].push_back(token);
  return test::load_from_json(dir, spec);
}

TEST(AddedTokensTest, TextBetweenAddedTokensIsNormalizedPieceByPiece) {
  test::TempDir dir;
  const Tokenizer tokenizer = with_added_tokens(dir, {});
  // Each piece of text gets its own "▁": the "\n" after <|im_end|> becomes "▁", "\n".
  EXPECT_EQ(tokenizer.encode("<|im_start|>a<|im_end|>\n<|im_start|>", false),
            (std::vector<int32_t>{kImStart, kSpaceId, kA, kImEnd, kSpaceId, kNewline, kImStart}));
  EXPECT_EQ(tokenizer.encode("<|im_end|><|im_end|>", false), (std::vector<int32_t>{kImEnd, kImEnd}));
  EXPECT_EQ(tokenizer.decode({kImStart, kSpaceId, kA}), "<|im_start|> a");
  EXPECT_EQ(tokenizer.decode({kImStart, kSpaceId, kA}, true), "a");
  EXPECT_TRUE(tokenizer.is_special(kImEnd));
}

TEST(AddedTokensTest, LongestMatchWinsAtTheLeftmostPosition) {
  test::TempDir dir;
  const int32_t short_id = kImStart + 1, long_id = kImStart + 2;
  const Tokenizer tokenizer =
      with_added_tokens(dir, {added_token(short_id, "<t>"), added_token(long_id, "<t>a")});
  EXPECT_EQ(tokenizer.encode("x<t>ab<t>", false),
            (std::vector<int32_t>{kSpaceId, kX, long_id, kSpaceId, kB, short_id}));
  EXPECT_FALSE(tokenizer.is_special(short_id));
}

TEST(AddedTokensTest, LstripAndRstripSwallowWhitespace) {
  test::TempDir dir;
  nlohmann::json token = added_token(kImStart + 1, "<mask>");
  token["lstrip"] = true;
  token["rstrip"] = true;
  const Tokenizer tokenizer = with_added_tokens(dir, {token});
  // Unicode whitespace (an ideographic space, a tab) counts too.
  EXPECT_EQ(tokenizer.encode("a \t<mask>\xE3\x80\x80 b", false),
            (std::vector<int32_t>{kSpaceId, kA, kImStart + 1, kSpaceId, kB}));
  EXPECT_EQ(tokenizer.encode("a<mask>b", false),
            (std::vector<int32_t>{kSpaceId, kA, kImStart + 1, kSpaceId, kB}));
}

TEST(AddedTokensTest, SingleWordTokensOnlyMatchWholeWords) {
  test::TempDir dir;
  nlohmann::json token = added_token(kImStart + 1, "ab");
  token["single_word"] = true;
  const Tokenizer tokenizer = with_added_tokens(dir, {token});
  // "x " and " y" are normalized on their own: "▁x▁" and "▁▁y".
  EXPECT_EQ(tokenizer.encode("x ab y", false),
            (std::vector<int32_t>{kSpaceId, kX, kSpaceId, kImStart + 1, kSpaceId, kSpaceId, piece_id(4)}));
  // Inside a word ("xab", "abé") it stays text.
  EXPECT_EQ(tokenizer.encode("xab", false), (std::vector<int32_t>{kSpaceId, kX, kA, kB}));
  const std::vector<int32_t> accented = tokenizer.encode("abé", false);
  EXPECT_EQ(std::count(accented.begin(), accented.end(), kImStart + 1), 0);
}

TEST(AddedTokensTest, NormalizedTokensMatchTheNormalizedText) {
  test::TempDir dir;
  nlohmann::json token = added_token(kImStart + 1, "a b");
  token["normalized"] = true;
  const Tokenizer tokenizer = with_added_tokens(dir, {token});
  // "x a b" normalizes to "▁x▁a▁b"; the token's own normalized form is "▁a▁b".
  EXPECT_EQ(tokenizer.encode("x a b", false), (std::vector<int32_t>{kSpaceId, kX, kImStart + 1}));
  // Its id decodes to the content as written.
  EXPECT_EQ(tokenizer.id_to_token(kImStart + 1), "a b");
  EXPECT_EQ(tokenizer.decode({kSpaceId, kX, kImStart + 1}), "xa b");
}

TEST(AddedTokensTest, ConfigAddedTokensDecoderChangesFlagsAndAddsTokens) {
  test::TempDir dir;
  const nlohmann::json config = {
      {"added_tokens_decoder",
       {{std::to_string(kImEnd),
         {{"content", "<|im_end|>"}, {"special", false}, {"rstrip", true}, {"normalized", false}}},
        {std::to_string(kImStart + 1), {{"content", "<new>"}, {"special", true}, {"normalized", false}}}}},
      {"bos_token", "<s>"},
      {"eos_token", {{"content", "<|im_end|>"}}}};
  const Tokenizer tokenizer = test::load_from_json(dir, test::minicpm3_style_tokenizer(kPieces, {}), config);
  EXPECT_EQ(tokenizer.vocab_size(), kImStart + 2);
  EXPECT_EQ(tokenizer.token_to_id("<new>"), kImStart + 1);
  EXPECT_TRUE(tokenizer.is_special(kImStart + 1));
  EXPECT_FALSE(tokenizer.is_special(kImEnd));
  EXPECT_EQ(tokenizer.eos_id(), kImEnd);
  EXPECT_EQ(tokenizer.encode("<|im_end|>  a<new>", false),
            (std::vector<int32_t>{kImEnd, kSpaceId, kA, kImStart + 1}));
}

TEST(AddedTokensTest, LegacyConfigsUseSpecialTokensMapAndAddedTokensJson) {
  test::TempDir dir;
  dir.write("special_tokens_map.json", R"({"bos_token": "<s>", "eos_token": {"content": "</s>"},
                                           "additional_special_tokens": ["<extra>"]})");
  dir.write("added_tokens.json", "{\"<extra>\": " + std::to_string(kImStart + 1) +
                                     ", \"<plain>\": " + std::to_string(kImStart + 2) + "}");
  const Tokenizer tokenizer = test::load_from_json(dir, test::minicpm3_style_tokenizer(kPieces, {}),
                                                   {{"eos_token", "<|im_end|>"}, {"add_bos_token", true}});
  EXPECT_EQ(tokenizer.eos_id(), 2);  // special_tokens_map.json overrides the config in legacy mode
  EXPECT_EQ(tokenizer.vocab_size(), kImStart + 3);
  EXPECT_TRUE(tokenizer.is_special(kImStart + 1));
  EXPECT_FALSE(tokenizer.is_special(kImStart + 2));
  EXPECT_EQ(tokenizer.encode("<extra>a", true), (std::vector<int32_t>{1, kImStart + 1, kSpaceId, kA}));
}

}  // namespace
}  // namespace cpm

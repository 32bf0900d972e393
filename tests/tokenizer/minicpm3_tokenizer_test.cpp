// The MiniCPM3-4B tokenizer (../shared/data/minicpm3-4b) against reference ids and texts from
// Hugging Face tokenizer.json semantics (tests/data/tokenizer/minicpm3-4b-cases.json, a copy of
// ../shared/golden/tokenizer/minicpm3-4b.json).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_support.h"

namespace cpm {
namespace {

using test::minicpm3_tokenizer;

struct GoldenCase {
  std::string text, decoded;
  std::vector<int32_t> ids_with_bos, ids_no_special;
};

std::vector<GoldenCase> golden_cases() {
  std::ifstream in(test::test_data_dir() + "/tokenizer/minicpm3-4b-cases.json");
  const nlohmann::json root = nlohmann::json::parse(in);
  std::vector<GoldenCase> cases;
  for (const nlohmann::json& item : root.at("cases")) {
    cases.push_back({item.at("text"), item.at("decoded"), item.at("ids_with_bos").get<std::vector<int32_t>>(),
                     item.at("ids_no_special").get<std::vector<int32_t>>()});
  }
  return cases;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

constexpr int32_t kImEnd = 73440, kImStart = 73441, kSpacePiece = 59320, kNewline = 5;

TEST(MiniCpm3TokenizerTest, GoldenCasesEncode) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  const std::vector<GoldenCase> cases = golden_cases();
  ASSERT_EQ(cases.size(), 16u);
  for (const GoldenCase& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(tokenizer.encode(c.text, true), c.ids_with_bos);
    EXPECT_EQ(tokenizer.encode(c.text, false), c.ids_no_special);
  }
}

TEST(MiniCpm3TokenizerTest, GoldenCasesDecode) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  for (const GoldenCase& c : golden_cases()) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(tokenizer.decode(c.ids_no_special), c.decoded);
    EXPECT_EQ(tokenizer.decode(c.ids_with_bos, /*skip_special_tokens=*/true),
              tokenizer.decode(c.ids_no_special, /*skip_special_tokens=*/true));
  }
}

TEST(MiniCpm3TokenizerTest, GoldenCasesDecodeIncrementally) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  for (const GoldenCase& c : golden_cases()) {
    SCOPED_TRACE(c.text);
    bool valid = true;
    EXPECT_EQ(test::decode_incrementally(tokenizer, c.ids_no_special, false, &valid), c.decoded);
    for (bool skip : {false, true}) {
      EXPECT_EQ(test::decode_incrementally(tokenizer, c.ids_with_bos, skip, &valid),
                tokenizer.decode(c.ids_with_bos, skip));
    }
    EXPECT_TRUE(valid) << "a chunk was not valid UTF-8";
  }
}

TEST(MiniCpm3TokenizerTest, IncrementalDecodingOfMultiByteText) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  for (const std::string text :
       {"日本語のテキストと한국어 🙂🙂 ünïcödé",
        "混合 mixed 文本 with emoji 🎉🧪🦀 and\nnewlines",
        "<|im_start|>assistant\n答案是 42<|im_end|>",
        "\xF4\x8F\xBF\xBD\xF4\x8F\xBF\xBD rare characters 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "  spaces   everywhere  "}) {
    SCOPED_TRACE(text);
    const std::vector<int32_t> ids = tokenizer.encode(text, true);
    bool valid = true;
    for (bool skip : {false, true}) {
      EXPECT_EQ(test::decode_incrementally(tokenizer, ids, skip, &valid), tokenizer.decode(ids, skip));
    }
    EXPECT_TRUE(valid);
    if (text.find("<|") == std::string::npos) {
      EXPECT_EQ(tokenizer.decode(ids, true), text);
    }
  }
}

TEST(MiniCpm3TokenizerTest, SpecialTokensAndIds) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  EXPECT_EQ(tokenizer.vocab_size(), 73448);
  EXPECT_EQ(tokenizer.token_to_id("<|im_end|>"), kImEnd);
  EXPECT_EQ(tokenizer.token_to_id("<|im_start|>"), kImStart);
  EXPECT_EQ(tokenizer.token_to_id("<|fim_suffix|>"), 73447);
  EXPECT_EQ(tokenizer.token_to_id("no such piece"), -1);
  EXPECT_EQ(tokenizer.id_to_token(kImStart), "<|im_start|>");
  EXPECT_EQ(tokenizer.id_to_token(kSpacePiece), "\xE2\x96\x81");
  EXPECT_EQ(tokenizer.id_to_token(73448), "");
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), kImEnd);  // tokenizer_config.json's eos_token
  EXPECT_EQ(tokenizer.unk_id(), 0);
  EXPECT_TRUE(tokenizer.add_bos_token());
  EXPECT_EQ(tokenizer.special_prefix(), std::vector<int32_t>{1});
  EXPECT_TRUE(tokenizer.special_suffix().empty());
  for (int32_t id : {0, 1, 2, kImEnd, kImStart, 73447}) EXPECT_TRUE(tokenizer.is_special(id)) << id;
  EXPECT_FALSE(tokenizer.is_special(kSpacePiece));
  EXPECT_NE(tokenizer.chat_template().find("<|im_start|>"), std::string::npos);
}

TEST(MiniCpm3TokenizerTest, SpecialTokenTextMapsToItsId) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  const std::vector<int32_t> ids = tokenizer.encode("<|im_start|>user\nhi<|im_end|>\n<|im_start|>", false);
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids.front(), kImStart);
  EXPECT_EQ(ids.back(), kImStart);
  // The "\n" between two special tokens is a piece of its own, so the normalizer prepends "▁".
  const std::vector<int32_t> tail(ids.end() - 4, ids.end());
  EXPECT_EQ(tail, (std::vector<int32_t>{kImEnd, kSpacePiece, kNewline, kImStart}));
  EXPECT_EQ(tokenizer.decode(ids), "<|im_start|> user\nhi<|im_end|> \n<|im_start|>");
  EXPECT_EQ(tokenizer.decode(ids, true), "user\nhi \n");
  EXPECT_EQ(tokenizer.encode("<s></s><unk>", false), (std::vector<int32_t>{1, 2, 0}));
}

TEST(MiniCpm3TokenizerTest, RareCharactersFallBackToBytes) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  const std::string private_use = "\xF4\x8F\xBF\xBD";  // U+10FFFD
  std::vector<int32_t> expected = {kSpacePiece};
  for (const char* byte : {"<0xF4>", "<0x8F>", "<0xBF>", "<0xBD>"})
    expected.push_back(tokenizer.token_to_id(byte));
  EXPECT_EQ(tokenizer.encode(private_use, false), expected);
  EXPECT_EQ(tokenizer.decode(expected), private_use);
  // A run of byte tokens that is not valid UTF-8 decodes to one U+FFFD per byte, as in Hugging Face.
  const int32_t e4 = tokenizer.token_to_id("<0xE4>"), bd = tokenizer.token_to_id("<0xBD>");
  const int32_t a0 = tokenizer.token_to_id("<0xA0>");
  EXPECT_EQ(tokenizer.decode({e4, bd, a0}), "你");
  EXPECT_EQ(tokenizer.decode({e4, bd}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tokenizer.decode({e4, bd, a0, bd}), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  bool valid = true;
  EXPECT_EQ(test::decode_incrementally(tokenizer, {e4, bd, a0, bd, kSpacePiece}, false, &valid),
            tokenizer.decode({e4, bd, a0, bd, kSpacePiece}));
  EXPECT_TRUE(valid);
}

TEST(MiniCpm3TokenizerTest, EncodesAPromptInMilliseconds) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  std::ifstream in(test::shared_dir() + "/data/gsm8k/test.jsonl");
  std::string line, prompt;
  while (prompt.size() < 4096 && std::getline(in, line))
    prompt += nlohmann::json::parse(line).at("question").get<std::string>() + "\n";
  ASSERT_GE(prompt.size(), 4096u);
  double best = 1e9;
  std::vector<int32_t> ids;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    ids = tokenizer.encode(prompt);
    best = std::min(best, seconds_since(start));
  }
  EXPECT_EQ(tokenizer.decode(ids, true), prompt);
  EXPECT_LT(best, 0.05) << "a few milliseconds in Release; the bound leaves room for sanitizer builds";
}

TEST(MiniCpm3TokenizerTest, LongTextWithoutSpacesStaysNearLinear) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  // No pre-tokenizer: the whole text is one BPE word. Quadratic merging would take minutes here.
  std::string text;
  while (text.size() < 256 * 1024) text += "abc123xyz,.;日本語🙂";
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = tokenizer.encode(text, false);
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_EQ(tokenizer.decode(ids), text);
}

TEST(MiniCpm3TokenizerTest, LoadsInUnderASecond) {
  CPM_REQUIRE_SHARED();
  const auto start = std::chrono::steady_clock::now();
  const Tokenizer tokenizer = Tokenizer::load(test::shared_dir() + "/data/minicpm3-4b");
  const double seconds = seconds_since(start);
  EXPECT_EQ(tokenizer.vocab_size(), 73448);
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
  EXPECT_LT(seconds, 20.0);  // unoptimized or sanitized builds
#else
  EXPECT_LT(seconds, 1.0);
#endif
}

}  // namespace
}  // namespace cpm

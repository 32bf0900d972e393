// The MiniCPM3-4B tokenizer against reference ids computed by Hugging Face's tokenizer.json
// semantics (tests/data/tokenizer, copied from ../shared/golden/tokenizer), and the trained
// tokenizers of the project's own checkpoints.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "test_paths.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/utf8.h"

namespace cpm {
namespace {

struct TokenizerCase {
  std::string text, decoded;
  std::vector<int32_t> with_bos, without_special;
};

std::vector<TokenizerCase> golden_cases() {
  std::ifstream in(test::test_data_dir() + "/tokenizer/minicpm3-4b-cases.json");
  const nlohmann::json root = nlohmann::json::parse(in);
  std::vector<TokenizerCase> cases;
  for (const auto& item : root["cases"]) {
    cases.push_back({item["text"], item["decoded"], item["ids_with_bos"].get<std::vector<int32_t>>(),
                     item["ids_no_special"].get<std::vector<int32_t>>()});
  }
  return cases;
}

const Tokenizer& minicpm3_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(test::shared_dir() + "/data/minicpm3-4b");
  return tokenizer;
}

std::string incremental(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special) {
  IncrementalDecoder decoder(tokenizer, skip_special);
  std::string joined;
  for (int32_t id : ids) {
    const std::string piece = decoder.feed(id);
    EXPECT_TRUE(utf8::is_valid(piece)) << "a chunk is not valid UTF-8";
    joined += piece;
  }
  return joined + decoder.finish();
}

TEST(MiniCpm3TokenizerTest, EveryGoldenCaseEncodesAndDecodes) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  const auto cases = golden_cases();
  ASSERT_GE(cases.size(), 10u);
  for (const TokenizerCase& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(tokenizer.encode(c.text, true), c.with_bos);
    EXPECT_EQ(tokenizer.encode(c.text, false), c.without_special);
    EXPECT_EQ(tokenizer.decode(c.without_special), c.decoded);
    EXPECT_EQ(incremental(tokenizer, c.without_special, false), c.decoded);
  }
}

TEST(MiniCpm3TokenizerTest, SpecialTokensAndIds) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  EXPECT_EQ(tokenizer.vocab_size(), 73448);
  EXPECT_EQ(tokenizer.token_to_id("<|im_start|>"), 73441);
  EXPECT_EQ(tokenizer.token_to_id("<|im_end|>"), 73440);
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 73440);
  EXPECT_TRUE(tokenizer.add_bos_token());
  EXPECT_TRUE(tokenizer.is_special(73441));
  EXPECT_FALSE(tokenizer.is_special(5));
  EXPECT_FALSE(tokenizer.chat_template().empty());
  const std::vector<int32_t> ids = tokenizer.encode("<|im_start|>user\nhi<|im_end|>", false);
  EXPECT_EQ(ids.front(), 73441);
  EXPECT_EQ(ids.back(), 73440);
  EXPECT_EQ(tokenizer.decode(ids, true), "user\nhi");
}

TEST(MiniCpm3TokenizerTest, IncrementalDecodingOfMultiByteText) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  for (const std::string text :
       {"日本語のテキストと한국어 🙂🙂 ünïcödé",
        "混合 mixed 文本 with emoji 🎉 and\nnewlines", "<|im_start|>assistant\n答案是 42<|im_end|>"}) {
    const std::vector<int32_t> ids = tokenizer.encode(text, true);
    EXPECT_EQ(incremental(tokenizer, ids, false), tokenizer.decode(ids, false));
    EXPECT_EQ(incremental(tokenizer, ids, true), tokenizer.decode(ids, true));
  }
}

TEST(MiniCpm3TokenizerTest, EncodesALongPromptQuickly) {
  CPM_REQUIRE_SHARED();
  const Tokenizer& tokenizer = minicpm3_tokenizer();
  std::string prompt;
  while (prompt.size() < 4000)
    prompt += "Question: Natalia sold clips to 48 of her friends in April. How many clips? ";
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = tokenizer.encode(prompt);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(tokenizer.decode(ids, true), prompt);
  // Loose bound (sanitizer builds are slow): quadratic BPE would take seconds here.
  EXPECT_LT(seconds, 1.0);
}

TEST(TokenizerErrorsTest, MissingAndMalformedFilesNameTheFile) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cpm_tokenizer_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  try {
    Tokenizer::load(dir.string());
    FAIL() << "loaded a folder without tokenizer.json";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("tokenizer.json: cannot open"), std::string::npos);
  }
  std::ofstream(dir / "tokenizer.json") << "{\"model\": ";
  try {
    Tokenizer::load(dir.string());
    FAIL() << "loaded a malformed tokenizer.json";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("malformed JSON"), std::string::npos);
  }
  fs::remove_all(dir);
}

TEST(BpeTrainerTest, TrainedTokenizerRoundTripsAnyText) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cpm_trained_" + std::to_string(::getpid()));
  write_trained_tokenizer(dir.string(), default_tokenizer_corpus(), 512);
  const Tokenizer tokenizer = Tokenizer::load(dir.string());
  EXPECT_EQ(tokenizer.vocab_size(), 512);
  EXPECT_EQ(tokenizer.token_to_id("<|im_end|>"), 510);
  EXPECT_EQ(tokenizer.token_to_id("<|im_start|>"), 511);
  const std::string problem =
      "Question: Tom has 12 apples. Tom buys 7 more apples. How many apples does Tom have now?";
  const std::vector<int32_t> ids = tokenizer.encode(problem, false);
  EXPECT_LT(ids.size(), problem.size() / 2) << "merges should compress familiar text";
  EXPECT_EQ(tokenizer.decode(ids), problem);
  std::mt19937 random(3);
  const std::vector<std::string> alphabet = {"a", "Z", " ", "\n", "7", "é", "日", "🙂", "<", "|", "\t"};
  for (int round = 0; round < 50; ++round) {
    std::string text;
    for (int i = 0; i < 30; ++i) text += alphabet[random() % alphabet.size()];
    const std::vector<int32_t> encoded = tokenizer.encode(text, true);
    EXPECT_EQ(encoded.front(), 1);
    EXPECT_EQ(tokenizer.decode(encoded, true), text);
    EXPECT_EQ(incremental(tokenizer, encoded, true), text);
  }
  // Deterministic: training again writes the same files.
  const fs::path again = dir.string() + "_again";
  write_trained_tokenizer(again.string(), default_tokenizer_corpus(), 512);
  auto read = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(read(dir / "tokenizer.json"), read(again / "tokenizer.json"));
  fs::remove_all(dir);
  fs::remove_all(again);
}

}  // namespace
}  // namespace cpm

// The BPE trainer for the project's test checkpoints: layout, determinism, round trips, speed.
#include "tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_support.h"
#include "tokenizer/utf8.h"

namespace cpm {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Random text over ASCII, Latin, CJK, emoji and other planes, with spaces and newlines.
std::string random_text(std::mt19937& random, int characters) {
  static const char32_t kRanges[][2] = {
      {0x20, 0x7E},     {0x20, 0x20},     {0xA0, 0x24F},      {0x370, 0x6FF},      {0x3040, 0x30FF},
      {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0x1F300, 0x1FAFF}, {0x10000, 0x10FFFF}, {0x0A, 0x0A}};
  std::string text;
  for (int i = 0; i < characters; ++i) {
    const auto& range = kRanges[random() % std::size(kRanges)];
    char32_t code_point = range[0] + random() % (range[1] - range[0] + 1);
    if (code_point >= 0xD800 && code_point <= 0xDFFF) code_point = 'x';
    utf8::append(code_point, &text);
  }
  return text;
}

class TrainedTokenizerTest : public testing::TestWithParam<int32_t> {};

TEST_P(TrainedTokenizerTest, HasTheLayoutAndRoundTripsAnyText) {
  const int32_t vocab_size = GetParam();
  test::TempDir dir;
  write_trained_tokenizer(dir.str(), default_tokenizer_corpus(), vocab_size);
  const Tokenizer tokenizer = Tokenizer::load(dir.str());
  EXPECT_EQ(tokenizer.vocab_size(), vocab_size);
  EXPECT_EQ(tokenizer.token_to_id("<unk>"), 0);
  EXPECT_EQ(tokenizer.token_to_id("<s>"), 1);
  EXPECT_EQ(tokenizer.token_to_id("</s>"), 2);
  EXPECT_EQ(tokenizer.token_to_id("<0x00>"), 3);
  EXPECT_EQ(tokenizer.token_to_id("<0xFF>"), 258);
  EXPECT_EQ(tokenizer.token_to_id("<|im_end|>"), vocab_size - 2);
  EXPECT_EQ(tokenizer.token_to_id("<|im_start|>"), vocab_size - 1);
  for (int32_t id = 0; id < vocab_size; ++id) ASSERT_FALSE(tokenizer.id_to_token(id).empty()) << id;
  EXPECT_TRUE(tokenizer.add_bos_token());
  EXPECT_EQ(tokenizer.eos_id(), vocab_size - 2);
  EXPECT_TRUE(tokenizer.is_special(vocab_size - 1));
  std::mt19937 random(static_cast<uint32_t>(vocab_size));
  for (int round = 0; round < 40; ++round) {
    const std::string text = random_text(random, 1 + round);
    const std::vector<int32_t> ids = tokenizer.encode(text);
    ASSERT_EQ(ids.front(), 1);
    ASSERT_EQ(tokenizer.decode(ids, true), text);
    bool valid = true;
    ASSERT_EQ(test::decode_incrementally(tokenizer, ids, true, &valid), text);
    ASSERT_TRUE(valid);
  }
  const std::string chat = "<|im_start|>user\nTom has 3 apples.<|im_end|>\n<|im_start|>assistant\n";
  const std::vector<int32_t> chat_ids = tokenizer.encode(chat, false);
  EXPECT_EQ(chat_ids.front(), vocab_size - 1);
  // Each piece between special tokens got its own "▁"; only the first one is stripped again.
  EXPECT_EQ(tokenizer.decode(chat_ids, true), "user\nTom has 3 apples. \n assistant\n");
}

INSTANTIATE_TEST_SUITE_P(VocabularySizes, TrainedTokenizerTest, testing::Values(300, 512, 2048, 8192));

TEST(BpeTrainerTest, IsDeterministic) {
  test::TempDir first, second;
  write_trained_tokenizer(first.str(), default_tokenizer_corpus(), 1024);
  write_trained_tokenizer(second.str(), default_tokenizer_corpus(), 1024);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    EXPECT_EQ(read_file(first.path() / name), read_file(second.path() / name)) << name;
}

TEST(BpeTrainerTest, WritesMiniCpm3StyleFiles) {
  test::TempDir dir;
  write_trained_tokenizer(dir.str(), default_tokenizer_corpus(), 512);
  const nlohmann::json spec = nlohmann::json::parse(read_file(dir.path() / "tokenizer.json"));
  const nlohmann::json minicpm3_like = test::minicpm3_style_tokenizer({}, {});
  for (const char* key : {"normalizer", "decoder"}) EXPECT_EQ(spec[key], minicpm3_like[key]) << key;
  EXPECT_TRUE(spec["pre_tokenizer"].is_null());
  EXPECT_EQ(spec["model"]["type"], "BPE");
  EXPECT_TRUE(spec["model"]["byte_fallback"].get<bool>());
  const nlohmann::json config = nlohmann::json::parse(read_file(dir.path() / "tokenizer_config.json"));
  EXPECT_TRUE(config["add_bos_token"].get<bool>());
  EXPECT_EQ(config["eos_token"], "<|im_end|>");
  const std::string chat_template = config["chat_template"];
  for (const char* part : {"<|im_start|>", "<|im_end|>", "add_generation_prompt", "message['role']"})
    EXPECT_NE(chat_template.find(part), std::string::npos) << part;
}

TEST(BpeTrainerTest, LearnedPiecesCompressFamiliarTextAndKeepDigitsApart) {
  test::TempDir dir;
  write_trained_tokenizer(dir.str(), default_tokenizer_corpus(), 2048);
  const Tokenizer tokenizer = Tokenizer::load(dir.str());
  const std::string problem =
      "Question: Anna has 12 books. She gets 7 more books from a friend. How many books "
      "does Anna have now?";
  const std::vector<int32_t> ids = tokenizer.encode(problem, false);
  EXPECT_LT(ids.size() * 3, problem.size()) << ids.size() << " tokens";
  EXPECT_EQ(tokenizer.decode(ids), problem);
  // Digits never merge (like MiniCPM3's split_digits): "2024" is four digit pieces after "▁".
  const std::vector<int32_t> year = tokenizer.encode("2024", false);
  ASSERT_EQ(year.size(), 5u);
  EXPECT_EQ(year[1], tokenizer.token_to_id("2"));
  EXPECT_EQ(year[4], tokenizer.token_to_id("4"));
}

TEST(BpeTrainerTest, TrainsQuickly) {
  test::TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  write_trained_tokenizer(dir.str(), default_tokenizer_corpus(), 2048);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
  EXPECT_LT(seconds, 20.0);
#else
  EXPECT_LT(seconds, 1.0);
#endif
}

TEST(BpeTrainerTest, WorksOnTinyAndOddCorpora) {
  for (const std::string& corpus :
       {std::string(), std::string("aaaa aaaa aaaa"), std::string("<s> <s> <0x41><0x41>"),
        std::string("\xFF\xFE broken \xC3 utf8")}) {
    test::TempDir dir;
    write_trained_tokenizer(dir.str(), corpus, 400);
    const Tokenizer tokenizer = Tokenizer::load(dir.str());
    EXPECT_EQ(tokenizer.vocab_size(), 400);
    // "x" after the special token is a piece of its own and gets its own "▁".
    EXPECT_EQ(tokenizer.decode(tokenizer.encode("aaaa <s>x"), true), "aaaa  x");
  }
}

TEST(BpeTrainerTest, RejectsTooSmallVocabularies) {
  test::TempDir dir;
  EXPECT_THROW(write_trained_tokenizer(dir.str(), default_tokenizer_corpus(), 299), Error);
}

}  // namespace
}  // namespace cpm

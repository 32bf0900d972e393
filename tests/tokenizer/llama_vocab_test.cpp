// The vocabulary written to GGUF files for llama.cpp's SentencePiece tokenizer, from the demo
// model's tokenizer files (a real SentencePiece model, trained by spm_train, and its tokenizer.json).
#include "tokenizer/llama_vocab.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "temp_dir.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace cpm {
namespace {

namespace fs = std::filesystem;

std::string demo_dir() {
  return test::source_dir() + "/models/demo";
}

// Copies the demo's tokenizer files into `dir` with `model_bytes` as tokenizer.model; returns `dir`.
std::string demo_copy(const test::TempDir& dir, const std::string& model_bytes) {
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(fs::path(demo_dir()) / file, dir.path() / file);
  }
  dir.write("tokenizer.model", model_bytes);
  return dir.str();
}

TEST(LlamaVocabTest, DemoVocabulary) {
  const Tokenizer tokenizer = Tokenizer::load(demo_dir());
  const int64_t padded = tokenizer.vocab_size() + 3;
  const LlamaVocab vocab = llama_vocab_from_checkpoint(demo_dir(), padded);
  EXPECT_EQ(vocab.score_source, "tokenizer.json merges");
  ASSERT_EQ(static_cast<int64_t>(vocab.tokens.size()), padded);
  ASSERT_EQ(vocab.scores.size(), vocab.tokens.size());
  ASSERT_EQ(vocab.types.size(), vocab.tokens.size());
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id)
    EXPECT_EQ(vocab.tokens[id], tokenizer.id_to_token(id));
  EXPECT_EQ(vocab.types[tokenizer.unk_id()], static_cast<int32_t>(LlamaTokenType::kUnknown));
  EXPECT_EQ(vocab.types[tokenizer.bos_id()], static_cast<int32_t>(LlamaTokenType::kControl));
  EXPECT_EQ(vocab.types[tokenizer.token_to_id("<0x0A>")], static_cast<int32_t>(LlamaTokenType::kByte));
  EXPECT_EQ(vocab.types[tokenizer.token_to_id("<|im_start|>")],
            static_cast<int32_t>(LlamaTokenType::kControl));
  EXPECT_EQ(vocab.tokens[padded - 1], "[PAD" + std::to_string(padded - 1) + "]");
  EXPECT_EQ(vocab.types[padded - 1], static_cast<int32_t>(LlamaTokenType::kUnused));
  EXPECT_EQ(vocab.bos_id, tokenizer.bos_id());
  EXPECT_EQ(vocab.eos_id, tokenizer.eos_id());
  EXPECT_EQ(vocab.unk_id, tokenizer.unk_id());
  EXPECT_EQ(vocab.add_bos, tokenizer.add_bos_token());
  EXPECT_FALSE(vocab.add_eos);
  EXPECT_EQ(vocab.chat_template, tokenizer.chat_template());
  // The best merge scores 0 and every later one less: the order llama.cpp merges in.
  const std::vector<int32_t>& merged = tokenizer.bpe_model().merged_by_rank();
  ASSERT_GT(merged.size(), 2u);
  EXPECT_EQ(vocab.scores[merged[0]], 0.0f);
  EXPECT_EQ(vocab.scores[merged[1]], -1.0f);
}

// The types agree with the SentencePiece model the demo's tokenizer.json was converted from, except
// its user-defined pieces, which tokenizer.json (and so cpmserve) treats as plain vocabulary.
TEST(LlamaVocabTest, TypesAgreeWithSentencePieceModel) {
  const std::vector<SentencePiece> pieces = read_sentencepiece_model(demo_dir() + "/tokenizer.model");
  const Tokenizer tokenizer = Tokenizer::load(demo_dir());
  const LlamaVocab vocab = llama_vocab_from_checkpoint(demo_dir(), tokenizer.vocab_size());
  ASSERT_LE(pieces.size(), vocab.tokens.size());
  for (size_t id = 0; id < pieces.size(); ++id) {
    EXPECT_EQ(vocab.tokens[id], pieces[id].piece);
    const bool user_defined = pieces[id].type == LlamaTokenType::kUserDefined;
    EXPECT_EQ(vocab.types[id], static_cast<int32_t>(user_defined ? LlamaTokenType::kNormal : pieces[id].type))
        << "id " << id << " " << pieces[id].piece;
  }
}

TEST(LlamaVocabTest, Errors) {
  // Not protobuf: a clear error naming the file.
  const test::TempDir malformed;
  const std::string bad = demo_copy(malformed, std::string("\x0a\xff\xff\xff\xff\x0f", 6));
  try {
    read_sentencepiece_model(bad + "/tokenizer.model");
    FAIL() << "a malformed tokenizer.model was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("tokenizer.model: not a SentencePiece model"), std::string::npos)
        << error.what();
  }
  const test::TempDir single_piece;
  const std::vector<SentencePiece> one =
      read_sentencepiece_model(demo_copy(single_piece, std::string("\x0a\x05\x0a\x03xyz", 7)) +
                               "/tokenizer.model");  // pieces { piece: "xyz" }
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].piece, "xyz");
  EXPECT_EQ(one[0].type, LlamaTokenType::kNormal);
  // More tokens than embedding rows cannot be exported; no tokenizer at all neither.
  EXPECT_THROW(llama_vocab_from_checkpoint(demo_dir(), 10), Error);
  EXPECT_THROW(llama_vocab_from_checkpoint(test::test_data_dir() + "/golden/tiny-a", 512), Error);
}

}  // namespace
}  // namespace cpm

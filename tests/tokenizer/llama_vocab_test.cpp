// The vocabulary written to GGUF files for llama.cpp's SentencePiece tokenizer, from the demo
// model's tokenizer files (a real SentencePiece model, trained by spm_train, and its tokenizer.json).
#include "tokenizer/llama_vocab.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace cpm {
namespace {

namespace fs = std::filesystem;

std::string demo_dir() {
  return test::source_dir() + "/models/demo";
}

// A folder with the demo's tokenizer files, optionally replacing tokenizer.model.
std::string demo_copy(const std::string& name, bool with_model, const std::string& model_bytes = "") {
  const fs::path dir = fs::temp_directory_path() / ("cpm_llama_vocab_" + std::to_string(::getpid())) / name;
  fs::create_directories(dir);
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(fs::path(demo_dir()) / file, dir / file, fs::copy_options::overwrite_existing);
  }
  if (with_model) std::ofstream(dir / "tokenizer.model", std::ios::binary) << model_bytes;
  return dir.string();
}

TEST(LlamaVocabTest, DemoFromSentencePieceModel) {
  const Tokenizer tokenizer = Tokenizer::load(demo_dir());
  const int64_t padded = tokenizer.vocab_size() + 3;
  const LlamaVocab vocab = llama_vocab_from_checkpoint(demo_dir(), padded);
  EXPECT_EQ(vocab.score_source, "tokenizer.model");
  ASSERT_EQ(static_cast<int64_t>(vocab.tokens.size()), padded);
  ASSERT_EQ(vocab.scores.size(), vocab.tokens.size());
  ASSERT_EQ(vocab.types.size(), vocab.tokens.size());
  const std::vector<SentencePiece> pieces = read_sentencepiece_model(demo_dir() + "/tokenizer.model");
  for (size_t id = 0; id < pieces.size(); ++id) {
    EXPECT_EQ(vocab.tokens[id], pieces[id].piece);
    EXPECT_EQ(vocab.scores[id], pieces[id].score);
    EXPECT_EQ(vocab.types[id], static_cast<int32_t>(pieces[id].type));
  }
  EXPECT_EQ(vocab.types[tokenizer.unk_id()], static_cast<int32_t>(LlamaTokenType::kUnknown));
  EXPECT_EQ(vocab.types[tokenizer.bos_id()], static_cast<int32_t>(LlamaTokenType::kControl));
  EXPECT_EQ(vocab.types[tokenizer.token_to_id("<0x0A>")], static_cast<int32_t>(LlamaTokenType::kByte));
  const int32_t im_start = tokenizer.token_to_id("<|im_start|>");
  ASSERT_GE(im_start, static_cast<int32_t>(pieces.size()));  // an added token beyond the SentencePiece model
  EXPECT_EQ(vocab.types[im_start], static_cast<int32_t>(LlamaTokenType::kControl));
  EXPECT_EQ(vocab.tokens[padded - 1], "[PAD" + std::to_string(padded - 1) + "]");
  EXPECT_EQ(vocab.types[padded - 1], static_cast<int32_t>(LlamaTokenType::kUnused));
  EXPECT_EQ(vocab.bos_id, tokenizer.bos_id());
  EXPECT_EQ(vocab.eos_id, tokenizer.eos_id());
  EXPECT_EQ(vocab.unk_id, tokenizer.unk_id());
  EXPECT_EQ(vocab.add_bos, tokenizer.add_bos_token());
  EXPECT_FALSE(vocab.add_eos);
  EXPECT_EQ(vocab.chat_template, tokenizer.chat_template());
}

// Without tokenizer.model the types and merge priorities come from tokenizer.json, and agree with
// the SentencePiece model it was converted from.
TEST(LlamaVocabTest, DemoFromTokenizerJsonAlone) {
  const std::string dir = demo_copy("json_only", false);
  const Tokenizer tokenizer = Tokenizer::load(dir);
  const LlamaVocab from_json = llama_vocab_from_checkpoint(dir, tokenizer.vocab_size());
  const LlamaVocab from_model = llama_vocab_from_checkpoint(demo_dir(), tokenizer.vocab_size());
  EXPECT_EQ(from_json.score_source, "tokenizer.json merges");
  EXPECT_EQ(from_json.tokens, from_model.tokens);
  // SentencePiece's user-defined pieces are plain vocabulary in tokenizer.json: they come out normal.
  ASSERT_EQ(from_json.types.size(), from_model.types.size());
  for (size_t id = 0; id < from_json.types.size(); ++id) {
    const bool user_defined = from_model.types[id] == static_cast<int32_t>(LlamaTokenType::kUserDefined);
    EXPECT_EQ(from_json.types[id],
              user_defined ? static_cast<int32_t>(LlamaTokenType::kNormal) : from_model.types[id])
        << "id " << id << " " << from_json.tokens[id];
  }
  // The best merge scores 0 and every later one less: the order llama.cpp merges in.
  const std::vector<int32_t>& merged = tokenizer.bpe_model().merged_by_rank();
  ASSERT_GT(merged.size(), 2u);
  EXPECT_EQ(from_json.scores[merged[0]], 0.0f);
  EXPECT_EQ(from_json.scores[merged[1]], -1.0f);
}

TEST(LlamaVocabTest, MismatchedOrMalformedModelFiles) {
  // Not protobuf at all: a clear error naming the file.
  const std::string bad = demo_copy("malformed", true, std::string("\x0a\xff\xff\xff\xff\x0f", 6));
  try {
    llama_vocab_from_checkpoint(bad, 5000);
    FAIL() << "a malformed tokenizer.model was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("tokenizer.model"), std::string::npos) << error.what();
  }
  // A valid model whose pieces differ from tokenizer.json is ignored, and the log says why.
  const std::string one_piece = std::string("\x0a\x05\x0a\x03xyz", 7);  // pieces { piece: "xyz" }
  const std::string other = demo_copy("other", true, one_piece);
  const LlamaVocab vocab = llama_vocab_from_checkpoint(other, 5000);
  EXPECT_NE(vocab.score_source.find("tokenizer.model ignored: piece 0 is \"xyz\""), std::string::npos)
      << vocab.score_source;
  // More tokens than embedding rows cannot be exported.
  EXPECT_THROW(llama_vocab_from_checkpoint(demo_dir(), 10), Error);
}

}  // namespace
}  // namespace cpm

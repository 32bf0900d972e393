// A checkpoint's vocabulary as llama.cpp's SentencePiece ("llama") tokenizer wants it in a GGUF
// file: every token's text, score and type, plus BOS / EOS / UNK, add_bos and the chat template.
//
// llama.cpp's llama tokenizer merges, at each step, the adjacent pair whose concatenation is the
// vocabulary token with the highest score, as SentencePiece's BPE does. The vocabulary is derived
// from tokenizer.json, the file cpmserve (and sglang, vLLM) tokenize with: a token made by merge
// rank r scores -r, so llama.cpp merges in Hugging Face's order; <0xXX> byte-fallback pieces are
// bytes, the unknown token is UNK, special added tokens are control tokens and other added tokens
// user-defined.
//
// Not from tokenizer.model, as llama.cpp's own converter does: MiniCPM3's SentencePiece model marks
// about a thousand pieces user-defined (ASCII punctuation, "\n", tags), and llama.cpp cuts those out
// of the text and then prefixes the following text with a space, as after a control token. With
// MiniCPM3-4B's tokenizer that changed 7 of 10 sample sentences ("world! How" got "▁▁How"); from
// tokenizer.json, llama.cpp's tokenization equals cpmserve's on all of them.
// read_sentencepiece_model stays for cross-checks (tests compare the two).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cpm {

// llama.cpp's llama_token_type (and SentencePiece's ModelProto.SentencePiece.Type).
enum class LlamaTokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct SentencePiece {
  std::string piece;
  float score = 0;
  LlamaTokenType type = LlamaTokenType::kNormal;
};

// The pieces of a SentencePiece model file (a ModelProto); throws cpm::Error naming the file when
// it is not one.
std::vector<SentencePiece> read_sentencepiece_model(const std::string& path);

struct LlamaVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;                     // LlamaTokenType values
  int32_t bos_id = -1, eos_id = -1, unk_id = -1;  // -1 when the tokenizer has none
  bool add_bos = false, add_eos = false;
  std::string chat_template;  // "" when none
  std::string score_source;   // where scores and types came from, for the log
};

// Reads DIR's tokenizer files as cpm::Tokenizer does and pads the vocabulary to `vocab_size` (the
// model's embedding rows) with unused "[PAD<id>]" tokens, as llama.cpp's converter does. Throws
// cpm::Error when the tokenizer is missing or larger than the model's vocabulary.
LlamaVocab llama_vocab_from_checkpoint(const std::string& model_dir, int64_t vocab_size);

}  // namespace cpm

// A checkpoint's vocabulary as llama.cpp's SentencePiece ("llama") tokenizer wants it in a GGUF
// file: every token's text, score and type, plus BOS / EOS / UNK, add_bos and the chat template.
//
// llama.cpp's llama tokenizer merges, at each step, the adjacent pair whose concatenation is the
// vocabulary token with the highest score, as SentencePiece's BPE does. The scores therefore come
// from the original SentencePiece model (DIR/tokenizer.model) when there is one, read with the
// small protobuf reader below; its piece types (normal, unknown, control, user-defined, unused,
// byte) are llama.cpp's token types, number for number. Without tokenizer.model they are derived
// from tokenizer.json: a token made by merge rank r scores -r (so the Hugging Face merge order and
// llama.cpp's score order agree), <0xXX> byte-fallback pieces are bytes, special added tokens are
// control tokens and other added tokens user-defined.
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
  std::string score_source;   // "tokenizer.model" or "tokenizer.json merges", for the log
};

// Reads DIR's tokenizer files as cpm::Tokenizer does and pads the vocabulary to `vocab_size` (the
// model's embedding rows) with unused "[PAD<id>]" tokens, as llama.cpp's converter does. Throws
// cpm::Error when the tokenizer is missing or larger than the model's vocabulary.
LlamaVocab llama_vocab_from_checkpoint(const std::string& model_dir, int64_t vocab_size);

}  // namespace cpm

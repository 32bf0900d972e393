#include "tokenizer/llama_vocab.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unordered_set>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace cpm {

namespace {

// Added tokens and padding are not BPE pieces: a low score keeps them out of llama.cpp's merges
// (it matches them as whole tokens instead), as llama.cpp's converter scores them.
constexpr float kNonPieceScore = -1000.0f;

// Just enough protobuf wire format to walk a ModelProto: varints, fixed 32/64-bit fields and
// length-delimited fields (strings and sub-messages).
class ProtoReader {
 public:
  ProtoReader(const uint8_t* begin, const uint8_t* end, const std::string& file)
      : p_(begin), end_(end), file_(file) {}

  bool done() const { return p_ >= end_; }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) break;
      const uint8_t byte = *p_++;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    fail(file_, ": not a SentencePiece model (bad varint)");
  }

  // A field's key: its number and wire type.
  std::pair<uint64_t, int> key() {
    const uint64_t k = varint();
    return {k >> 3, static_cast<int>(k & 7)};
  }

  ProtoReader bytes() {
    const uint64_t size = varint();
    if (size > static_cast<uint64_t>(end_ - p_)) fail(file_, ": not a SentencePiece model (truncated field)");
    ProtoReader inner(p_, p_ + size, file_);
    p_ += size;
    return inner;
  }

  float fixed32_float() {
    if (end_ - p_ < 4) fail(file_, ": not a SentencePiece model (truncated float)");
    float value;
    std::memcpy(&value, p_, 4);  // little-endian, like the host
    p_ += 4;
    return value;
  }

  std::string text() const { return std::string(reinterpret_cast<const char*>(p_), end_ - p_); }

  void skip(int wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        return;
      case 1:
        advance(8);
        return;
      case 2:
        bytes();
        return;
      case 5:
        advance(4);
        return;
      default:
        fail(file_, ": not a SentencePiece model (wire type ", wire_type, ")");
    }
  }

 private:
  void advance(int64_t count) {
    if (end_ - p_ < count) fail(file_, ": not a SentencePiece model (truncated field)");
    p_ += count;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const std::string& file_;
};

SentencePiece read_piece(ProtoReader reader, const std::string& file) {
  SentencePiece piece;
  while (!reader.done()) {
    const auto [field, wire] = reader.key();
    if (field == 1 && wire == 2) {
      piece.piece = reader.bytes().text();
    } else if (field == 2 && wire == 5) {
      piece.score = reader.fixed32_float();
    } else if (field == 3 && wire == 0) {
      const uint64_t type = reader.varint();
      if (type < 1 || type > 6) fail(file, ": piece \"", piece.piece, "\" has unknown type ", type);
      piece.type = static_cast<LlamaTokenType>(type);
    } else {
      reader.skip(wire);
    }
  }
  return piece;
}

bool is_byte_piece(const std::string& text) {
  return text.size() == 6 && text.starts_with("<0x") && text.back() == '>' &&
         std::isxdigit(static_cast<unsigned char>(text[3])) &&
         std::isxdigit(static_cast<unsigned char>(text[4]));
}

}  // namespace

std::vector<SentencePiece> read_sentencepiece_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open");
  const std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ProtoReader reader(data.data(), data.data() + data.size(), path);
  std::vector<SentencePiece> pieces;
  while (!reader.done()) {
    const auto [field, wire] = reader.key();
    if (field == 1 && wire == 2) {
      pieces.push_back(read_piece(reader.bytes(), path));  // ModelProto.pieces
    } else {
      reader.skip(wire);  // trainer and normalizer specs: not needed
    }
  }
  if (pieces.empty()) fail(path, ": not a SentencePiece model (no pieces)");
  return pieces;
}

LlamaVocab llama_vocab_from_checkpoint(const std::string& model_dir, int64_t vocab_size) {
  if (!Tokenizer::exists(model_dir)) {
    fail(model_dir,
         ": no tokenizer.json (a GGUF file needs the vocabulary; copy the tokenizer files into the folder)");
  }
  const Tokenizer tokenizer = Tokenizer::load(model_dir);
  const int32_t count = tokenizer.vocab_size();
  if (count > vocab_size) {
    fail(model_dir, ": the tokenizer has ", count, " tokens but the model only ", vocab_size,
         " embedding rows");
  }

  LlamaVocab vocab;
  vocab.score_source = "tokenizer.json merges";
  std::vector<float> merge_scores(count, 0.0f);
  std::vector<bool> scored(count, false);
  const std::vector<int32_t>& merged = tokenizer.bpe_model().merged_by_rank();
  for (size_t rank = 0; rank < merged.size(); ++rank) {
    const int32_t id = merged[rank];
    if (id >= 0 && id < count && !scored[id]) {
      scored[id] = true;
      merge_scores[id] = -static_cast<float>(rank);
    }
  }
  std::unordered_set<int32_t> added;
  for (const AddedToken& token : tokenizer.added_tokens()) added.insert(token.id);

  vocab.tokens.resize(vocab_size);
  vocab.scores.assign(vocab_size, kNonPieceScore);
  vocab.types.assign(vocab_size, static_cast<int32_t>(LlamaTokenType::kUnused));
  for (int64_t id = 0; id < vocab_size; ++id) {
    const int32_t i = static_cast<int32_t>(id);
    const std::string& text = id < count ? tokenizer.id_to_token(i) : std::string();
    LlamaTokenType type = LlamaTokenType::kNormal;
    if (text.empty()) {
      vocab.tokens[id] = "[PAD" + std::to_string(id) + "]";  // unique, never produced
      continue;
    }
    vocab.tokens[id] = text;
    if (i == tokenizer.unk_id()) {
      type = LlamaTokenType::kUnknown;  // also listed among the added tokens, but llama.cpp needs it as UNK
    } else if (added.count(i)) {
      type = tokenizer.is_special(i) ? LlamaTokenType::kControl : LlamaTokenType::kUserDefined;
    } else {
      vocab.scores[id] = merge_scores[id];
      if (is_byte_piece(text)) type = LlamaTokenType::kByte;
    }
    vocab.types[id] = static_cast<int32_t>(type);
  }
  vocab.bos_id = tokenizer.bos_id();
  vocab.eos_id = tokenizer.eos_id();
  vocab.unk_id = tokenizer.unk_id();
  vocab.add_bos = tokenizer.add_bos_token();
  const std::vector<int32_t>& suffix = tokenizer.special_suffix();
  vocab.add_eos = vocab.eos_id >= 0 && std::find(suffix.begin(), suffix.end(), vocab.eos_id) != suffix.end();
  vocab.chat_template = tokenizer.chat_template();
  return vocab;
}

}  // namespace cpm

// The tokenization Hugging Face fast tokenizers give from a model's tokenizer.json (what sglang and
// vLLM load), plus tokenizer_config.json: added and special tokens split out first, the normalizer
// applied to each remaining segment, BPE with byte fallback, the optional BOS, and the decoder chain.
// Supports the pipeline pieces MiniCPM3 and other SentencePiece-derived (Llama-style) models use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe.h"

namespace cpm {

class Tokenizer {
 public:
  // Loads DIR/tokenizer.json and DIR/tokenizer_config.json (when present). Throws cpm::Error naming
  // the file for a missing or malformed file or an unsupported pipeline step.
  static Tokenizer load(const std::string& model_dir);
  static bool exists(const std::string& model_dir);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
  int32_t token_to_id(std::string_view token) const;  // -1 if unknown
  const std::string& id_to_token(int32_t id) const;
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  bool is_special(int32_t id) const;
  bool add_bos_token() const { return add_bos_; }
  const std::string& chat_template() const { return chat_template_; }

 private:
  struct AddedToken {
    std::string content;
    int32_t id;
    bool special, lstrip, rstrip;
  };
  struct NormalizerStep {
    std::string pattern;  // prepended text, or the text to replace
    std::string content;  // replacement
    bool prepend;         // Prepend (to each non-empty segment) rather than Replace
  };
  struct Normalizer {
    std::vector<NormalizerStep> steps;  // applied in order
  };
  struct Decoder {
    std::vector<std::pair<std::string, std::string>> replacements;
    bool byte_fallback = false;
    int strip_start = 0;  // leading copies of strip_content removed from the fused text
    std::string strip_content;
  };

  void load_tokenizer_json(const std::string& path);
  void load_config(const std::string& path);
  void encode_segment(std::string_view segment, std::vector<int32_t>* out) const;
  std::string normalize(std::string_view segment) const;

  BpeModel bpe_;
  std::vector<std::string> pieces_;  // id -> token text
  std::vector<bool> special_;
  std::vector<AddedToken> added_;  // longest first, for splitting
  Normalizer normalizer_;
  Decoder decoder_;
  int32_t bos_id_ = -1, eos_id_ = -1;
  bool add_bos_ = false;
  std::string chat_template_;
};

// Streaming detokenization. Each feed() returns only newly completed text (never a partial UTF-8
// sequence); everything returned by feed() and finish() joins to decode(all ids). Cost per token is
// constant: only the ids since the last emitted text are decoded again.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false)
      : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}
  std::string feed(int32_t id);
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;  // start of the window decoded for context
  size_t read_offset_ = 0;    // ids before this have been emitted
};

}  // namespace cpm

// The tokenization Hugging Face fast tokenizers give from a model's tokenizer.json (what sglang and
// vLLM load) together with tokenizer_config.json. Encoding: added tokens are cut out of the raw text,
// each remaining piece is normalized (then normalized added tokens are cut out), the BPE model encodes
// what is left, and the post-processor template adds BOS / EOS. Decoding runs the decoder chain.
// Supports what SentencePiece-derived (Llama-style) tokenizers such as MiniCPM3's use; other
// pipeline kinds are rejected at load time with an error naming tokenizer.json.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"

namespace cpm {

class Tokenizer {
 public:
  // Loads DIR/tokenizer.json plus, when present, DIR/tokenizer_config.json (add_bos_token /
  // add_eos_token, bos / eos tokens, added_tokens_decoder, chat_template) and, for configs without
  // added_tokens_decoder, special_tokens_map.json and added_tokens.json, as transformers does.
  // Throws cpm::Error naming the file for a missing or malformed file or an unsupported pipeline.
  static Tokenizer load(const std::string& model_dir);
  static bool exists(const std::string& model_dir);  // DIR/tokenizer.json is present

  // add_special_tokens adds what the post-processor adds (BOS for MiniCPM3, per add_bos_token).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }  // with added tokens
  int32_t token_to_id(std::string_view token) const;                           // -1 if unknown
  const std::string& id_to_token(int32_t id) const;                            // "" if out of range
  int32_t bos_id() const { return bos_id_; }                                   // -1 when not defined
  int32_t eos_id() const { return eos_id_; }  // tokenizer_config's eos_token; -1 when not defined
  int32_t unk_id() const { return unk_id_; }
  bool is_special(int32_t id) const;
  bool add_bos_token() const;  // encode(..., true) starts with bos_id()
  const std::vector<int32_t>& special_prefix() const { return prefix_ids_; }  // what encode adds before
  const std::vector<int32_t>& special_suffix() const { return suffix_ids_; }  // ... and after the text
  const std::string& chat_template() const { return chat_template_; }         // "" when none
  const std::vector<AddedToken>& added_tokens() const { return added_.tokens(); }
  const BpeModel& bpe_model() const { return model_; }
  const DecoderChain& decoder() const { return decoder_; }

 private:
  friend class IncrementalDecoder;

  void load_tokenizer_json(const nlohmann::json& root, const std::string& file);
  void load_post_processor(const nlohmann::json& spec, const std::string& file);
  void load_config(const std::string& model_dir);
  void add_config_tokens(const nlohmann::json& config, const std::string& model_dir, const std::string& file);
  void finish_loading();
  void encode_piece(std::string_view text, std::vector<int32_t>* ids) const;

  BpeModel model_;
  Normalizer normalizer_;
  AddedVocabulary added_;
  DecoderChain decoder_;
  std::vector<std::string> pieces_;  // the string each id decodes from
  std::vector<bool> special_;
  std::vector<int32_t> prefix_ids_, suffix_ids_;
  int32_t bos_id_ = -1, eos_id_ = -1, unk_id_ = -1;
  std::string chat_template_;
};

// Streaming detokenization: feed ids one at a time; each call returns the newly final text, never a
// broken UTF-8 sequence, and everything returned by feed() and finish() joins to exactly
// decode(all ids). O(1) per token. Text from byte-fallback tokens (<0xAB>) is held until a token of
// another kind (or finish) closes the run, since a later byte can turn the whole run into U+FFFDs.
// The tokenizer must outlive the decoder.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string feed(int32_t id);
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  DecoderChain::Stream stream_;
};

}  // namespace cpm

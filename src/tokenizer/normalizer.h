// The tokenizer.json "normalizer": applied to each piece of input text between added tokens, before
// the model. Supports the kinds SentencePiece-derived (Llama-style) tokenizers use: Sequence, Prepend,
// Replace with a string pattern, NFC, NFD and Strip. Any other kind is rejected at load time.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace cpm {

class Normalizer {
 public:
  Normalizer() = default;  // the identity
  // Parses a tokenizer.json "normalizer" value (null for none); errors name `file`.
  static Normalizer from_json(const nlohmann::json& spec, const std::string& file);

  std::string normalize(std::string_view text) const;
  bool is_identity() const { return steps_.empty(); }

 private:
  enum class Kind { kPrepend, kReplace, kNfc, kNfd, kStrip };
  struct Step {
    Kind kind;
    std::string pattern;  // Prepend: the prefix; Replace: the text to find
    std::string content;  // Replace: its replacement
    bool strip_left = false, strip_right = false;
  };

  void add_steps(const nlohmann::json& spec, const std::string& file);

  std::vector<Step> steps_;  // applied in order
};

}  // namespace cpm

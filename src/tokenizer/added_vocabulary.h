// Added tokens (tokenizer.json "added_tokens", tokenizer_config.json "added_tokens_decoder"): strings
// that are cut out of the input before the model sees it and map to one id each. Matching follows
// Hugging Face: leftmost-longest, non-overlapping; `normalized` tokens are matched in the normalized
// text and the others in the raw input; lstrip / rstrip swallow the whitespace beside a match and
// single_word tokens only match between non-word characters.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/string_map.h"
namespace cpm {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false, rstrip = false, single_word = false;
  bool normalized = true;
};

// A piece of input text: an added token (id >= 0) or text for the model (id == -1).
struct TextPiece {
  std::string_view text;
  int32_t id;
};

class AddedVocabulary {
 public:
  // Adds `token`; a token with the same content or id is replaced.
  void add(const AddedToken& token);
  // Prepares matching; normalized tokens are matched in their normalized form.
  void build(const Normalizer& normalizer);

  const AddedToken* find(std::string_view content) const;  // nullptr when not an added token
  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // Splits `text` around the raw (normalized == false) or normalized added tokens it contains and
  // appends the pieces, in order, to `out`.
  void split(std::string_view text, bool normalized, std::vector<TextPiece>* out) const;

 private:
  // A byte trie over token patterns that finds the longest one starting at a position.
  class Matcher {
   public:
    void clear();
    void insert(std::string_view pattern, int32_t token_index);
    bool empty() const { return nodes_.size() <= 1; }
    bool may_start_with(unsigned char byte) const { return first_bytes_[byte]; }
    // The index of the longest pattern at text[at], and its length; {-1, 0} when none.
    std::pair<int32_t, size_t> longest_match(std::string_view text, size_t at) const;

   private:
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
      int32_t token_index = -1;
    };
    std::vector<Node> nodes_{Node{}};
    std::array<bool, 256> first_bytes_{};
  };

  std::vector<AddedToken> tokens_;
  StringMap<size_t> index_by_content_;
  std::unordered_map<int32_t, size_t> index_by_id_;
  Matcher raw_matcher_, normalized_matcher_;
};

}  // namespace cpm

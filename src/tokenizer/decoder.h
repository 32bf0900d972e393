// The tokenizer.json "decoder": turns token strings back into text. Supports the chain Llama-style
// tokenizers use: Replace (string pattern) and Strip steps on each token, ByteFallback (runs of
// <0xXX> tokens become their bytes: the UTF-8 text when valid, else one U+FFFD per byte), Fuse, and a
// final Strip over the fused text. A null decoder joins tokens with spaces, as Hugging Face does.
//
// Decoding is a stream: push() takes one token string and returns the text that is final, so
// incremental detokenization is exactly the full decode, in O(token length) per token. Text is held
// back only while it may still change: an open run of byte tokens (a later byte can make the whole run
// invalid) and, with a final Strip that trims the end, trailing strip characters.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace cpm {

class DecoderChain {
 public:
  DecoderChain() = default;  // a null decoder
  // Parses a tokenizer.json "decoder" value (null for none); errors name `file`.
  static DecoderChain from_json(const nlohmann::json& spec, const std::string& file);

  // The bytes one token adds in the middle of a text: the per-token steps applied, a byte-fallback
  // token as its one byte. With the leading strip below, this is what the Stream produces (runs of
  // byte tokens that are not valid UTF-8 aside: the Stream replaces those by U+FFFD).
  std::string token_bytes(std::string_view token) const;
  // The start of a text loses up to leading_strip_count() copies of leading_strip_content().
  const std::string& leading_strip_content() const;
  int leading_strip_count() const { return join_with_spaces_ ? 1 : final_strip_start_; }

  class Stream {
   public:
    explicit Stream(const DecoderChain& chain);
    // Feeds one token's string; returns the newly final text (always valid UTF-8 when tokens are).
    std::string push(std::string_view token);
    // Ends the stream and returns the rest of the text.
    std::string finish();

   private:
    std::string flush_bytes();
    std::string finalize(std::string text);

    const DecoderChain* chain_;
    std::string pending_bytes_;  // the open run of byte tokens
    int leading_strips_left_;    // start characters the final Strip may still remove
    std::string held_trailing_;  // end characters the final Strip may remove
    bool first_token_ = true;
  };

 private:
  // A per-token step: Replace (pattern -> content) or Strip (up to start / stop copies of content).
  struct TokenStep {
    bool is_strip;
    std::string pattern, content;
    int start = 0, stop = 0;
  };
  static std::string apply(const std::vector<TokenStep>& steps, std::string token);
  void parse_step(const nlohmann::json& step, const std::string& file, bool* fused);

  bool join_with_spaces_ = true;         // a null decoder
  std::vector<TokenStep> before_bytes_;  // on each token, before ByteFallback looks at it
  bool byte_fallback_ = false;
  std::vector<TokenStep> after_bytes_;  // on each token ByteFallback produced, before Fuse
  std::string final_strip_content_;     // a Strip after Fuse
  int final_strip_start_ = 0, final_strip_stop_ = 0;
};

}  // namespace cpm

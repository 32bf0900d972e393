#include "tokenizer/decoder.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace cpm {

namespace {

// Hugging Face's byte token test: six bytes "<0x..>" whose middle Rust's u8::from_str_radix(.., 16)
// accepts (that also takes a '+' sign, as in "<0x+A>").
bool parse_byte_token(std::string_view token, char* byte) {
  if (token.size() != 6 || !token.starts_with("<0x") || token[5] != '>') return false;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const int high = token[3] == '+' ? 0 : digit(token[3]), low = digit(token[4]);
  if (high < 0 || low < 0) return false;
  *byte = static_cast<char>(high * 16 + low);
  return true;
}

std::string strip_character(const nlohmann::json& step, const std::string& file) {
  const std::string content = step.at("content").get<std::string>();
  if (content.empty() || utf8::valid_sequence_length(content, 0) != content.size())
    fail(file, ": decoder Strip: content must be one character");
  return content;
}

}  // namespace

DecoderChain DecoderChain::from_json(const nlohmann::json& spec, const std::string& file) {
  DecoderChain chain;
  if (spec.is_null()) return chain;
  chain.join_with_spaces_ = false;
  bool fused = false;
  if (spec.at("type").get<std::string>() == "Sequence") {
    for (const nlohmann::json& step : spec.at("decoders")) chain.parse_step(step, file, &fused);
  } else {
    chain.parse_step(spec, file, &fused);
  }
  return chain;
}

void DecoderChain::parse_step(const nlohmann::json& step, const std::string& file, bool* fused) {
  const std::string type = step.at("type").get<std::string>();
  if (*fused && type != "Strip") fail(file, ": decoder \"", type, "\" after Fuse is not supported");
  std::vector<TokenStep>& token_steps = byte_fallback_ ? after_bytes_ : before_bytes_;
  if (type == "Replace") {
    const nlohmann::json& pattern = step.at("pattern");
    if (!pattern.contains("String")) fail(file, ": decoder Replace: only string patterns are supported");
    std::string text = pattern["String"].get<std::string>();
    if (text.empty()) fail(file, ": decoder Replace: empty pattern");
    token_steps.push_back({false, std::move(text), step.at("content").get<std::string>()});
  } else if (type == "Strip") {
    const int start = step.value("start", 0), stop = step.value("stop", 0);
    if (!*fused) {
      token_steps.push_back({true, "", strip_character(step, file), start, stop});
    } else if (final_strip_content_.empty()) {
      final_strip_content_ = strip_character(step, file);
      final_strip_start_ = start;
      final_strip_stop_ = stop;
    } else {
      fail(file, ": more than one decoder Strip after Fuse is not supported");
    }
  } else if (type == "ByteFallback") {
    byte_fallback_ = true;
  } else if (type == "Fuse") {
    *fused = true;
  } else {
    fail(file, ": unsupported decoder \"", type, "\"");
  }
}

std::string DecoderChain::apply(const std::vector<TokenStep>& steps, std::string token) {
  for (const TokenStep& step : steps) {
    if (step.is_strip) {
      const size_t width = step.content.size();
      for (int k = 0; k < step.start && token.starts_with(step.content); ++k) token.erase(0, width);
      for (int k = 0; k < step.stop && token.ends_with(step.content); ++k) token.resize(token.size() - width);
      continue;
    }
    std::string replaced;
    size_t at = 0;
    for (size_t found; (found = token.find(step.pattern, at)) != std::string::npos;
         at = found + step.pattern.size()) {
      replaced.append(token, at, found - at);
      replaced += step.content;
    }
    if (at == 0) continue;  // no match
    replaced.append(token, at);
    token.swap(replaced);
  }
  return token;
}

std::string DecoderChain::token_bytes(std::string_view token_view) const {
  if (join_with_spaces_) return std::string(" ").append(token_view);
  std::string token = apply(before_bytes_, std::string(token_view));
  char byte;
  if (byte_fallback_ && parse_byte_token(token, &byte)) return apply(after_bytes_, std::string(1, byte));
  return apply(after_bytes_, std::move(token));
}

const std::string& DecoderChain::leading_strip_content() const {
  static const std::string kSpace = " ";  // a null decoder joins with spaces: as if each token began with one
  return join_with_spaces_ ? kSpace : final_strip_content_;
}

DecoderChain::Stream::Stream(const DecoderChain& chain)
    : chain_(&chain), leading_strips_left_(chain.final_strip_start_) {}

std::string DecoderChain::Stream::push(std::string_view token_view) {
  const DecoderChain& chain = *chain_;
  if (chain.join_with_spaces_) {
    std::string text(first_token_ ? "" : " ");
    text += token_view;
    first_token_ = false;
    return text;
  }
  std::string token = apply(chain.before_bytes_, std::string(token_view));
  char byte;
  if (chain.byte_fallback_ && parse_byte_token(token, &byte)) {
    pending_bytes_.push_back(byte);
    return "";
  }
  std::string text = flush_bytes();
  text += apply(chain.after_bytes_, std::move(token));
  return finalize(std::move(text));
}

std::string DecoderChain::Stream::finish() {
  std::string text = finalize(flush_bytes());
  held_trailing_.clear();  // what the final Strip removes from the end
  return text;
}

// The text of the closed byte run: one piece when valid UTF-8, else one U+FFFD piece per byte.
std::string DecoderChain::Stream::flush_bytes() {
  if (pending_bytes_.empty()) return "";
  std::string text;
  if (utf8::is_valid(pending_bytes_)) {
    text = apply(chain_->after_bytes_, pending_bytes_);
  } else {
    const std::string replacement = apply(chain_->after_bytes_, std::string(utf8::kReplacementCharacter));
    for (size_t k = 0; k < pending_bytes_.size(); ++k) text += replacement;
  }
  pending_bytes_.clear();
  return text;
}

// The final Strip over the fused text: drops leading strip characters until other text has been seen
// and holds back trailing ones until later text shows they are not at the end.
std::string DecoderChain::Stream::finalize(std::string text) {
  const std::string& content = chain_->final_strip_content_;
  if (content.empty()) return text;
  while (leading_strips_left_ > 0 && text.starts_with(content)) {
    text.erase(0, content.size());
    --leading_strips_left_;
  }
  if (!text.empty()) leading_strips_left_ = 0;
  if (chain_->final_strip_stop_ == 0) return text;
  text.insert(0, held_trailing_);
  held_trailing_.clear();
  for (int k = 0; k < chain_->final_strip_stop_ && text.ends_with(content); ++k) {
    text.resize(text.size() - content.size());
    held_trailing_ += content;
  }
  return text;
}

}  // namespace cpm

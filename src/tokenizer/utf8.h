// Small UTF-8 helpers for the tokenizer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cpm::utf8 {

// Length of the UTF-8 sequence starting with `lead` (1 for stray continuation or invalid bytes).
inline size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xe) return 3;
  if ((lead >> 3) == 0x1e) return 4;
  return 1;
}

// Splits text into characters (complete sequences; a truncated sequence becomes one piece).
inline std::vector<std::string_view> characters(std::string_view text) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < text.size();) {
    const size_t length = std::min(sequence_length(static_cast<unsigned char>(text[i])), text.size() - i);
    out.push_back(text.substr(i, length));
    i += length;
  }
  return out;
}

// True when `bytes` is valid UTF-8 (structure and continuation bytes; no overlong check needed here).
inline bool is_valid(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const unsigned char lead = static_cast<unsigned char>(bytes[i]);
    const size_t length = sequence_length(lead);
    if (length == 1 && lead >= 0x80) return false;
    if (i + length > bytes.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(bytes[i + k]) & 0xc0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

inline const std::string& replacement_character() {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  return kReplacement;
}

}  // namespace cpm::utf8

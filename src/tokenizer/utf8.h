// UTF-8 helpers for the tokenizer. Validation is strict (no overlong forms, surrogates or code points
// past U+10FFFF), as Rust's String::from_utf8 is in the Hugging Face decoders.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cpm::utf8 {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Length of the sequence a lead byte announces (1 for ASCII and for bytes that cannot start one).
inline size_t sequence_length(unsigned char lead) {
  if (lead < 0xC2) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF5) return 4;
  return 1;
}

// Length of the valid sequence starting at text[at], or 0 when the bytes there are not valid UTF-8.
size_t valid_sequence_length(std::string_view text, size_t at);

// Decodes the code point at text[*at] and advances *at. An invalid byte decodes as
// kInvalidByteBase + byte and advances by one, so callers can keep such bytes unchanged.
inline constexpr char32_t kInvalidByteBase = 0x110000;
char32_t next_code_point(std::string_view text, size_t* at);

// Appends a code point (or an invalid byte produced by next_code_point) to `out`.
void append(char32_t code_point, std::string* out);

bool is_valid(std::string_view bytes);

}  // namespace cpm::utf8

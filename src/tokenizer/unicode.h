// The Unicode operations the tokenizer needs: NFC/NFD normalization and the whitespace and word
// character classes that regex \s and \w give in Hugging Face's added-token splitting. Bytes that are
// not valid UTF-8 pass through unchanged and count as neither whitespace nor word characters.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cpm::unicode {

bool is_whitespace(char32_t code_point);      // the White_Space property
bool is_word_character(char32_t code_point);  // Alphabetic, marks, decimal digits, connectors

std::string nfc(std::string_view text);
std::string nfd(std::string_view text);

// Byte length of the whitespace at the start / end of `text`.
size_t leading_whitespace_length(std::string_view text);
size_t trailing_whitespace_length(std::string_view text);
bool starts_with_word_character(std::string_view text);
bool ends_with_word_character(std::string_view text);

}  // namespace cpm::unicode

// UTF-8 text helpers with the semantics of the JavaScript string functions that @huggingface/jinja
// (the chat-template engine of transformers.js) is built on: JS whitespace, JS number formatting,
// JSON.stringify quoting, ICU-like key ordering. Invalid UTF-8 bytes pass through as single characters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cpm::jinja {

// The code point starting at `pos` and its length in bytes (an invalid byte decodes as U+FFFD, length 1).
struct DecodedChar {
  char32_t code_point;
  size_t length;
};
DecodedChar decode_utf8(std::string_view text, size_t pos);
void append_utf8(std::string& out, char32_t code_point);

// Calls visit(character) for each character (code point; an invalid byte is a character of its own).
template <typename Visit>
void for_each_character(std::string_view text, Visit visit) {
  for (size_t pos = 0; pos < text.size();) {
    size_t length = decode_utf8(text, pos).length;
    visit(text.substr(pos, length));
    pos += length;
  }
}
// The byte offset where each character starts, followed by text.size(); 4 bytes per character.
std::vector<uint32_t> character_starts(std::string_view text);
// The character at `index` (negative: from the end), or nullopt when out of range.
std::optional<std::string_view> character_at(std::string_view text, int64_t index);
// Length in UTF-16 code units, as JS `String.length` counts.
size_t utf16_length(std::string_view text);

// JS `\s`: the WhiteSpace and LineTerminator characters of ECMAScript.
bool is_js_space(char32_t code_point);
// Bytes of JS whitespace at the start / at the end of `text`.
size_t js_space_prefix(std::string_view text);
size_t js_space_suffix(std::string_view text);
std::string_view js_trim(std::string_view text);
std::string_view js_trim_start(std::string_view text);
std::string_view js_trim_end(std::string_view text);
// Python str.strip(chars): removes the characters listed in `chars` from the chosen ends.
std::string_view strip_characters(std::string_view text, std::string_view chars, bool start, bool end);

// Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; other characters are kept.
std::string to_upper(std::string_view text);
std::string to_lower(std::string_view text);
// JS `s.replace(/\b\w/g, toUpperCase)`: upper-cases each ASCII word character that starts a word.
std::string title_case(std::string_view text);
// JS `s.charAt(0).toUpperCase() + s.slice(1)`.
std::string capitalize(std::string_view text);

// JS Number.prototype.toString(): shortest round-trip digits, exponent form outside [1e-6, 1e21).
std::string js_number_string(double value);
// How @huggingface/jinja prints a float: integral values keep one decimal ("3.0"), -0 is "-0.0".
std::string float_display_string(double value);
// JSON.stringify of a string; with `ensure_ascii`, characters from U+007F up become \uXXXX escapes.
std::string json_quote(std::string_view text, bool ensure_ascii);
// String.prototype.localeCompare in the root locale for keys made of ASCII: punctuation, then digits,
// then letters with case ignored, lower case first on ties. Non-ASCII characters sort after ASCII.
int locale_compare(std::string_view a, std::string_view b);

// JS parseInt(text, 10) / parseFloat(text); false when the result would be NaN.
bool js_parse_int(std::string_view text, double& value);
bool js_parse_float(std::string_view text, double& value);
// JS Number(text) for a string operand of `==`; false for NaN.
bool js_string_to_number(std::string_view text, double& value);

}  // namespace cpm::jinja

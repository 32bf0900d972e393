#include "server/jinja_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace cpm::jinja {
namespace {

constexpr char32_t kReplacementCharacter = 0xFFFD;

bool is_ascii_word(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool in_range(char32_t c, char32_t low, char32_t high) {
  return c >= low && c <= high;
}

// Pairs laid out as upper, lower, upper, lower... starting at an even (or odd) code point.
bool is_upper_of_pair_block(char32_t c, char32_t first, char32_t last) {
  return in_range(c, first, last) && (c - first) % 2 == 0;
}
bool is_lower_of_pair_block(char32_t c, char32_t first, char32_t last) {
  return in_range(c, first, last) && (c - first) % 2 == 1;
}

struct PairBlock {
  char32_t first;  // an upper-case letter; its lower case follows it
  char32_t last;
};
constexpr PairBlock kPairBlocks[] = {
    {0x0100, 0x012F}, {0x0132, 0x0137}, {0x0139, 0x0148}, {0x014A, 0x0177}, {0x0179, 0x017E},
    {0x0460, 0x0481}, {0x048A, 0x04BF}, {0x04C1, 0x04CE}, {0x04D0, 0x052F},
};

// Case mapping of one code point to one code point; the multi-character cases are handled by callers.
char32_t simple_upper(char32_t c) {
  if (in_range(c, 'a', 'z')) return c - 0x20;
  if (c < 0x80) return c;
  if ((in_range(c, 0xE0, 0xFE) && c != 0xF7)) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  for (const PairBlock& block : kPairBlocks) {
    if (is_lower_of_pair_block(c, block.first, block.last)) return c - 1;
  }
  if (in_range(c, 0x3B1, 0x3C9)) return c == 0x3C2 ? 0x3A3 : c - 0x20;
  if (c == 0x3AC) return 0x386;
  if (in_range(c, 0x3AD, 0x3AF)) return c - 0x25;
  if (c == 0x3CC) return 0x38C;
  if (in_range(c, 0x3CD, 0x3CE)) return c - 0x3F;
  if (in_range(c, 0x430, 0x44F)) return c - 0x20;
  if (in_range(c, 0x450, 0x45F)) return c - 0x50;
  if (c == 0x4CF) return 0x4C0;
  if (in_range(c, 0xFF41, 0xFF5A)) return c - 0x20;
  return c;
}

char32_t simple_lower(char32_t c) {
  if (in_range(c, 'A', 'Z')) return c + 0x20;
  if (c < 0x80) return c;
  if ((in_range(c, 0xC0, 0xDE) && c != 0xD7)) return c + 0x20;
  if (c == 0x178) return 0xFF;
  for (const PairBlock& block : kPairBlocks) {
    if (is_upper_of_pair_block(c, block.first, block.last)) return c + 1;
  }
  if (in_range(c, 0x391, 0x3A9) && c != 0x3A2) return c + 0x20;
  if (c == 0x386) return 0x3AC;
  if (in_range(c, 0x388, 0x38A)) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (in_range(c, 0x38E, 0x38F)) return c + 0x3F;
  if (in_range(c, 0x410, 0x42F)) return c + 0x20;
  if (in_range(c, 0x400, 0x40F)) return c + 0x50;
  if (c == 0x4C0) return 0x4CF;
  if (in_range(c, 0xFF21, 0xFF3A)) return c + 0x20;
  return c;
}

bool is_cased(char32_t c) {
  return simple_upper(c) != c || simple_lower(c) != c;
}

void append_hex4(std::string& out, unsigned value) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "\\u%04x", value);
  out += buffer;
}

// Rank of an ASCII character in the root collation; letters share a rank with their other case.
int ascii_collation_rank(unsigned char c) {
  static const std::string kOrder = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz";
  unsigned char folded = (c >= 'A' && c <= 'Z') ? c + 0x20 : c;
  size_t at = kOrder.find(static_cast<char>(folded));
  return at == std::string::npos ? -1 : static_cast<int>(at);
}

// The collation weights of one character: primary (case ignored) and tertiary (1 for upper case).
struct CollationWeight {
  int primary;
  int tertiary;
};

// The weights of the characters of `text`, skipping ignorable ones, one at a time.
class CollationCursor {
 public:
  explicit CollationCursor(std::string_view text) : text_(text) {}
  bool next(CollationWeight& weight) {
    while (pos_ < text_.size()) {
      DecodedChar decoded = decode_utf8(text_, pos_);
      pos_ += decoded.length;
      char32_t c = decoded.code_point;
      if (c >= 0x80) {
        weight = {1000 + static_cast<int>(simple_lower(c)), simple_lower(c) != c ? 1 : 0};
        return true;
      }
      int rank = ascii_collation_rank(static_cast<unsigned char>(c));
      if (rank < 0) continue;  // control characters are ignorable
      weight = {rank, c >= 'A' && c <= 'Z' ? 1 : 0};
      return true;
    }
    return false;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// Compares the primary weights, or (with `tertiary`) the case weights, of two strings.
int compare_collation_level(std::string_view a, std::string_view b, bool tertiary) {
  CollationCursor cursor_a(a);
  CollationCursor cursor_b(b);
  CollationWeight weight_a{};
  CollationWeight weight_b{};
  while (true) {
    bool has_a = cursor_a.next(weight_a);
    bool has_b = cursor_b.next(weight_b);
    if (!has_a || !has_b) return has_a == has_b ? 0 : has_a ? 1 : -1;
    int x = tertiary ? weight_a.tertiary : weight_a.primary;
    int y = tertiary ? weight_b.tertiary : weight_b.primary;
    if (x != y) return x < y ? -1 : 1;
  }
}

// The longest prefix of `text` that is a JS StrDecimalLiteral (sign, digits, fraction, exponent).
size_t decimal_literal_length(std::string_view text) {
  size_t pos = 0;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
  if (text.substr(pos, 8) == "Infinity") return pos + 8;
  size_t digits_start = pos;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
  size_t integer_digits = pos - digits_start;
  size_t fraction_digits = 0;
  if (pos < text.size() && text[pos] == '.') {
    size_t fraction_start = pos + 1;
    size_t end = fraction_start;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    fraction_digits = end - fraction_start;
    if (integer_digits > 0 || fraction_digits > 0) pos = end;
  }
  if (integer_digits == 0 && fraction_digits == 0) return 0;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    size_t exponent = pos + 1;
    if (exponent < text.size() && (text[exponent] == '+' || text[exponent] == '-')) ++exponent;
    size_t exponent_digits = exponent;
    while (exponent_digits < text.size() && std::isdigit(static_cast<unsigned char>(text[exponent_digits]))) {
      ++exponent_digits;
    }
    if (exponent_digits > exponent) pos = exponent_digits;
  }
  return pos;
}

double parse_decimal_literal(std::string_view literal) {
  std::string_view digits = literal;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  double magnitude = digits == "Infinity" ? INFINITY : std::strtod(std::string(digits).c_str(), nullptr);
  return negative ? -magnitude : magnitude;
}

}  // namespace

DecodedChar decode_utf8(std::string_view text, size_t pos) {
  unsigned char lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return {lead, 1};
  size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
  if (length == 0 || lead > 0xF4 || pos + length > text.size()) return {kReplacementCharacter, 1};
  char32_t code_point = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    unsigned char next = static_cast<unsigned char>(text[pos + i]);
    if ((next & 0xC0) != 0x80) return {kReplacementCharacter, 1};
    code_point = (code_point << 6) | (next & 0x3F);
  }
  static constexpr char32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  if (code_point < kMinimum[length] || code_point > 0x10FFFF || surrogate) return {kReplacementCharacter, 1};
  return {code_point, length};
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::vector<uint32_t> character_starts(std::string_view text) {
  if (text.size() > UINT32_MAX) fail("a string is too long to index");
  std::vector<uint32_t> starts;
  for (size_t pos = 0; pos < text.size(); pos += decode_utf8(text, pos).length) {
    starts.push_back(static_cast<uint32_t>(pos));
  }
  starts.push_back(static_cast<uint32_t>(text.size()));
  return starts;
}

std::optional<std::string_view> character_at(std::string_view text, int64_t index) {
  if (index < 0) {
    int64_t count = 0;
    for_each_character(text, [&](std::string_view) { ++count; });
    index += count;
    if (index < 0) return std::nullopt;
  }
  std::optional<std::string_view> found;
  int64_t at = 0;
  for_each_character(text, [&](std::string_view character) {
    if (at++ == index) found = character;
  });
  return found;
}

size_t utf16_length(std::string_view text) {
  size_t units = 0;
  for (size_t pos = 0; pos < text.size();) {
    DecodedChar decoded = decode_utf8(text, pos);
    units += decoded.code_point > 0xFFFF ? 2 : 1;
    pos += decoded.length;
  }
  return units;
}

bool is_js_space(char32_t c) {
  switch (c) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

size_t js_space_prefix(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    DecodedChar decoded = decode_utf8(text, pos);
    if (!is_js_space(decoded.code_point)) break;
    pos += decoded.length;
  }
  return pos;
}

size_t js_space_suffix(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    // Step back over continuation bytes (at most three) to where the last character starts.
    size_t start = end - 1;
    while (start > 0 && end - start < 4 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    DecodedChar decoded = decode_utf8(text, start);
    if (start + decoded.length != end || !is_js_space(decoded.code_point)) break;
    end = start;
  }
  return text.size() - end;
}

std::string_view js_trim_start(std::string_view text) {
  return text.substr(js_space_prefix(text));
}
std::string_view js_trim_end(std::string_view text) {
  return text.substr(0, text.size() - js_space_suffix(text));
}
std::string_view js_trim(std::string_view text) {
  return js_trim_end(js_trim_start(text));
}

std::string_view strip_characters(std::string_view text, std::string_view chars, bool start, bool end) {
  std::vector<std::string_view> strip_set;
  for_each_character(chars, [&](std::string_view c) { strip_set.push_back(c); });
  size_t first_kept = text.size();
  size_t last_kept_end = 0;
  size_t pos = 0;
  for_each_character(text, [&](std::string_view c) {
    bool strippable = std::find(strip_set.begin(), strip_set.end(), c) != strip_set.end();
    if (!strippable) {
      first_kept = std::min(first_kept, pos);
      last_kept_end = pos + c.size();
    }
    pos += c.size();
  });
  if (first_kept == text.size()) return start || end ? text.substr(0, 0) : text;  // nothing kept
  size_t begin = start ? first_kept : 0;
  size_t stop = end ? last_kept_end : text.size();
  return text.substr(begin, stop - begin);
}

std::string to_upper(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    DecodedChar decoded = decode_utf8(text, pos);
    if (decoded.code_point == 0xDF) {
      out += "SS";
    } else if (decoded.code_point == 0x149) {
      out += "\xCA\xBCN";  // U+02BC then N
    } else if (decoded.code_point == kReplacementCharacter && decoded.length == 1) {
      out += text[pos];
    } else {
      append_utf8(out, simple_upper(decoded.code_point));
    }
    pos += decoded.length;
  }
  return out;
}

std::string to_lower(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char32_t previous = 0;
  for (size_t pos = 0; pos < text.size();) {
    DecodedChar decoded = decode_utf8(text, pos);
    char32_t c = decoded.code_point;
    bool invalid_byte = c == kReplacementCharacter && decoded.length == 1;
    if (c == 0x130) {
      out += "i\xCC\x87";  // i then U+0307
    } else if (c == 0x3A3) {
      // Greek capital sigma becomes the final form at the end of a word (ECMAScript Final_Sigma).
      size_t next = pos + decoded.length;
      bool cased_after = next < text.size() && is_cased(decode_utf8(text, next).code_point);
      append_utf8(out, is_cased(previous) && !cased_after ? 0x3C2 : 0x3C3);
    } else if (invalid_byte) {
      out += text[pos];
    } else {
      append_utf8(out, simple_lower(c));
    }
    previous = c;
    pos += decoded.length;
  }
  return out;
}

std::string title_case(std::string_view text) {
  std::string out(text);
  for (size_t i = 0; i < out.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(out[i]);
    bool starts_word = is_ascii_word(c) && (i == 0 || !is_ascii_word(static_cast<unsigned char>(out[i - 1])));
    if (starts_word && c >= 'a' && c <= 'z') out[i] = static_cast<char>(c - 0x20);
  }
  return out;
}

std::string capitalize(std::string_view text) {
  if (text.empty()) return "";
  size_t first_length = decode_utf8(text, 0).length;
  return to_upper(text.substr(0, first_length)) + std::string(text.substr(first_length));
}

std::string js_number_string(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";
  if (value < 0) {
    std::string negative = "-";  // appended, not `"-" + ...`, which trips GCC 12's -Wrestrict
    negative += js_number_string(-value);
    return negative;
  }
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string scientific(buffer, result.ptr);
  size_t e_at = scientific.find('e');
  std::string digits = scientific.substr(0, e_at);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int k = static_cast<int>(digits.size());
  int n = std::atoi(scientific.c_str() + e_at + 1) + 1;  // the decimal point sits after n digits
  if (k <= n && n <= 21) return digits + std::string(n - k, '0');
  if (0 < n && n <= 21) return digits.substr(0, n) + "." + digits.substr(n);
  if (-6 < n && n <= 0) return "0." + std::string(-n, '0') + digits;
  std::string exponent = (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  if (k == 1) return digits + exponent;
  return digits.substr(0, 1) + "." + digits.substr(1) + exponent;
}

std::string float_display_string(double value) {
  if (value == 0 && std::signbit(value)) return "-0.0";
  if (std::isfinite(value) && std::floor(value) == value) {
    if (std::fabs(value) >= 1e21) return js_number_string(value);
    char buffer[400];
    std::snprintf(buffer, sizeof buffer, "%.1f", value);
    return buffer;
  }
  return js_number_string(value);
}

std::string json_quote(std::string_view text, bool ensure_ascii) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  for (size_t pos = 0; pos < text.size();) {
    DecodedChar decoded = decode_utf8(text, pos);
    char32_t c = decoded.code_point;
    pos += decoded.length;
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      append_hex4(out, c);
    } else if (ensure_ascii && c >= 0x7F) {
      if (c > 0xFFFF) {
        append_hex4(out, 0xD800 + ((c - 0x10000) >> 10));
        append_hex4(out, 0xDC00 + ((c - 0x10000) & 0x3FF));
      } else {
        append_hex4(out, c);
      }
    } else {
      append_utf8(out, c);
    }
  }
  out += '"';
  return out;
}

int locale_compare(std::string_view a, std::string_view b) {
  int primary = compare_collation_level(a, b, false);
  return primary != 0 ? primary : compare_collation_level(a, b, true);
}

bool js_parse_int(std::string_view text, double& value) {
  text = js_trim_start(text);
  bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return false;
  value = std::strtod(std::string(text.substr(0, digits)).c_str(), nullptr);
  if (negative) value = -value;
  return true;
}

bool js_parse_float(std::string_view text, double& value) {
  text = js_trim_start(text);
  size_t length = decimal_literal_length(text);
  if (length == 0) return false;
  value = parse_decimal_literal(text.substr(0, length));
  return true;
}

bool js_string_to_number(std::string_view text, double& value) {
  text = js_trim(text);
  if (text.empty()) {
    value = 0;
    return true;
  }
  if (text.size() > 2 && text[0] == '0' &&
      std::string_view("xXoObB").find(text[1]) != std::string_view::npos) {
    int base = (text[1] == 'x' || text[1] == 'X') ? 16 : (text[1] == 'o' || text[1] == 'O') ? 8 : 2;
    double result = 0;
    for (char c : text.substr(2)) {
      int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : std::isxdigit(static_cast<unsigned char>(c))
                      ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                      : 99;
      if (digit >= base) return false;
      result = result * base + digit;
    }
    value = result;
    return true;
  }
  if (decimal_literal_length(text) != text.size()) return false;
  value = parse_decimal_literal(text);
  return true;
}

}  // namespace cpm::jinja

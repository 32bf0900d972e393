#include "tokenizer/unicode.h"

#include <algorithm>
#include <unordered_map>

#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace cpm::unicode {

namespace {

using unicode_data::kCombiningClasses;
using unicode_data::kDecompositions;

// Hangul syllables decompose and compose by arithmetic (Unicode 3.12) rather than by table.
constexpr char32_t kHangulFirst = 0xAC00, kJamoLFirst = 0x1100, kJamoVFirst = 0x1161, kJamoTFirst = 0x11A7;
constexpr char32_t kJamoLCount = 19, kJamoVCount = 21, kJamoTCount = 28;
constexpr char32_t kHangulCount = kJamoLCount * kJamoVCount * kJamoTCount;

// Below U+0300 nothing decomposes into combining marks or composes (checked by the generator).
constexpr unsigned char kFirstLeadOfCombiningRange = 0xCC;  // UTF-8 lead byte of U+0300
constexpr unsigned char kFirstLeadOfDecomposable = 0xC3;    // UTF-8 lead byte of U+00C0

uint8_t combining_class(char32_t code_point) {
  if (code_point < 0x300) return 0;
  auto it = std::upper_bound(kCombiningClasses.begin(), kCombiningClasses.end(), code_point,
                             [](char32_t cp, const auto& range) { return cp < range.first; });
  if (it == kCombiningClasses.begin()) return 0;
  --it;
  return code_point <= it->last ? it->combining_class : 0;
}

const unicode_data::Decomposition* find_decomposition(char32_t code_point) {
  auto it = std::lower_bound(kDecompositions.begin(), kDecompositions.end(), code_point,
                             [](const auto& row, char32_t cp) { return row.code_point < cp; });
  return it != kDecompositions.end() && it->code_point == code_point ? &*it : nullptr;
}

void decompose_into(char32_t code_point, std::u32string* out) {
  if (code_point >= kHangulFirst && code_point < kHangulFirst + kHangulCount) {
    const char32_t index = code_point - kHangulFirst;
    out->push_back(kJamoLFirst + index / (kJamoVCount * kJamoTCount));
    out->push_back(kJamoVFirst + (index % (kJamoVCount * kJamoTCount)) / kJamoTCount);
    if (index % kJamoTCount != 0) out->push_back(kJamoTFirst + index % kJamoTCount);
    return;
  }
  if (const unicode_data::Decomposition* row = find_decomposition(code_point)) {
    decompose_into(row->first, out);
    if (row->second != 0) decompose_into(row->second, out);
    return;
  }
  out->push_back(code_point);
}

// Full canonical decomposition, then the canonical ordering of each run of combining marks.
std::u32string decompose(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size();) decompose_into(utf8::next_code_point(text, &at), &out);
  for (size_t i = 1; i < out.size(); ++i) {
    const uint8_t current = combining_class(out[i]);
    if (current == 0) continue;
    // Insertion sort keeps marks of equal class in order (a stable sort, as the standard requires).
    for (size_t k = i; k > 0; --k) {
      const uint8_t previous = combining_class(out[k - 1]);
      if (previous == 0 || previous <= current) break;
      std::swap(out[k - 1], out[k]);
    }
  }
  return out;
}

char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kJamoLFirst && first < kJamoLFirst + kJamoLCount && second >= kJamoVFirst &&
      second < kJamoVFirst + kJamoVCount) {
    return kHangulFirst + ((first - kJamoLFirst) * kJamoVCount + (second - kJamoVFirst)) * kJamoTCount;
  }
  if (first >= kHangulFirst && first < kHangulFirst + kHangulCount &&
      (first - kHangulFirst) % kJamoTCount == 0 && second > kJamoTFirst &&
      second < kJamoTFirst + kJamoTCount) {
    return first + (second - kJamoTFirst);
  }
  static const std::unordered_map<uint64_t, char32_t> kComposites = [] {
    std::unordered_map<uint64_t, char32_t> composites;
    for (const auto& row : kDecompositions) {
      if (row.composes) composites.emplace((uint64_t{row.first} << 32) | row.second, row.code_point);
    }
    return composites;
  }();
  auto it = kComposites.find((uint64_t{first} << 32) | second);
  return it == kComposites.end() ? 0 : it->second;
}

// Canonical composition (UAX #15): each mark joins the last starter unless blocked by an earlier
// mark of the same or higher class.
void compose(std::u32string* text) {
  if (text->empty()) return;
  std::u32string& s = *text;
  size_t starter = 0, written = 1;
  int last_class = combining_class(s[0]) == 0 ? 0 : 256;  // a leading mark blocks everything after it
  for (size_t i = 1; i < s.size(); ++i) {
    const char32_t code_point = s[i];
    const int current_class = combining_class(code_point);
    const char32_t composite = compose_pair(s[starter], code_point);
    if (composite != 0 && (last_class < current_class || last_class == 0)) {
      s[starter] = composite;
      continue;
    }
    if (current_class == 0) starter = written;
    last_class = current_class;
    s[written++] = code_point;
  }
  s.resize(written);
}

std::string encode(const std::u32string& code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t code_point : code_points) utf8::append(code_point, &out);
  return out;
}

bool all_bytes_below(std::string_view text, unsigned char limit) {
  return std::all_of(text.begin(), text.end(), [&](char c) { return static_cast<unsigned char>(c) < limit; });
}

// The code point ending `text` and its byte length (an invalid byte counts as one).
std::pair<char32_t, size_t> last_code_point(std::string_view text) {
  size_t start = text.size() - 1;
  while (start > 0 && text.size() - start < 4 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
    --start;
  size_t at = start;
  const char32_t code_point = utf8::next_code_point(text, &at);
  if (at == text.size()) return {code_point, text.size() - start};
  return {utf8::kInvalidByteBase + static_cast<unsigned char>(text.back()), 1};
}

}  // namespace

bool is_whitespace(char32_t cp) {
  return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

bool is_word_character(char32_t code_point) {
  if (code_point < 0x80) {
    return (code_point >= '0' && code_point <= '9') || (code_point >= 'A' && code_point <= 'Z') ||
           (code_point >= 'a' && code_point <= 'z') || code_point == '_';
  }
  const auto& ranges = unicode_data::kWordCharacters;
  auto it = std::upper_bound(ranges.begin(), ranges.end(), code_point,
                             [](char32_t cp, const auto& range) { return cp < range.first; });
  return it != ranges.begin() && code_point <= std::prev(it)->last;
}

std::string nfc(std::string_view text) {
  if (all_bytes_below(text, kFirstLeadOfCombiningRange)) return std::string(text);
  std::u32string code_points = decompose(text);
  compose(&code_points);
  return encode(code_points);
}

std::string nfd(std::string_view text) {
  if (all_bytes_below(text, kFirstLeadOfDecomposable)) return std::string(text);
  return encode(decompose(text));
}

size_t leading_whitespace_length(std::string_view text) {
  size_t at = 0;
  while (at < text.size()) {
    size_t next = at;
    if (!is_whitespace(utf8::next_code_point(text, &next))) break;
    at = next;
  }
  return at;
}

size_t trailing_whitespace_length(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    const auto [code_point, length] = last_code_point(text.substr(0, end));
    if (!is_whitespace(code_point)) break;
    end -= length;
  }
  return text.size() - end;
}

bool starts_with_word_character(std::string_view text) {
  size_t at = 0;
  return !text.empty() && is_word_character(utf8::next_code_point(text, &at));
}

bool ends_with_word_character(std::string_view text) {
  return !text.empty() && is_word_character(last_code_point(text).first);
}

}  // namespace cpm::unicode

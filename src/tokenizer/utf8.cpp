#include "tokenizer/utf8.h"

namespace cpm::utf8 {

size_t valid_sequence_length(std::string_view text, size_t at) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[at + k]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  const size_t length = sequence_length(lead);
  if (length == 1 || at + length > text.size()) return 0;
  // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
  unsigned char low = 0x80, high = 0xBF;
  if (lead == 0xE0) low = 0xA0;
  if (lead == 0xED) high = 0x9F;
  if (lead == 0xF0) low = 0x90;
  if (lead == 0xF4) high = 0x8F;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

char32_t next_code_point(std::string_view text, size_t* at) {
  const size_t length = valid_sequence_length(text, *at);
  const unsigned char lead = static_cast<unsigned char>(text[*at]);
  if (length == 0) {
    ++*at;
    return kInvalidByteBase + lead;
  }
  static constexpr unsigned char kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t code_point = lead & kLeadMask[length];
  for (size_t k = 1; k < length; ++k) code_point = (code_point << 6) | (text[*at + k] & 0x3F);
  *at += length;
  return code_point;
}

void append(char32_t code_point, std::string* out) {
  if (code_point >= kInvalidByteBase) {
    out->push_back(static_cast<char>(code_point - kInvalidByteBase));
  } else if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

bool is_valid(std::string_view bytes) {
  for (size_t at = 0; at < bytes.size();) {
    const size_t length = valid_sequence_length(bytes, at);
    if (length == 0) return false;
    at += length;
  }
  return true;
}

}  // namespace cpm::utf8

#include "server/jinja_lexer.h"

#include <array>
#include <utility>

#include "core/error.h"
#include "server/jinja_text.h"

namespace cpm::jinja {
namespace {

// Appends source bytes with their original lines; every preprocessing pass only removes bytes.
struct SourceBuilder {
  SourceText out;
  void append(const SourceText& from, size_t begin, size_t end) {
    out.text.append(from.text, begin, end - begin);
    out.lines.insert(out.lines.end(), from.lines.begin() + begin, from.lines.begin() + end);
  }
  void truncate(size_t size) {
    out.text.resize(size);
    out.lines.resize(size);
  }
};

bool starts_with_at(std::string_view text, size_t pos, std::string_view prefix) {
  return text.substr(pos, prefix.size()) == prefix;
}

// Length of the line terminator (\n, \r, U+2028, U+2029) ending at `pos`, which JS's multiline ^ follows.
bool follows_line_terminator(std::string_view text, size_t pos) {
  if (pos == 0) return true;
  char previous = text[pos - 1];
  if (previous == '\n' || previous == '\r') return true;
  return pos >= 3 && (text.substr(pos - 3, 3) == "\xE2\x80\xA8" || text.substr(pos - 3, 3) == "\xE2\x80\xA9");
}

// lstrip_blocks as the regex /^[ \t]*({[#%-])/gm: blanks before a block or comment tag at a line start.
SourceText strip_blanks_before_blocks(const SourceText& in) {
  SourceBuilder builder;
  std::string_view text = in.text;
  for (size_t pos = 0; pos < text.size();) {
    if (follows_line_terminator(text, pos)) {
      size_t blanks_end = pos;
      while (blanks_end < text.size() && (text[blanks_end] == ' ' || text[blanks_end] == '\t')) ++blanks_end;
      bool before_tag =
          blanks_end + 1 < text.size() && text[blanks_end] == '{' &&
          (text[blanks_end + 1] == '#' || text[blanks_end + 1] == '%' || text[blanks_end + 1] == '-');
      if (before_tag) {
        builder.append(in, blanks_end, blanks_end + 2);
        pos = blanks_end + 2;
        continue;
      }
    }
    builder.append(in, pos, pos + 1);
    ++pos;
  }
  return builder.out;
}

// trim_blocks as the regex /([#%-]})\n/g: the newline right after a block or comment tag.
SourceText drop_newlines_after_blocks(const SourceText& in) {
  SourceBuilder builder;
  std::string_view text = in.text;
  for (size_t pos = 0; pos < text.size();) {
    bool tag_end = pos + 2 < text.size() && (text[pos] == '#' || text[pos] == '%' || text[pos] == '-') &&
                   text[pos + 1] == '}' && text[pos + 2] == '\n';
    if (tag_end) {
      builder.append(in, pos, pos + 2);
      pos += 3;
    } else {
      builder.append(in, pos, pos + 1);
      ++pos;
    }
  }
  return builder.out;
}

struct GenerationTag {
  size_t end = 0;  // 0: no tag here
  bool strip_before = false;
  bool strip_after = false;
};

// Matches {%-? \s* (end)?generation \s* -?%} at `pos`.
GenerationTag match_generation_tag(std::string_view text, size_t pos) {
  GenerationTag tag;
  if (!starts_with_at(text, pos, "{%")) return tag;
  size_t at = pos + 2;
  if (at < text.size() && text[at] == '-') tag.strip_before = true, ++at;
  at += js_space_prefix(text.substr(at));
  if (starts_with_at(text, at, "end")) at += 3;
  if (!starts_with_at(text, at, "generation")) return tag;
  at += 10;
  at += js_space_prefix(text.substr(at));
  if (at < text.size() && text[at] == '-') tag.strip_after = true, ++at;
  if (!starts_with_at(text, at, "%}")) return tag;
  tag.end = at + 2;
  return tag;
}

SourceText remove_generation_tags(const SourceText& in) {
  SourceBuilder builder;
  std::string_view text = in.text;
  size_t protected_size = 0;  // output before this belongs to an earlier match
  for (size_t pos = 0; pos < text.size();) {
    GenerationTag tag = match_generation_tag(text, pos);
    if (tag.end == 0) {
      builder.append(in, pos, pos + 1);
      ++pos;
      continue;
    }
    if (tag.strip_before) {
      std::string_view unprotected = std::string_view(builder.out.text).substr(protected_size);
      builder.truncate(builder.out.text.size() - js_space_suffix(unprotected));
    }
    size_t after_end = tag.end + js_space_prefix(text.substr(tag.end));
    if (!tag.strip_after) builder.append(in, tag.end, after_end);
    pos = after_end;
    protected_size = builder.out.text.size();
  }
  return builder.out;
}

constexpr std::array<std::pair<std::string_view, TokenType>, 29> kSymbols = {{
    {"{%", TokenType::kOpenStatement},  {"%}", TokenType::kCloseStatement},
    {"{{", TokenType::kOpenExpression}, {"}}", TokenType::kCloseExpression},
    {"(", TokenType::kOpenParen},       {")", TokenType::kCloseParen},
    {"{", TokenType::kOpenBrace},       {"}", TokenType::kCloseBrace},
    {"[", TokenType::kOpenBracket},     {"]", TokenType::kCloseBracket},
    {",", TokenType::kComma},           {".", TokenType::kDot},
    {":", TokenType::kColon},           {"|", TokenType::kPipe},
    {"<=", TokenType::kComparison},     {">=", TokenType::kComparison},
    {"==", TokenType::kComparison},     {"!=", TokenType::kComparison},
    {"<", TokenType::kComparison},      {">", TokenType::kComparison},
    {"+", TokenType::kAdditive},        {"-", TokenType::kAdditive},
    {"~", TokenType::kAdditive},        {"**", TokenType::kPower},
    {"*", TokenType::kMultiplicative},  {"//", TokenType::kMultiplicative},
    {"/", TokenType::kMultiplicative},  {"%", TokenType::kMultiplicative},
    {"=", TokenType::kEquals},
}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_word(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

class Lexer {
 public:
  explicit Lexer(const SourceText& source) : source_(source), text_(source.text) {}

  std::vector<Token> run() {
    while (pos_ < text_.size()) step();
    tokens_.push_back({TokenType::kEnd, "", text_.empty() ? 1 : source_.lines.back()});
    return std::move(tokens_);
  }

 private:
  void step() {
    TokenType last = tokens_.empty() ? TokenType::kEnd : tokens_.back().type;
    bool after_tag = last == TokenType::kEnd || last == TokenType::kCloseStatement ||
                     last == TokenType::kCloseExpression || last == TokenType::kComment;
    if (after_tag && read_text()) return;
    if (starts_with_at(text_, pos_, "{#")) return read_comment();
    if (starts_with_at(text_, pos_, "{%-")) return open_tag_stripping(TokenType::kOpenStatement, "{%");
    if (starts_with_at(text_, pos_, "{{-")) return open_tag_stripping(TokenType::kOpenExpression, "{{");
    pos_ += js_space_prefix(text_.substr(pos_));
    if (pos_ >= text_.size()) fail_here("unexpected end of template inside a tag");
    if (starts_with_at(text_, pos_, "-%}")) return close_tag_stripping(TokenType::kCloseStatement, "%}");
    if (starts_with_at(text_, pos_, "-}}")) return close_tag_stripping(TokenType::kCloseExpression, "}}");
    char c = text_[pos_];
    if ((c == '-' || c == '+') && starts_operand()) return read_signed_number_or_sign();
    if (read_symbol()) return;
    if (c == '\'' || c == '"') return read_string(c);
    if (is_digit(c)) return read_number("");
    if (is_word(c)) return read_identifier();
    fail_here(str_cat("unexpected character '",
                      std::string(text_.substr(pos_, decode_utf8(text_, pos_).length)), "'"));
  }

  [[noreturn]] void fail_here(const std::string& message) const {
    uint32_t line = source_.lines.empty() ? 1 : source_.lines[std::min(pos_, source_.lines.size() - 1)];
    fail("chat template syntax error, line ", line, ": ", message);
  }

  void push(TokenType type, std::string value, size_t start) {
    tokens_.push_back({type, std::move(value), source_.lines[start]});
  }

  bool read_text() {
    size_t start = pos_;
    while (pos_ < text_.size()) {
      bool tag = text_[pos_] == '{' && pos_ + 1 < text_.size() &&
                 (text_[pos_ + 1] == '%' || text_[pos_ + 1] == '{' || text_[pos_ + 1] == '#');
      if (tag) break;
      ++pos_;
    }
    if (pos_ == start) return false;
    push(TokenType::kText, std::string(text_.substr(start, pos_ - start)), start);
    return true;
  }

  // A `-` in a tag trims the whitespace of the text before it.
  void strip_trailing_text_whitespace() {
    if (tokens_.empty() || tokens_.back().type != TokenType::kText) return;
    std::string& text = tokens_.back().value;
    text.resize(text.size() - js_space_suffix(text));
    if (text.empty()) tokens_.pop_back();
  }

  void read_comment() {
    size_t start = pos_;
    pos_ += 2;
    bool strip_before = pos_ < text_.size() && text_[pos_] == '-';
    if (strip_before) ++pos_;
    size_t end = text_.find("#}", pos_);
    if (end == std::string_view::npos) fail_here("a {# comment #} is not closed");
    std::string comment(text_.substr(pos_, end - pos_));
    bool strip_after = !comment.empty() && comment.back() == '-';
    if (strip_after) comment.pop_back();
    if (strip_before) strip_trailing_text_whitespace();
    push(TokenType::kComment, std::move(comment), start);
    pos_ = end + 2;
    if (strip_after) pos_ += js_space_prefix(text_.substr(pos_));
  }

  void open_tag_stripping(TokenType type, const char* value) {
    strip_trailing_text_whitespace();
    push(type, value, pos_);
    if (type == TokenType::kOpenExpression) brace_depth_ = 0;
    pos_ += 3;
  }

  void close_tag_stripping(TokenType type, const char* value) {
    push(type, value, pos_);
    pos_ += 3;
    pos_ += js_space_prefix(text_.substr(pos_));
  }

  // A sign is part of a number literal (or a unary sign) unless it follows an operand.
  bool starts_operand() const {
    if (tokens_.empty()) return true;
    switch (tokens_.back().type) {
      case TokenType::kIdentifier:
      case TokenType::kNumber:
      case TokenType::kString:
      case TokenType::kCloseParen:
      case TokenType::kCloseBracket:
        return false;
      default:
        return true;
    }
  }

  void read_signed_number_or_sign() {
    std::string sign(1, text_[pos_]);
    size_t start = pos_++;
    if (pos_ < text_.size() && is_digit(text_[pos_])) return read_number(sign, start);
    push(TokenType::kUnary, sign, start);
  }

  void read_number(const std::string& sign, size_t start = std::string::npos) {
    if (start == std::string::npos) start = pos_;
    std::string number = sign;
    while (pos_ < text_.size() && is_digit(text_[pos_])) number += text_[pos_++];
    bool after_dot = !tokens_.empty() && tokens_.back().type == TokenType::kDot;
    if (!after_dot && pos_ + 1 < text_.size() && text_[pos_] == '.' && is_digit(text_[pos_ + 1])) {
      number += text_[pos_++];
      while (pos_ < text_.size() && is_digit(text_[pos_])) number += text_[pos_++];
    }
    push(TokenType::kNumber, std::move(number), start);
  }

  void read_identifier() {
    size_t start = pos_;
    while (pos_ < text_.size() && is_word(text_[pos_])) ++pos_;
    push(TokenType::kIdentifier, std::string(text_.substr(start, pos_ - start)), start);
  }

  bool read_symbol() {
    for (const auto& [symbol, type] : kSymbols) {
      if (symbol == "}}" && brace_depth_ > 0) continue;  // closes a dict literal, not the tag
      if (!starts_with_at(text_, pos_, symbol)) continue;
      push(type, std::string(symbol), pos_);
      if (type == TokenType::kOpenExpression) brace_depth_ = 0;
      if (type == TokenType::kOpenBrace) ++brace_depth_;
      if (type == TokenType::kCloseBrace) --brace_depth_;
      pos_ += symbol.size();
      return true;
    }
    return false;
  }

  void read_string(char quote) {
    size_t start = pos_++;
    std::string value;
    while (true) {
      if (pos_ >= text_.size()) fail_here("a string literal is not closed");
      char c = text_[pos_];
      if (c == quote) break;
      if (c == '\\') {
        read_escape(value);
      } else {
        value += c;
        ++pos_;
      }
    }
    ++pos_;
    push(TokenType::kString, std::move(value), start);
  }

  void read_escape(std::string& value) {
    ++pos_;
    if (pos_ >= text_.size()) fail_here("a string literal is not closed");
    char escaped = text_[pos_++];
    switch (escaped) {
      case 'n':
        value += '\n';
        return;
      case 't':
        value += '\t';
        return;
      case 'r':
        value += '\r';
        return;
      case 'b':
        value += '\b';
        return;
      case 'f':
        value += '\f';
        return;
      case 'v':
        value += '\v';
        return;
      case '\'':
      case '"':
      case '\\':
        value += escaped;
        return;
      case 'x':
        append_utf8(value, read_hex(2));
        return;
      case 'u':
        return read_unicode_escape(value);
      default:
        // @huggingface/jinja rejects unknown escapes; Python keeps them as written, and so do we.
        value += '\\';
        value += escaped;
    }
  }

  char32_t read_hex(size_t digits) {
    std::string_view hex = text_.substr(pos_, digits);
    bool valid =
        hex.size() == digits && hex.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
    if (!valid) fail_here(str_cat("invalid escape sequence in a string: \\", text_[pos_ - 1], hex));
    pos_ += digits;
    return static_cast<char32_t>(std::stoul(std::string(hex), nullptr, 16));
  }

  // \uXXXX is a UTF-16 unit: a surrogate pair written as two escapes makes one character.
  void read_unicode_escape(std::string& value) {
    char32_t unit = read_hex(4);
    if (unit >= 0xD800 && unit <= 0xDBFF && starts_with_at(text_, pos_, "\\u")) {
      size_t saved = pos_;
      pos_ += 2;
      char32_t low = read_hex(4);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        append_utf8(value, 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
        return;
      }
      pos_ = saved;
    }
    bool lone_surrogate = unit >= 0xD800 && unit <= 0xDFFF;
    append_utf8(value, lone_surrogate ? 0xFFFD : unit);
  }

  const SourceText& source_;
  std::string_view text_;
  size_t pos_ = 0;
  int brace_depth_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

SourceText preprocess_template(std::string_view source) {
  SourceText original;
  original.text = std::string(source);
  uint32_t line = 1;
  for (char c : source) {
    original.lines.push_back(line);
    if (c == '\n') ++line;
  }
  if (!original.text.empty() && original.text.back() == '\n') {
    original.text.pop_back();
    original.lines.pop_back();
  }
  return remove_generation_tags(drop_newlines_after_blocks(strip_blanks_before_blocks(original)));
}

std::vector<Token> tokenize(std::string_view source) {
  SourceText preprocessed = preprocess_template(source);
  return Lexer(preprocessed).run();
}

const char* token_type_name(TokenType type) {
  switch (type) {
    case TokenType::kText:
      return "text";
    case TokenType::kNumber:
      return "number";
    case TokenType::kString:
      return "string";
    case TokenType::kIdentifier:
      return "name";
    case TokenType::kEquals:
      return "'='";
    case TokenType::kOpenParen:
      return "'('";
    case TokenType::kCloseParen:
      return "')'";
    case TokenType::kOpenStatement:
      return "'{%'";
    case TokenType::kCloseStatement:
      return "'%}'";
    case TokenType::kOpenExpression:
      return "'{{'";
    case TokenType::kCloseExpression:
      return "'}}'";
    case TokenType::kOpenBracket:
      return "'['";
    case TokenType::kCloseBracket:
      return "']'";
    case TokenType::kOpenBrace:
      return "'{'";
    case TokenType::kCloseBrace:
      return "'}'";
    case TokenType::kComma:
      return "','";
    case TokenType::kDot:
      return "'.'";
    case TokenType::kColon:
      return "':'";
    case TokenType::kPipe:
      return "'|'";
    case TokenType::kAdditive:
    case TokenType::kMultiplicative:
    case TokenType::kPower:
    case TokenType::kComparison:
    case TokenType::kUnary:
      return "operator";
    case TokenType::kComment:
      return "comment";
    case TokenType::kEnd:
      return "end of template";
  }
  return "token";
}

}  // namespace cpm::jinja

// Splits a chat template into tokens the way @huggingface/jinja does, including its source
// preprocessing: one trailing newline dropped, lstrip_blocks and trim_blocks on, and the
// {% generation %} / {% endgeneration %} markers of assistant-mask templates removed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cpm::jinja {

enum class TokenType {
  kText,
  kNumber,
  kString,
  kIdentifier,
  kEquals,
  kOpenParen,
  kCloseParen,
  kOpenStatement,   // {% or {%-
  kCloseStatement,  // %} or -%}
  kOpenExpression,  // {{ or {{-
  kCloseExpression,
  kOpenBracket,
  kCloseBracket,
  kOpenBrace,
  kCloseBrace,
  kComma,
  kDot,
  kColon,
  kPipe,
  kAdditive,        // + - ~
  kMultiplicative,  // * / // %
  kPower,           // **
  kComparison,      // < > <= >= == !=
  kUnary,           // a sign that starts an operand: -x
  kComment,
  kEnd,  // after the last token
};

struct Token {
  TokenType type;
  std::string value;
  uint32_t line;  // 1-based line in the original template
};

// The template after preprocessing, with the original line of every byte.
struct SourceText {
  std::string text;
  std::vector<uint32_t> lines;
};
SourceText preprocess_template(std::string_view source);

// Tokens of the preprocessed template, always ending with one kEnd token. Throws cpm::Error.
std::vector<Token> tokenize(std::string_view source);

const char* token_type_name(TokenType type);

}  // namespace cpm::jinja

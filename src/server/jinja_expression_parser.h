// The expression grammar of chat templates, and the token cursor the statement parser builds on.
// Internal to jinja_parser.cpp and jinja_expression_parser.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/jinja_ast.h"
#include "server/jinja_lexer.h"

namespace cpm::jinja {

enum class ArgsMode { kCall, kParameters };

class ExpressionParser {
 public:
  explicit ExpressionParser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

 protected:
  // Counts one level of nesting for as long as it lives; recursion in the parser is bounded by it.
  class NestingGuard {
   public:
    explicit NestingGuard(ExpressionParser& parser);
    ~NestingGuard() { --parser_.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    ExpressionParser& parser_;
  };

  const Token& peek(size_t ahead = 0) const {
    return tokens_[std::min(current_ + ahead, tokens_.size() - 1)];
  }
  bool at(TokenType type) const { return peek().type == type; }
  bool at_name(std::string_view name, size_t ahead = 0) const {
    return peek(ahead).type == TokenType::kIdentifier && peek(ahead).value == name;
  }
  bool at_statement(std::initializer_list<std::string_view> names) const {
    if (!at(TokenType::kOpenStatement) || peek(1).type != TokenType::kIdentifier) return false;
    return std::find(names.begin(), names.end(), peek(1).value) != names.end();
  }
  const Token& advance() {
    const Token& token = peek();
    if (current_ < tokens_.size() - 1) ++current_;
    return token;
  }
  std::string describe(const Token& token) const;
  [[noreturn]] void error(const std::string& message) const;
  const Token& expect(TokenType type, const char* context);
  void expect_end_tag(const char* name);
  ExprPtr make(ExprKind kind, uint32_t line, std::vector<ExprPtr> operands = {}, std::string name = {});
  ExprPtr make_literal(uint32_t line, Value value);

  // `a, b` is a tuple; inside parentheses a trailing comma is allowed, as Python allows `(a,)`.
  ExprPtr parse_expression_sequence(bool primary_only, bool in_parentheses = false);
  ExprPtr parse_expression();
  ExprPtr parse_primary();
  // The filter name and its arguments after a `|` (or in {% filter %}, where `operand` is null).
  ExprPtr parse_filter_call(ExprPtr operand);
  std::vector<ExprPtr> parse_args(ArgsMode mode);

  // How often the names `varargs` and `kwargs` were read: macros bind them only when used.
  int varargs_reads_ = 0;
  int kwargs_reads_ = 0;

 private:
  ExprPtr binary(std::string op, ExprPtr left, ExprPtr right);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_comparison();
  ExprPtr parse_additive();
  ExprPtr parse_multiplicative();
  ExprPtr parse_power();
  ExprPtr parse_test();
  ExprPtr parse_filter();
  ExprPtr parse_unary_sign();
  ExprPtr parse_call_member();
  std::vector<ExprPtr> parse_argument_list(ArgsMode mode);
  ExprPtr parse_keyword_or_positional(ArgsMode mode);
  void check_argument_order(ArgsMode mode, const Expr& argument, std::set<std::string>& parameter_names,
                            bool& saw_keyword, bool saw_spread);
  ExprPtr parse_member(ExprPtr object);
  // What is inside [ ]: an index, or a slice start:stop:step with optional parts.
  ExprPtr parse_subscript();
  ExprPtr parse_list_literal(uint32_t line);
  ExprPtr parse_dict_literal(uint32_t line);
  Value number_literal(const std::string& text);

  std::vector<Token> tokens_;
  size_t current_ = 0;
  int nesting_ = 0;
};

}  // namespace cpm::jinja

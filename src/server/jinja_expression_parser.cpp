#include "server/jinja_expression_parser.h"

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "core/error.h"

namespace cpm::jinja {
namespace {

// Nesting of brackets, blocks and prefix operators.
constexpr int kMaxNesting = 200;
// Height of an expression tree (long operator chains are built without recursion, but evaluated with it).
constexpr int kMaxExpressionHeight = 400;

}  // namespace

ExpressionParser::NestingGuard::NestingGuard(ExpressionParser& parser) : parser_(parser) {
  if (++parser_.nesting_ > kMaxNesting) parser_.error("the template nests deeper than the parser allows");
}

std::string ExpressionParser::describe(const Token& token) const {
  switch (token.type) {
    case TokenType::kIdentifier:
      return "'" + token.value + "'";
    case TokenType::kNumber:
      return "number " + token.value;
    case TokenType::kString:
      return "string '" + token.value + "'";
    case TokenType::kText:
      return "text";
    case TokenType::kAdditive:
    case TokenType::kMultiplicative:
    case TokenType::kPower:
    case TokenType::kComparison:
    case TokenType::kUnary:
      return "'" + token.value + "'";
    default:
      return token_type_name(token.type);
  }
}

void ExpressionParser::error(const std::string& message) const {
  fail("chat template syntax error, line ", peek().line, ": ", message);
}

const Token& ExpressionParser::expect(TokenType type, const char* context) {
  if (!at(type))
    error(str_cat("expected ", token_type_name(type), " ", context, ", found ", describe(peek())));
  return advance();
}

void ExpressionParser::expect_end_tag(const char* name) {
  expect(TokenType::kOpenStatement, str_cat("to open {% ", name, " %}").c_str());
  if (!at_name(name)) error(str_cat("expected {% ", name, " %}, found ", describe(peek())));
  advance();
  expect(TokenType::kCloseStatement, str_cat("after ", name).c_str());
}

ExprPtr ExpressionParser::make(ExprKind kind, uint32_t line, std::vector<ExprPtr> operands,
                               std::string name) {
  auto expr = std::make_unique<Expr>();
  expr->kind = kind;
  expr->line = line;
  expr->name = std::move(name);
  for (const ExprPtr& operand : operands) {
    if (operand) expr->height = std::max(expr->height, operand->height + 1);
  }
  expr->operands = std::move(operands);
  if (expr->height > kMaxExpressionHeight) error("an expression is nested or chained too deeply");
  return expr;
}

ExprPtr ExpressionParser::make_literal(uint32_t line, Value value) {
  ExprPtr expr = make(ExprKind::kLiteral, line);
  expr->literal = std::move(value);
  return expr;
}

ExprPtr ExpressionParser::parse_expression_sequence(bool primary_only, bool in_parentheses) {
  uint32_t line = peek().line;
  auto parse_one = [&] { return primary_only ? parse_primary() : parse_expression(); };
  ExprPtr first = parse_one();
  if (!at(TokenType::kComma)) return first;
  std::vector<ExprPtr> items;
  items.push_back(std::move(first));
  while (at(TokenType::kComma)) {
    advance();
    if (in_parentheses && at(TokenType::kCloseParen)) break;
    items.push_back(parse_one());
  }
  return make(ExprKind::kTuple, line, std::move(items));
}

ExprPtr ExpressionParser::parse_expression() {
  NestingGuard guard(*this);
  ExprPtr value = parse_or();
  if (!at_name("if")) return value;
  uint32_t line = advance().line;
  ExprPtr condition = parse_or();
  if (!at_name("else")) {
    std::vector<ExprPtr> operands;
    operands.push_back(std::move(value));
    operands.push_back(std::move(condition));
    return make(ExprKind::kSelect, line, std::move(operands));
  }
  advance();
  std::vector<ExprPtr> operands;
  operands.push_back(std::move(condition));
  operands.push_back(std::move(value));
  operands.push_back(parse_expression());
  return make(ExprKind::kTernary, line, std::move(operands));
}

ExprPtr ExpressionParser::binary(std::string op, ExprPtr left, ExprPtr right) {
  uint32_t line = left->line;
  std::vector<ExprPtr> operands;
  operands.push_back(std::move(left));
  operands.push_back(std::move(right));
  return make(ExprKind::kBinary, line, std::move(operands), std::move(op));
}

ExprPtr ExpressionParser::parse_or() {
  ExprPtr left = parse_and();
  while (at_name("or")) {
    advance();
    left = binary("or", std::move(left), parse_and());
  }
  return left;
}

ExprPtr ExpressionParser::parse_and() {
  ExprPtr left = parse_not();
  while (at_name("and")) {
    advance();
    left = binary("and", std::move(left), parse_not());
  }
  return left;
}

ExprPtr ExpressionParser::parse_not() {
  if (!at_name("not")) return parse_comparison();
  NestingGuard guard(*this);
  uint32_t line = advance().line;
  std::vector<ExprPtr> operands;
  operands.push_back(parse_not());
  return make(ExprKind::kUnary, line, std::move(operands), "not");
}

ExprPtr ExpressionParser::parse_comparison() {
  ExprPtr left = parse_additive();
  while (true) {
    std::string op;
    if (at_name("not") && at_name("in", 1)) {
      advance();
      advance();
      op = "not in";
    } else if (at_name("in") || at(TokenType::kComparison)) {
      op = advance().value;
    } else {
      return left;
    }
    left = binary(op, std::move(left), parse_additive());
  }
}

ExprPtr ExpressionParser::parse_additive() {
  ExprPtr left = parse_multiplicative();
  while (at(TokenType::kAdditive)) {
    std::string op = advance().value;
    left = binary(op, std::move(left), parse_multiplicative());
  }
  return left;
}

ExprPtr ExpressionParser::parse_multiplicative() {
  ExprPtr left = parse_power();
  while (at(TokenType::kMultiplicative)) {
    std::string op = advance().value;
    left = binary(op, std::move(left), parse_power());
  }
  return left;
}

ExprPtr ExpressionParser::parse_power() {
  ExprPtr left = parse_test();
  while (at(TokenType::kPower)) {
    advance();
    left = binary("**", std::move(left), parse_test());
  }
  return left;
}

ExprPtr ExpressionParser::parse_test() {
  ExprPtr operand = parse_filter();
  while (at_name("is")) {
    uint32_t line = advance().line;
    bool negated = at_name("not");
    if (negated) advance();
    ExprPtr test = parse_primary();
    if (test->kind != ExprKind::kIdentifier) error("expected the name of a test after 'is'");
    std::vector<ExprPtr> operands;
    operands.push_back(std::move(operand));
    operand = make(ExprKind::kTest, line, std::move(operands), test->name);
    operand->flag = negated;
  }
  return operand;
}

ExprPtr ExpressionParser::parse_filter() {
  ExprPtr operand = parse_unary_sign();
  while (at(TokenType::kPipe)) {
    advance();
    operand = parse_filter_call(std::move(operand));
  }
  return operand;
}

ExprPtr ExpressionParser::parse_filter_call(ExprPtr operand) {
  uint32_t line = peek().line;
  ExprPtr name = parse_primary();
  if (name->kind != ExprKind::kIdentifier) error("expected a filter name");
  std::vector<ExprPtr> operands;
  operands.push_back(std::move(operand));
  bool called = at(TokenType::kOpenParen);
  if (called) {
    for (ExprPtr& arg : parse_args(ArgsMode::kCall)) operands.push_back(std::move(arg));
  }
  ExprPtr filter = make(ExprKind::kFilter, line, std::move(operands), name->name);
  filter->flag = called;
  return filter;
}

ExprPtr ExpressionParser::parse_unary_sign() {
  bool sign =
      (at(TokenType::kUnary) || at(TokenType::kAdditive)) && (peek().value == "-" || peek().value == "+");
  if (!sign) return parse_call_member();
  NestingGuard guard(*this);
  const Token& op = advance();
  std::vector<ExprPtr> operands;
  operands.push_back(parse_unary_sign());
  return make(ExprKind::kUnary, op.line, std::move(operands), op.value);
}

ExprPtr ExpressionParser::parse_call_member() {
  ExprPtr expr = parse_member(parse_primary());
  while (at(TokenType::kOpenParen)) {
    uint32_t line = peek().line;
    std::vector<ExprPtr> operands;
    operands.push_back(std::move(expr));
    for (ExprPtr& arg : parse_args(ArgsMode::kCall)) operands.push_back(std::move(arg));
    expr = parse_member(make(ExprKind::kCall, line, std::move(operands)));
  }
  return expr;
}

std::vector<ExprPtr> ExpressionParser::parse_args(ArgsMode mode) {
  expect(TokenType::kOpenParen, "to open the argument list");
  std::vector<ExprPtr> args = parse_argument_list(mode);
  expect(TokenType::kCloseParen, "to close the argument list");
  return args;
}

std::vector<ExprPtr> ExpressionParser::parse_argument_list(ArgsMode mode) {
  std::vector<ExprPtr> args;
  std::set<std::string> parameter_names;
  bool saw_keyword = false;
  bool saw_spread = false;
  while (!at(TokenType::kCloseParen)) {
    bool keyword_spread = at(TokenType::kPower);
    bool spread = at(TokenType::kMultiplicative) && peek().value == "*";
    if (mode == ArgsMode::kParameters && (keyword_spread || spread)) {
      error("argument unpacking is not allowed in parameter declarations");
    }
    uint32_t line = peek().line;
    if (keyword_spread) {
      advance();
      std::vector<ExprPtr> operands;
      operands.push_back(parse_expression());
      args.push_back(make(ExprKind::kKeywordSpread, line, std::move(operands)));
      if (at(TokenType::kComma)) advance();
      if (!at(TokenType::kCloseParen)) error("`**` must be applied to the last argument");
      break;
    }
    ExprPtr argument;
    if (spread) {
      if (saw_spread) error("only one `*` argument unpacking is allowed");
      saw_spread = true;
      advance();
      std::vector<ExprPtr> operands;
      operands.push_back(parse_expression());
      argument = make(ExprKind::kSpread, line, std::move(operands));
    } else {
      argument = parse_keyword_or_positional(mode);
      check_argument_order(mode, *argument, parameter_names, saw_keyword, saw_spread);
    }
    args.push_back(std::move(argument));
    if (at(TokenType::kComma)) advance();
  }
  return args;
}

ExprPtr ExpressionParser::parse_keyword_or_positional(ArgsMode mode) {
  ExprPtr argument = parse_expression();
  if (!at(TokenType::kEquals)) return argument;
  advance();
  if (argument->kind != ExprKind::kIdentifier) {
    error(mode == ArgsMode::kParameters ? "expected a name for a parameter"
                                        : "expected a name for a keyword argument");
  }
  std::vector<ExprPtr> operands;
  operands.push_back(parse_expression());
  return make(ExprKind::kKeywordArg, argument->line, std::move(operands), argument->name);
}

void ExpressionParser::check_argument_order(ArgsMode mode, const Expr& argument,
                                            std::set<std::string>& parameter_names, bool& saw_keyword,
                                            bool saw_spread) {
  bool keyword = argument.kind == ExprKind::kKeywordArg;
  if (mode == ArgsMode::kParameters) {
    if (!keyword && argument.kind != ExprKind::kIdentifier) error("expected a name for a parameter");
    if (!parameter_names.insert(argument.name).second) error("duplicate parameter name: " + argument.name);
  }
  if (keyword) {
    saw_keyword = true;
  } else if (saw_keyword) {
    error(mode == ArgsMode::kCall ? "positional arguments must come before keyword arguments"
                                  : "a parameter without a default follows one with a default");
  } else if (saw_spread) {
    error("positional arguments must not follow `*` argument unpacking");
  }
}

ExprPtr ExpressionParser::parse_member(ExprPtr object) {
  while (at(TokenType::kDot) || at(TokenType::kOpenBracket)) {
    const Token& op = advance();
    bool computed = op.type == TokenType::kOpenBracket;
    ExprPtr property;
    if (computed) {
      property = parse_subscript();
      expect(TokenType::kCloseBracket, "to close the subscript");
    } else {
      property = parse_primary();
      if (property->kind == ExprKind::kIdentifier) {
        property = make_literal(property->line, Value::string(property->name));
      } else if (property->kind != ExprKind::kLiteral || property->literal.kind() != Kind::kInt) {
        error("expected a name or an integer after '.'");
      }
    }
    std::vector<ExprPtr> operands;
    operands.push_back(std::move(object));
    operands.push_back(std::move(property));
    object = make(ExprKind::kMember, op.line, std::move(operands));
    object->flag = computed;
  }
  return object;
}

ExprPtr ExpressionParser::parse_subscript() {
  uint32_t line = peek().line;
  std::vector<ExprPtr> parts;
  bool slice = false;
  while (!at(TokenType::kCloseBracket)) {
    if (at(TokenType::kColon)) {
      parts.push_back(nullptr);
      advance();
      slice = true;
    } else {
      parts.push_back(parse_expression());
      if (at(TokenType::kColon)) {
        advance();
        slice = true;
      }
    }
  }
  if (parts.empty()) error("expected an index or a slice inside [ ]");
  if (!slice) {
    if (parts.size() > 1) error("expected ']' after the index");
    return std::move(parts[0]);
  }
  if (parts.size() > 3) error("a slice has at most three parts");
  parts.resize(3);
  return make(ExprKind::kSlice, line, std::move(parts));
}

ExprPtr ExpressionParser::parse_primary() {
  const Token& token = advance();
  switch (token.type) {
    case TokenType::kNumber:
      return make_literal(token.line, number_literal(token.value));
    case TokenType::kString: {
      std::string value = token.value;
      while (at(TokenType::kString)) value += advance().value;  // adjacent literals join
      return make_literal(token.line, Value::string(std::move(value)));
    }
    case TokenType::kIdentifier:
      if (token.value == "varargs") ++varargs_reads_;
      if (token.value == "kwargs") ++kwargs_reads_;
      return make(ExprKind::kIdentifier, token.line, {}, token.value);
    case TokenType::kOpenParen: {
      NestingGuard guard(*this);
      ExprPtr inner = parse_expression_sequence(false, true);
      expect(TokenType::kCloseParen, "to close '('");
      return inner;
    }
    case TokenType::kOpenBracket:
      return parse_list_literal(token.line);
    case TokenType::kOpenBrace:
      return parse_dict_literal(token.line);
    default:
      fail("chat template syntax error, line ", token.line, ": unexpected ", describe(token));
  }
}

ExprPtr ExpressionParser::parse_list_literal(uint32_t line) {
  NestingGuard guard(*this);
  std::vector<ExprPtr> items;
  while (!at(TokenType::kCloseBracket)) {
    items.push_back(parse_expression());
    if (at(TokenType::kComma)) advance();
  }
  advance();
  return make(ExprKind::kArray, line, std::move(items));
}

ExprPtr ExpressionParser::parse_dict_literal(uint32_t line) {
  NestingGuard guard(*this);
  std::vector<ExprPtr> keys_and_values;
  while (!at(TokenType::kCloseBrace)) {
    keys_and_values.push_back(parse_expression());
    expect(TokenType::kColon, "between a key and its value");
    keys_and_values.push_back(parse_expression());
    if (at(TokenType::kComma)) advance();
  }
  advance();
  return make(ExprKind::kObject, line, std::move(keys_and_values));
}

Value ExpressionParser::number_literal(const std::string& text) {
  if (text.find('.') != std::string::npos) return Value::number(std::strtod(text.c_str(), nullptr));
  errno = 0;
  long long value = std::strtoll(text.c_str(), nullptr, 10);
  if (errno == ERANGE) error("integer literal out of range: " + text);
  return Value::integer(value);
}

}  // namespace cpm::jinja

#include "server/jinja_parser.h"

#include <set>
#include <utility>

#include "core/error.h"
#include "server/jinja_expression_parser.h"
#include "server/jinja_lexer.h"

namespace cpm::jinja {
namespace {

class StatementParser : public ExpressionParser {
 public:
  using ExpressionParser::ExpressionParser;

  Program parse_program() {
    Program program;
    while (!at(TokenType::kEnd)) parse_any(program.body);
    return program;
  }

 private:
  static Stmt new_statement(StmtKind kind) {
    Stmt stmt;
    stmt.kind = kind;
    return stmt;
  }

  void parse_any(std::vector<Stmt>& out) {
    const Token& token = peek();
    switch (token.type) {
      case TokenType::kComment:
        advance();
        return;
      case TokenType::kText: {
        Stmt text = new_statement(StmtKind::kText);
        text.line = token.line;
        text.text = advance().value;
        out.push_back(std::move(text));
        return;
      }
      case TokenType::kOpenStatement:
        out.push_back(parse_statement());
        return;
      case TokenType::kOpenExpression: {
        Stmt output = new_statement(StmtKind::kOutput);
        output.line = advance().line;
        output.expr = parse_expression();
        expect(TokenType::kCloseExpression, "to close {{");
        out.push_back(std::move(output));
        return;
      }
      default:
        error("unexpected " + describe(token));
    }
  }

  std::vector<Stmt> parse_until(std::initializer_list<std::string_view> end_names, const char* block,
                                uint32_t block_line) {
    std::vector<Stmt> body;
    while (!at_statement(end_names)) {
      if (at(TokenType::kEnd)) {
        error(str_cat("the {% ", block, " %} opened on line ", block_line, " is never closed (expected {% ",
                      *std::prev(end_names.end()), " %})"));
      }
      parse_any(body);
    }
    return body;
  }

  Stmt parse_statement() {
    NestingGuard guard(*this);
    uint32_t line = advance().line;
    if (!at(TokenType::kIdentifier)) error("expected a statement name after {%, found " + describe(peek()));
    std::string name = advance().value;
    Stmt stmt = new_statement(StmtKind::kText);
    if (name == "set") {
      stmt = parse_set(line);
    } else if (name == "if") {
      stmt = parse_if(line);
      expect_end_tag("endif");
    } else if (name == "for") {
      stmt = parse_for(line);
      expect_end_tag("endfor");
    } else if (name == "macro") {
      stmt = parse_macro(line);
      expect_end_tag("endmacro");
    } else if (name == "call") {
      stmt = parse_call_block(line);
      expect_end_tag("endcall");
    } else if (name == "filter") {
      stmt = parse_filter_block(line);
      expect_end_tag("endfilter");
    } else if (name == "break" || name == "continue") {
      stmt.kind = name == "break" ? StmtKind::kBreak : StmtKind::kContinue;
      expect(TokenType::kCloseStatement, ("after " + name).c_str());
    } else {
      static const std::set<std::string> kEndTags = {"endif",     "endfor", "endmacro", "endcall",
                                                     "endfilter", "endset", "elif",     "else"};
      if (kEndTags.count(name)) error("{% " + name + " %} without a matching opening tag");
      error("unknown statement '" + name + "'");
    }
    stmt.line = line;
    return stmt;
  }

  Stmt parse_set(uint32_t line) {
    Stmt stmt = new_statement(StmtKind::kSet);
    stmt.target = parse_expression_sequence(false);
    if (at(TokenType::kEquals)) {
      advance();
      stmt.expr = parse_expression_sequence(false);
    } else {
      expect(TokenType::kCloseStatement, "after the name of a block set");
      stmt.body = parse_until({"endset"}, "set", line);
      expect(TokenType::kOpenStatement, "to open {% endset %}");
      advance();
    }
    expect(TokenType::kCloseStatement, "to close {% set %}");
    return stmt;
  }

  Stmt parse_if(uint32_t line) {
    Stmt stmt = new_statement(StmtKind::kIf);
    while (true) {
      IfBranch branch;
      branch.condition = parse_expression();
      expect(TokenType::kCloseStatement, "after the if condition");
      branch.body = parse_until({"elif", "else", "endif"}, "if", line);
      stmt.branches.push_back(std::move(branch));
      if (!at_statement({"elif"})) break;
      advance();
      advance();
    }
    if (at_statement({"else"})) {
      advance();
      advance();
      expect(TokenType::kCloseStatement, "after else");
      stmt.else_body = parse_until({"endif"}, "if", line);
    }
    return stmt;
  }

  Stmt parse_for(uint32_t line) {
    Stmt stmt = new_statement(StmtKind::kFor);
    stmt.target = parse_expression_sequence(true);
    if (stmt.target->kind != ExprKind::kIdentifier && stmt.target->kind != ExprKind::kTuple) {
      error("expected a name or names for the loop variable");
    }
    if (!at_name("in")) error("expected 'in' after the loop variable, found " + describe(peek()));
    advance();
    stmt.expr = parse_expression();
    if (stmt.expr->kind == ExprKind::kSelect) {  // for x in items if condition
      stmt.loop_condition = std::move(stmt.expr->operands[1]);
      stmt.expr = std::move(stmt.expr->operands[0]);
    }
    expect(TokenType::kCloseStatement, "after the for loop header");
    stmt.body = parse_until({"else", "endfor"}, "for", line);
    if (at_statement({"else"})) {
      advance();
      advance();
      expect(TokenType::kCloseStatement, "after else");
      stmt.else_body = parse_until({"endfor"}, "for", line);
    }
    return stmt;
  }

  Stmt parse_macro(uint32_t line) {
    Stmt stmt = new_statement(StmtKind::kMacro);
    ExprPtr name = parse_primary();
    if (name->kind != ExprKind::kIdentifier) error("expected the macro's name");
    stmt.text = name->name;
    stmt.params = parse_args(ArgsMode::kParameters);
    expect(TokenType::kCloseStatement, "after the macro's parameters");
    parse_block_reading_specials(stmt, "endmacro", "macro", line);
    return stmt;
  }

  Stmt parse_call_block(uint32_t line) {
    Stmt stmt = new_statement(StmtKind::kCallBlock);
    if (at(TokenType::kOpenParen)) stmt.params = parse_args(ArgsMode::kParameters);
    uint32_t call_line = peek().line;
    ExprPtr callee = parse_primary();
    if (callee->kind != ExprKind::kIdentifier) error("expected a macro name after {% call %}");
    std::vector<ExprPtr> operands;
    operands.push_back(std::move(callee));
    for (ExprPtr& arg : parse_args(ArgsMode::kCall)) operands.push_back(std::move(arg));
    stmt.expr = make(ExprKind::kCall, call_line, std::move(operands));
    expect(TokenType::kCloseStatement, "after the call");
    parse_block_reading_specials(stmt, "endcall", "call", line);
    return stmt;
  }

  // Parses a macro or call body, noting whether it reads `varargs` or `kwargs`.
  void parse_block_reading_specials(Stmt& stmt, const char* end_tag, const char* block, uint32_t line) {
    int varargs_before = varargs_reads_;
    int kwargs_before = kwargs_reads_;
    stmt.body = parse_until({end_tag}, block, line);
    stmt.uses_varargs = varargs_reads_ > varargs_before;
    stmt.uses_kwargs = kwargs_reads_ > kwargs_before;
  }

  Stmt parse_filter_block(uint32_t line) {
    Stmt stmt = new_statement(StmtKind::kFilterBlock);
    stmt.expr = parse_filter_call(nullptr);
    expect(TokenType::kCloseStatement, "after the filter");
    stmt.body = parse_until({"endfilter"}, "filter", line);
    return stmt;
  }
};

}  // namespace

Program parse_template(std::string_view source) {
  return StatementParser(tokenize(source)).parse_program();
}

}  // namespace cpm::jinja

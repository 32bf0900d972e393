// The syntax tree of a parsed chat template.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/jinja_value.h"

namespace cpm::jinja {

enum class ExprKind {
  kLiteral,        // literal
  kIdentifier,     // name
  kArray,          // operands: the items
  kTuple,          // operands: the items
  kObject,         // operands: key, value, key, value...
  kMember,         // operands: object, property (a literal for `.name` / `.0`); flag: written with []
  kSlice,          // operands: start, stop, step (each may be null); only as a member property
  kCall,           // operands: callee, then the arguments
  kUnary,          // name: "not", "-" or "+"; operands: the argument
  kBinary,         // name: the operator; operands: left, right
  kFilter,         // name: the filter; operands: the value (null in a filter block), then the arguments;
                   // flag: written with parentheses
  kTest,           // name: the test; operands: the value; flag: `is not`
  kSelect,         // `value if condition` without else; operands: value, condition
  kTernary,        // operands: condition, value if true, value if false
  kKeywordArg,     // name=value in a call; name: the keyword; operands: the value
  kSpread,         // *list in a call; operands: the list
  kKeywordSpread,  // **dict in a call; operands: the dict
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  uint32_t line = 0;
  std::string name;
  Value literal;
  std::vector<ExprPtr> operands;
  bool flag = false;
  int height = 1;  // longest path to a leaf; bounded by the parser so evaluation cannot exhaust the stack
};

enum class StmtKind {
  kText,
  kOutput,  // {{ expr }}
  kIf,
  kFor,
  kSet,
  kMacro,
  kCallBlock,    // {% call(params) macro(args) %}body{% endcall %}
  kFilterBlock,  // {% filter name(args) %}body{% endfilter %}
  kBreak,
  kContinue,
};

struct Stmt;

struct IfBranch {
  ExprPtr condition;
  std::vector<Stmt> body;
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  uint32_t line = 0;
  std::string text;        // kText: the text; kMacro: the macro's name
  ExprPtr expr;            // kOutput: the value; kFor: the iterable; kSet: the value (null when
                           // the body is assigned); kCallBlock: the macro call; kFilterBlock: the filter
  ExprPtr target;          // kFor: the loop variable(s); kSet: what is assigned to
  ExprPtr loop_condition;  // kFor: the `if` that filters items, or null
  std::vector<IfBranch> branches;  // kIf: the if and elif branches
  std::vector<ExprPtr> params;     // kMacro, kCallBlock: names, or name=default (a kKeywordArg)
  bool uses_varargs = false;       // kMacro, kCallBlock: the body reads `varargs` / `kwargs`
  bool uses_kwargs = false;
  std::vector<Stmt> body;       // kFor, kSet, kMacro, kCallBlock, kFilterBlock
  std::vector<Stmt> else_body;  // kIf: else; kFor: runs when there was no iteration
};

struct Program {
  std::vector<Stmt> body;
};

}  // namespace cpm::jinja

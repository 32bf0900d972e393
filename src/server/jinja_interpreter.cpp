#include "server/jinja_interpreter.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "core/error.h"
#include "server/jinja_builtins.h"
#include "server/jinja_text.h"

namespace cpm::jinja {
namespace {

// Nested evaluation calls (expressions, statements, macro bodies) allowed before the render fails;
// keeps the C++ stack well inside a thread's default 8 MiB, sanitizers included.
constexpr int kMaxEvaluationDepth = 1500;
constexpr int kMaxMacroDepth = 100;

// Thrown by {% break %} / {% continue %}; the innermost loop catches it. Output of the interrupted
// iteration is dropped, as @huggingface/jinja drops it.
struct BreakSignal {};
struct ContinueSignal {};

// An error that already names its line; statements wrap others into it on the way out.
class LocatedError : public Error {
 public:
  LocatedError(uint32_t line, const std::string& message)
      : Error(str_cat("chat template error, line ", line, ": ", message)) {}
};

// The `loop` variable of iteration `i` over `items`.
Value loop_object(const ValueList& items, size_t i) {
  ValueMap loop;
  loop.reserve(9);
  int64_t count = static_cast<int64_t>(items.size());
  int64_t index = static_cast<int64_t>(i);
  loop.set("index", Value::integer(index + 1));
  loop.set("index0", Value::integer(index));
  loop.set("revindex", Value::integer(count - index));
  loop.set("revindex0", Value::integer(count - index - 1));
  loop.set("first", Value::boolean(i == 0));
  loop.set("last", Value::boolean(i + 1 == items.size()));
  loop.set("length", Value::integer(count));
  loop.set("previtem", i > 0 ? items[i - 1] : Value());
  loop.set("nextitem", i + 1 < items.size() ? items[i + 1] : Value());
  return Value::object(std::move(loop));
}

// Calls visit(i) for each position list[start:stop:step] picks, computed as @huggingface/jinja does
// (a zero step picks nothing; a negative step defaults to stop -1, which is taken literally).
template <typename Visit>
void for_each_slice_position(size_t size, const std::optional<int64_t> (&parts)[3], Visit visit) {
  int64_t length = static_cast<int64_t>(size);
  int64_t step = parts[2].value_or(1);
  int64_t start = 0;
  int64_t stop = 0;
  if (step >= 0) {
    start = parts[0].value_or(0);
    start = start < 0 ? std::max<int64_t>(length + start, 0) : std::min(start, length);
    stop = parts[1].value_or(length);
    stop = stop < 0 ? std::max<int64_t>(length + stop, 0) : std::min(stop, length);
  } else {
    start = parts[0].value_or(length - 1);
    start = start < 0 ? std::max<int64_t>(length + start, -1) : std::min(start, length - 1);
    stop = parts[1].value_or(-1);
    stop = stop < -1 ? std::max<int64_t>(length + stop, -1) : std::min(stop, length - 1);
  }
  for (int64_t i = start; step > 0 ? i < stop : step < 0 && i > stop;) {
    visit(static_cast<size_t>(i));
    if (__builtin_add_overflow(i, step, &i)) break;
  }
}

}  // namespace

class DepthGuard {
 public:
  explicit DepthGuard(Interpreter& interpreter) : interpreter_(interpreter) {
    if (++interpreter_.depth_ > kMaxEvaluationDepth) {
      --interpreter_.depth_;
      fail("the template nests or recurses too deeply");
    }
  }
  ~DepthGuard() { --interpreter_.depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  Interpreter& interpreter_;
};

const Value* Scope::lookup(std::string_view name) const {
  for (const Scope* scope = this; scope != nullptr; scope = scope->parent_) {
    auto found = scope->variables_.find(name);
    if (found != scope->variables_.end()) return &found->second;
  }
  return nullptr;
}

Interpreter::~Interpreter() {
  // Namespaces may hold each other (or themselves); emptying them frees such cycles.
  for (Value& ns : namespaces_) ns.namespace_map().clear();
}

void Interpreter::define_globals(Scope& globals) {
  globals.set("true", Value::boolean(true));
  globals.set("false", Value::boolean(false));
  globals.set("none", Value::none());
  globals.set("True", Value::boolean(true));
  globals.set("False", Value::boolean(false));
  globals.set("None", Value::none());
  define_global_functions(*this, globals);
}

std::string Interpreter::render(const Program& program, Scope& globals) {
  std::string out;
  try {
    execute_block(program.body, globals, out);
  } catch (const BreakSignal&) {
    fail("chat template error: {% break %} outside of a loop");
  } catch (const ContinueSignal&) {
    fail("chat template error: {% continue %} outside of a loop");
  }
  return out;
}

void Interpreter::count_step() {
  WorkBudget::charge(WorkBudget::kStatementCost);
}

void Interpreter::append(std::string& out, std::string_view piece) {
  check_string_size(out.size() + piece.size());
  out += piece;
}

// ----- statements -----

void Interpreter::execute_block(const std::vector<Stmt>& body, Scope& scope, std::string& out) {
  for (const Stmt& stmt : body) execute(stmt, scope, out);
}

void Interpreter::execute(const Stmt& stmt, Scope& scope, std::string& out) {
  try {
    DepthGuard guard(*this);
    count_step();
    switch (stmt.kind) {
      case StmtKind::kText:
        append(out, stmt.text);
        return;
      case StmtKind::kOutput: {
        Value value = evaluate(*stmt.expr, scope);
        if (!value.is_none() && !value.is_undefined()) append(out, display_string(value));
        return;
      }
      case StmtKind::kIf:
        execute_if(stmt, scope, out);
        return;
      case StmtKind::kFor:
        execute_for(stmt, scope, out);
        return;
      case StmtKind::kSet:
        execute_set(stmt, scope);
        return;
      case StmtKind::kMacro:
        execute_macro(stmt, scope);
        return;
      case StmtKind::kCallBlock:
        execute_call_block(stmt, scope, out);
        return;
      case StmtKind::kFilterBlock:
        execute_filter_block(stmt, scope, out);
        return;
      case StmtKind::kBreak:
        throw BreakSignal{};
      case StmtKind::kContinue:
        throw ContinueSignal{};
    }
  } catch (const LocatedError&) {
    throw;
  } catch (const Error& error) {
    throw LocatedError(stmt.line, error.what());
  }
}

void Interpreter::execute_if(const Stmt& stmt, Scope& scope, std::string& out) {
  for (const IfBranch& branch : stmt.branches) {
    if (evaluate(*branch.condition, scope).truthy()) return execute_block(branch.body, scope, out);
  }
  execute_block(stmt.else_body, scope, out);
}

void Interpreter::bind_loop_variables(const Expr& target, const Value& item, Scope& scope) {
  if (target.kind == ExprKind::kIdentifier) return scope.set(target.name, item);
  if (!item.is_list()) fail("Cannot unpack non-iterable type: ", item.type_name());
  const ValueList& values = item.as_list();
  if (values.size() != target.operands.size()) {
    fail("Too ", target.operands.size() > values.size() ? "few" : "many", " items to unpack");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const Expr& name = *target.operands[i];
    if (name.kind != ExprKind::kIdentifier) fail("Cannot unpack into something that is not a name");
    scope.set(name.name, values[i]);
  }
}

// The items a loop runs over, as a list: a list, the keys of a dict or (as Python, not
// @huggingface/jinja, allows) the characters of a string, kept by the loop's `if` filter.
Value Interpreter::loop_items(const Stmt& stmt, Scope& loop_scope) {
  Value iterable = evaluate(*stmt.expr, loop_scope);
  if (iterable.is_object()) {
    ValueList keys;
    for (const auto& entry : iterable.as_map().entries()) keys.push_back(Value::string(entry.first));
    iterable = Value::array(std::move(keys));
  } else if (iterable.is_string()) {
    iterable = string_characters(iterable.as_string());
  } else if (!iterable.is_list()) {
    fail("Expected iterable or object type in for loop: got ", iterable.type_name());
  }
  if (!stmt.loop_condition && stmt.target->kind != ExprKind::kTuple) return iterable;
  ValueList picked;
  for (const Value& item : iterable.as_list()) {
    count_step();
    Scope item_scope(&loop_scope);  // binds once up front, so unpacking errors come before any output
    bind_loop_variables(*stmt.target, item, item_scope);
    if (!stmt.loop_condition || evaluate(*stmt.loop_condition, item_scope).truthy()) picked.push_back(item);
  }
  return Value::array(std::move(picked));
}

// As @huggingface/jinja: `loop` describes the items the filter kept, and the else block also runs
// when every iteration ended in {% break %} or {% continue %} before finishing.
void Interpreter::execute_for(const Stmt& stmt, Scope& scope, std::string& out) {
  Scope loop_scope(&scope);
  Value items_value = loop_items(stmt, loop_scope);
  const ValueList& items = items_value.as_list();
  bool iterated = false;
  for (size_t i = 0; i < items.size(); ++i) {
    count_step();
    loop_scope.set("loop", loop_object(items, i));
    bind_loop_variables(*stmt.target, items[i], loop_scope);
    std::string iteration;
    try {
      execute_block(stmt.body, loop_scope, iteration);
    } catch (const ContinueSignal&) {
      continue;
    } catch (const BreakSignal&) {
      break;
    }
    append(out, iteration);
    iterated = true;
  }
  if (!iterated) execute_block(stmt.else_body, loop_scope, out);
}

void Interpreter::execute_filter_block(const Stmt& stmt, Scope& scope, std::string& out) {
  std::string body;
  execute_block(stmt.body, scope, body);
  append(out, display_string(apply_filter(*this, Value::string(std::move(body)), *stmt.expr, scope)));
}

void Interpreter::execute_set(const Stmt& stmt, Scope& scope) {
  Value value;
  if (stmt.expr) {
    value = evaluate(*stmt.expr, scope);
  } else {
    std::string body;
    execute_block(stmt.body, scope, body);
    value = Value::string(std::move(body));
  }
  assign(*stmt.target, value, scope);
}

void Interpreter::assign(const Expr& target, const Value& value, Scope& scope) {
  switch (target.kind) {
    case ExprKind::kIdentifier:
      return scope.set(target.name, value);
    case ExprKind::kTuple: {
      if (!value.is_list()) fail("Cannot unpack non-iterable type in set: ", value.type_name());
      const ValueList& values = value.as_list();
      if (values.size() != target.operands.size()) {
        fail("Too ", target.operands.size() > values.size() ? "few" : "many", " items to unpack in set");
      }
      for (const ExprPtr& name : target.operands) {
        if (name->kind != ExprKind::kIdentifier)
          fail("Cannot unpack into something that is not a name in set");
      }
      for (size_t i = 0; i < values.size(); ++i) scope.set(target.operands[i]->name, values[i]);
      return;
    }
    case ExprKind::kMember: {
      Value object = evaluate(*target.operands[0], scope);
      if (object.kind() != Kind::kNamespace)
        fail("cannot assign an attribute of something that is not a namespace");
      const Expr& property = *target.operands[1];
      if (target.flag || !property.literal.is_string())
        fail("cannot assign to a namespace with [ ] or a number");
      object.namespace_map().set(property.literal.as_string(), value);
      return;
    }
    default:
      fail("invalid target of {% set %}");
  }
}

void Interpreter::execute_macro(const Stmt& stmt, Scope& scope) {
  const Stmt* macro = &stmt;  // the program outlives every render
  scope.set(stmt.text, Value::function(stmt.text, [this, macro](CallArgs& args, Scope& caller_scope) {
              return call_macro(*macro, args, caller_scope);
            }));
}

// A macro body sees the variables of the scope it is called from (as in @huggingface/jinja).
Value Interpreter::call_macro(const Stmt& macro, CallArgs& args, Scope& caller_scope) {
  if (macro_depth_ >= kMaxMacroDepth)
    fail("macro '", macro.text, "' recurses more than ", kMaxMacroDepth, " deep");
  ++macro_depth_;
  struct Restore {
    int& depth;
    ~Restore() { --depth; }
  } restore{macro_depth_};
  Scope macro_scope(&caller_scope);
  bind_arguments("'" + macro.text + "'", macro, args, macro_scope);
  std::string out;
  execute_block(macro.body, macro_scope, out);
  return Value::string(std::move(out));
}

// Binds every parameter before evaluating any default, so defaults can use earlier parameters.
void Interpreter::bind_arguments(const std::string& macro_name, const Stmt& macro, CallArgs& args,
                                 Scope& scope) {
  std::vector<const Expr*> pending_defaults;
  for (size_t i = 0; i < macro.params.size(); ++i) {
    const Expr& param = *macro.params[i];
    const std::string& name = param.name;  // a kIdentifier or a kKeywordArg
    const Value* keyword = args.keyword.find(name);
    if (i < args.positional.size()) {
      scope.set(name, args.positional[i]);
    } else if (keyword != nullptr) {
      scope.set(name, *keyword);
      args.keyword.erase(name);
    } else {
      scope.set(name, Value());
      if (param.kind == ExprKind::kKeywordArg) pending_defaults.push_back(&param);
    }
  }
  if (macro.uses_kwargs) {
    scope.set("kwargs", Value::object(args.keyword));
  } else if (!args.keyword.empty()) {
    fail("macro ", macro_name, " takes no keyword argument '", args.keyword.entries().front().first, "'");
  }
  if (macro.uses_varargs) {
    ValueList extra;
    for (size_t i = macro.params.size(); i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    scope.set("varargs", Value::array(std::move(extra)));
  } else if (args.positional.size() > macro.params.size()) {
    fail("macro ", macro_name, " takes not more than ", macro.params.size(), " argument(s)");
  }
  for (const Expr* param : pending_defaults) scope.set(param->name, evaluate(*param->operands[0], scope));
}

void Interpreter::execute_call_block(const Stmt& stmt, Scope& scope, std::string& out) {
  // caller() renders the block in the scope of the {% call %}; it must not outlive that scope.
  auto alive = std::make_shared<bool>(true);
  struct Expire {
    std::shared_ptr<bool> alive;
    ~Expire() { *alive = false; }
  } expire{alive};
  const Stmt* block = &stmt;
  Scope* block_scope = &scope;
  Value caller = Value::function("caller", [this, block, block_scope, alive](CallArgs& args, Scope&) {
    if (!*alive) fail("caller() was called after its {% call %} block ended");
    Scope body_scope(block_scope);
    bind_arguments("None", *block, args, body_scope);
    std::string body;
    execute_block(block->body, body_scope, body);
    return Value::string(std::move(body));
  });
  const Expr& call_expr = *stmt.expr;
  CallArgs args = evaluate_arguments(call_expr, 1, scope);
  Value callee = evaluate(*call_expr.operands[0], scope);
  Scope call_scope(&scope);
  call_scope.set("caller", caller);
  Value result = call(callee, args, call_scope);
  if (!result.is_none() && !result.is_undefined()) append(out, display_string(result));
}

// ----- expressions -----

Value Interpreter::evaluate(const Expr& expr, Scope& scope) {
  DepthGuard guard(*this);
  switch (expr.kind) {
    case ExprKind::kLiteral:
      return expr.literal;
    case ExprKind::kIdentifier: {
      const Value* value = scope.lookup(expr.name);
      return value ? *value : Value();
    }
    case ExprKind::kArray:
    case ExprKind::kTuple: {
      ValueList items;
      items.reserve(expr.operands.size());
      for (const ExprPtr& item : expr.operands) items.push_back(evaluate(*item, scope));
      return expr.kind == ExprKind::kArray ? Value::array(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::kObject: {
      ValueMap entries;
      for (size_t i = 0; i + 1 < expr.operands.size(); i += 2) {
        Value key = evaluate(*expr.operands[i], scope);
        if (!key.is_string()) fail("Object keys must be strings: got ", key.type_name());
        entries.set(key.as_string(), evaluate(*expr.operands[i + 1], scope));
      }
      return Value::object(std::move(entries));
    }
    case ExprKind::kMember:
      return evaluate_member(expr, scope);
    case ExprKind::kCall: {
      CallArgs args = evaluate_arguments(expr, 1, scope);
      Value callee = evaluate(*expr.operands[0], scope);
      return call(callee, args, scope);
    }
    case ExprKind::kUnary:
      return unary_operation(expr.name, evaluate(*expr.operands[0], scope));
    case ExprKind::kBinary:
      return evaluate_binary(expr, scope);
    case ExprKind::kFilter:
      return apply_filter(*this, evaluate(*expr.operands[0], scope), expr, scope);
    case ExprKind::kTest: {
      bool result = apply_test(expr.name, evaluate(*expr.operands[0], scope));
      return Value::boolean(expr.flag ? !result : result);
    }
    case ExprKind::kSelect:
      return evaluate(*expr.operands[1], scope).truthy() ? evaluate(*expr.operands[0], scope) : Value();
    case ExprKind::kTernary:
      return evaluate(*expr.operands[0], scope).truthy() ? evaluate(*expr.operands[1], scope)
                                                         : evaluate(*expr.operands[2], scope);
    case ExprKind::kSlice:
      fail("a slice is only allowed inside [ ]");
    case ExprKind::kKeywordArg:
    case ExprKind::kSpread:
    case ExprKind::kKeywordSpread:
      fail("argument syntax outside of a call");
  }
  return Value();
}

Value Interpreter::evaluate_binary(const Expr& expr, Scope& scope) {
  Value left = evaluate(*expr.operands[0], scope);
  if (expr.name == "and") return left.truthy() ? evaluate(*expr.operands[1], scope) : left;
  if (expr.name == "or") return left.truthy() ? left : evaluate(*expr.operands[1], scope);
  return binary_operation(expr.name, left, evaluate(*expr.operands[1], scope));
}

CallArgs Interpreter::evaluate_arguments(const Expr& expr, size_t first, Scope& scope) {
  CallArgs args;
  for (size_t i = first; i < expr.operands.size(); ++i) {
    const Expr& arg = *expr.operands[i];
    if (arg.kind == ExprKind::kSpread) {
      Value list = evaluate(*arg.operands[0], scope);
      if (!list.is_list()) fail("Cannot unpack non-iterable type: ", list.type_name());
      for (const Value& item : list.as_list()) args.positional.push_back(item);
    } else if (arg.kind != ExprKind::kKeywordArg && arg.kind != ExprKind::kKeywordSpread) {
      args.positional.push_back(evaluate(arg, scope));
    }
  }
  auto add_keyword = [&](const std::string& name, Value value) {
    if (args.keyword.find(name)) fail("Got multiple values for keyword argument '", name, "'");
    args.keyword.set(name, std::move(value));
  };
  for (size_t i = first; i < expr.operands.size(); ++i) {
    const Expr& arg = *expr.operands[i];
    if (arg.kind == ExprKind::kKeywordArg) {
      add_keyword(arg.name, evaluate(*arg.operands[0], scope));
    } else if (arg.kind == ExprKind::kKeywordSpread) {
      Value dict = evaluate(*arg.operands[0], scope);
      if (!dict.is_object()) fail("Argument after ** must be a mapping, not ", dict.type_name());
      for (const auto& [name, value] : dict.as_map().entries()) add_keyword(name, value);
    }
  }
  return args;
}

Value Interpreter::call(const Value& callee, CallArgs& args, Scope& scope) {
  if (!callee.is_function()) fail("Cannot call something that is not a function: got ", callee.type_name());
  count_step();
  return callee.as_function().call(args, scope);
}

Value Interpreter::evaluate_member(const Expr& expr, Scope& scope) {
  Value object = evaluate(*expr.operands[0], scope);
  const Expr& property = *expr.operands[1];
  if (property.kind == ExprKind::kSlice) return evaluate_slice(object, property, scope);
  return get_member(object, evaluate(property, scope));
}

Value Interpreter::evaluate_slice(const Value& object, const Expr& slice, Scope& scope) {
  if (!object.is_list() && !object.is_string()) fail("Slice object must be an array or string");
  std::optional<int64_t> parts[3];
  static const char* kPartNames[] = {"start", "stop", "step"};
  for (int i = 0; i < 3; ++i) {
    if (!slice.operands[i]) continue;
    Value part = evaluate(*slice.operands[i], scope);
    if (part.is_undefined() || part.is_none()) continue;  // Python allows None; @huggingface/jinja not
    if (part.kind() != Kind::kInt) fail("Slice ", kPartNames[i], " must be numeric or undefined");
    parts[i] = part.as_int();
  }
  if (object.is_list()) {
    ValueList items;
    for_each_slice_position(object.as_list().size(), parts,
                            [&](size_t i) { items.push_back(object.as_list()[i]); });
    return Value::array(std::move(items));
  }
  const std::string& whole = object.as_string();
  WorkBudget::charge(whole.size() * 4);
  std::vector<uint32_t> starts = character_starts(whole);
  std::string text;
  for_each_slice_position(starts.size() - 1, parts,
                          [&](size_t i) { text.append(whole, starts[i], starts[i + 1] - starts[i]); });
  return Value::string(std::move(text));
}

}  // namespace cpm::jinja

// Runs a parsed chat template with @huggingface/jinja's semantics: scopes that macros inherit from
// their caller, loops with `loop`, `{% call %}` / caller(), namespaces, and guards on recursion
// depth, running time and output size so that no template can crash or hang the server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/jinja_ast.h"
#include "server/jinja_value.h"

namespace cpm::jinja {

// Variables of one block (the template, a loop, a macro call); names not found here are looked up
// in the enclosing scope.
class Scope {
 public:
  explicit Scope(Scope* parent = nullptr) : parent_(parent) {}
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  const Value* lookup(std::string_view name) const;
  bool has_own(std::string_view name) const { return variables_.find(name) != variables_.end(); }
  void set(const std::string& name, Value value) { variables_[name] = std::move(value); }

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };
  Scope* parent_;
  std::unordered_map<std::string, Value, NameHash, std::equal_to<>> variables_;
};

// Renders one template once; create one per render call.
class Interpreter {
 public:
  Interpreter() = default;
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Defines true/false/none, namespace(), range(), raise_exception() and strftime_now().
  void define_globals(Scope& globals);
  std::string render(const Program& program, Scope& globals);

  Value evaluate(const Expr& expr, Scope& scope);
  // Evaluates call arguments (positional, *spread, name=value, **spread) starting at operands[first].
  CallArgs evaluate_arguments(const Expr& expr, size_t first, Scope& scope);
  Value call(const Value& callee, CallArgs& args, Scope& scope);
  // Remembers a namespace so the cycles it may take part in are broken when the render ends.
  void track_namespace(const Value& ns) { namespaces_.push_back(ns); }

 private:
  void execute_block(const std::vector<Stmt>& body, Scope& scope, std::string& out);
  void execute(const Stmt& stmt, Scope& scope, std::string& out);
  void execute_if(const Stmt& stmt, Scope& scope, std::string& out);
  Value loop_items(const Stmt& stmt, Scope& loop_scope);
  void execute_for(const Stmt& stmt, Scope& scope, std::string& out);
  void execute_filter_block(const Stmt& stmt, Scope& scope, std::string& out);
  void execute_set(const Stmt& stmt, Scope& scope);
  void execute_macro(const Stmt& stmt, Scope& scope);
  void execute_call_block(const Stmt& stmt, Scope& scope, std::string& out);
  void assign(const Expr& target, const Value& value, Scope& scope);
  void bind_loop_variables(const Expr& target, const Value& item, Scope& scope);
  Value call_macro(const Stmt& macro, CallArgs& args, Scope& caller_scope);
  void bind_arguments(const std::string& macro_name, const Stmt& macro, CallArgs& args, Scope& scope);
  Value evaluate_member(const Expr& expr, Scope& scope);
  Value evaluate_slice(const Value& object, const Expr& slice, Scope& scope);
  Value evaluate_binary(const Expr& expr, Scope& scope);
  static void count_step();
  static void append(std::string& out, std::string_view piece);

  friend class DepthGuard;
  WorkBudget budget_;  // charged by everything this thread does until the render ends
  int depth_ = 0;
  int macro_depth_ = 0;
  std::vector<Value> namespaces_;
};

}  // namespace cpm::jinja

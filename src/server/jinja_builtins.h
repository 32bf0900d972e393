// The built-in behaviour of the template language: operators, attribute and method lookup, filters,
// tests and global functions, each matching @huggingface/jinja (see chat_template.h for the few
// places where we follow Python's Jinja2 instead).
#pragma once

#include <string_view>

#include "server/jinja_ast.h"
#include "server/jinja_interpreter.h"
#include "server/jinja_value.h"

namespace cpm::jinja {

// Operators other than the short-circuiting `and` / `or`.
Value binary_operation(std::string_view op, const Value& left, const Value& right);
Value unary_operation(std::string_view op, const Value& operand);

// `object.name` / `object[key]`: dict entries, list and string items, and the built-in methods
// (str.upper(), dict.items(), ...) as callables bound to `object`.
Value get_member(const Value& object, const Value& property);
// The built-in method `name` of a dict (get, items, keys, values, dictsort) bound to it, or undefined.
Value dict_method(const Value& dict, std::string_view name);
// An attribute path such as "a.b.0", as sort(attribute=...) and map(attribute=...) read it.
Value get_attribute_path(const Value& item, std::string_view path);

// The characters of a string as a list of strings.
Value string_characters(const std::string& text);

// `operand | filter` or `operand | filter(args)`; `filter` is a kFilter expression.
Value apply_filter(Interpreter& interpreter, const Value& operand, const Expr& filter, Scope& scope);
// `operand is name`; `argument` is the compared value of equalto (used by selectattr).
bool apply_test(std::string_view name, const Value& operand, const Value* argument = nullptr);

// namespace(), range(), raise_exception() and strftime_now().
void define_global_functions(Interpreter& interpreter, Scope& globals);

}  // namespace cpm::jinja

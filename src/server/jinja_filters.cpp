// Filters and tests. @huggingface/jinja treats `x|f` and `x|f(...)` as different filters; so do we.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <unordered_set>

#include "core/error.h"
#include "server/jinja_builtins.h"
#include "server/jinja_text.h"

namespace cpm::jinja {
namespace {

std::string indent_lines(const std::string& text, size_t width, bool first, bool blank) {
  std::string indent(width, ' ');
  std::string out;
  size_t line_start = 0;
  for (size_t index = 0;; ++index) {
    size_t line_end = text.find('\n', line_start);
    std::string_view line = std::string_view(text).substr(line_start, line_end - line_start);
    if (index > 0) out += '\n';
    bool keep = (!first && index == 0) || (!blank && line.empty());
    if (!keep) out += indent;
    out += line;
    check_string_size(out.size());
    if (line_end == std::string::npos) return out;
    line_start = line_end + 1;
  }
}

std::string join_values(const ValueList& items, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    if (!items[i].is_none() && !items[i].is_undefined()) out += raw_string(items[i]);  // JS join: null is ""
    check_string_size(out.size());
  }
  return out;
}

// Keeps the first of items that are === to each other (1 and 1.0 alike; lists and dicts by identity).
Value unique(const ValueList& items) {
  WorkBudget::charge(items.size() * 5 * WorkBudget::kComparisonCost);  // a hash-set insert each
  std::unordered_set<double> numbers;
  std::unordered_set<std::string_view> strings;
  std::unordered_set<const void*> references;
  std::unordered_set<int> other_kinds;  // undefined, none, true, false
  ValueList kept;
  for (const Value& item : items) {
    bool fresh = false;
    if (item.is_number()) {
      fresh = numbers.insert(item.as_double()).second;
    } else if (item.is_string()) {
      WorkBudget::charge_scan(item.as_string().size());
      fresh = strings.insert(item.as_string()).second;
    } else if (item.identity() != nullptr) {
      fresh = references.insert(item.identity()).second;
    } else {
      int key = static_cast<int>(item.kind()) * 2 + (item.kind() == Kind::kBool && item.as_bool());
      fresh = other_kinds.insert(key).second;
    }
    if (fresh) kept.push_back(item);
  }
  return Value::array(std::move(kept));
}

// Sorting compares about n log n pairs, each of which may lower-case two strings.
void charge_sort(size_t items) {
  double comparisons = static_cast<double>(items) * (std::log2(static_cast<double>(items) + 1) + 1);
  WorkBudget::charge(static_cast<uint64_t>(comparisons) * WorkBudget::kComparisonCost);
}

Value number_from_string(const std::string& text, bool integer, const Value& fallback) {
  double parsed = 0;
  bool ok = integer ? js_parse_int(text, parsed) : js_parse_float(text, parsed);
  if (!ok) return fallback;
  if (!integer) return Value::number(parsed);
  if (std::fabs(parsed) >= 9.2e18) fail("integer out of range: ", text);
  return Value::integer(static_cast<int64_t>(parsed));
}

Value floor_to_integer(double value) {
  double floored = std::floor(value);
  if (!std::isfinite(floored) || std::fabs(floored) >= 9.2e18)
    fail("cannot convert ", value, " to an integer");
  return Value::integer(static_cast<int64_t>(floored));
}

[[noreturn]] void unknown_filter(std::string_view name, const Value& operand) {
  fail("Unknown filter '", name, "' for ", operand.type_name());
}

std::optional<Value> list_filter(const Value& operand, std::string_view name) {
  const ValueList& items = operand.as_list();
  if (name == "list") return operand;
  if (name == "first") return items.empty() ? Value() : items.front();
  if (name == "last") return items.empty() ? Value() : items.back();
  if (name == "length" || name == "count") return Value::integer(static_cast<int64_t>(items.size()));
  if (name == "reverse") return Value::array(ValueList(items.rbegin(), items.rend()));
  if (name == "sort") {
    charge_sort(items.size());
    ValueList sorted = items;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Value& a, const Value& b) { return compare_values(a, b, false) < 0; });
    return Value::array(std::move(sorted));
  }
  if (name == "join") return Value::string(join_values(items, ""));
  if (name == "string") return Value::string(display_string(operand));
  if (name == "unique") return unique(items);
  return std::nullopt;
}

std::optional<Value> string_filter(const Value& operand, std::string_view name) {
  const std::string& text = operand.as_string();
  WorkBudget::charge_bytes(text.size());  // string filters walk the whole text
  if (name == "length" || name == "count") return Value::integer(static_cast<int64_t>(utf16_length(text)));
  if (name == "upper") return Value::string(to_upper(text));
  if (name == "lower") return Value::string(to_lower(text));
  if (name == "title") return Value::string(title_case(text));
  if (name == "capitalize") return Value::string(capitalize(text));
  if (name == "trim") return Value::string(std::string(js_trim(text)));
  if (name == "indent") return Value::string(indent_lines(text, 4, false, false));
  if (name == "join" || name == "string") return operand;
  if (name == "int") return number_from_string(text, true, Value::integer(0));
  if (name == "float") return number_from_string(text, false, Value::number(0));
  // Python's filters on strings that @huggingface/jinja lacks.
  if (name == "list") return string_characters(text);
  if (name == "first" || name == "last") {
    Value list = string_characters(text);
    const ValueList& characters = list.as_list();
    if (characters.empty()) return Value();
    return name == "first" ? characters.front() : characters.back();
  }
  return std::nullopt;
}

std::optional<Value> number_filter(const Value& operand, std::string_view name) {
  bool is_int = operand.kind() == Kind::kInt;
  if (name == "abs") {
    if (!is_int) return Value::number(std::fabs(operand.as_float()));
    if (operand.as_int() == std::numeric_limits<int64_t>::min()) fail("integer overflow in abs");
    return Value::integer(std::llabs(operand.as_int()));
  }
  if (name == "int") return is_int ? operand : floor_to_integer(operand.as_float());
  if (name == "float") return Value::number(operand.as_double());
  if (name == "string") return Value::string(display_string(operand));
  return std::nullopt;
}

std::optional<Value> bool_filter(const Value& operand, std::string_view name) {
  bool value = operand.as_bool();
  if (name == "bool") return operand;
  if (name == "int") return Value::integer(value ? 1 : 0);
  if (name == "float") return Value::number(value ? 1 : 0);
  if (name == "string") return Value::string(value ? "true" : "false");
  return std::nullopt;
}

// Python's answers where @huggingface/jinja has no filter for undefined, none or a namespace.
std::optional<Value> python_fallback_filter(const Value& operand, std::string_view name) {
  if (operand.is_undefined()) {
    if (name == "string") return Value::string("");
    if (name == "items" || name == "list") return Value::array({});
    if (name == "length" || name == "count") return Value::integer(0);
  }
  if (operand.is_none() && name == "string") return Value::string("None");
  if (operand.kind() == Kind::kNamespace && name == "string") return Value::string(display_string(operand));
  return std::nullopt;
}

Value call_dict_method(const Value& dict, std::string_view name, CallArgs& args, Scope& scope) {
  Value method = dict_method(dict, name);
  if (!method.is_function()) unknown_filter(name, dict);
  return method.as_function().call(args, scope);
}

// `operand | name` without parentheses.
Value plain_filter(const Value& operand, std::string_view name, Scope& scope) {
  if (name == "safe") return operand;
  if (name == "tojson") return Value::string(to_json(operand, JsonOptions{}, true));
  if (name == "default") return operand.is_undefined() ? Value::string("") : operand;  // Python's default('')
  std::optional<Value> result;
  switch (operand.kind()) {
    case Kind::kArray:
    case Kind::kTuple:
      result = list_filter(operand, name);
      break;
    case Kind::kString:
      result = string_filter(operand, name);
      break;
    case Kind::kInt:
    case Kind::kFloat:
      result = number_filter(operand, name);
      break;
    case Kind::kBool:
      result = bool_filter(operand, name);
      break;
    case Kind::kObject: {
      if (name == "length") return Value::integer(static_cast<int64_t>(operand.as_map().size()));
      if (name == "string") return Value::string(display_string(operand));
      CallArgs no_args;
      return call_dict_method(operand, name, no_args, scope);
    }
    default:
      result = python_fallback_filter(operand, name);
  }
  if (!result) unknown_filter(name, operand);
  return *result;
}

Value tojson_filter(const Value& operand, const CallArgs& args) {
  JsonOptions options;
  const Value* indent = args.keyword.find("indent");
  const Value* ensure_ascii = args.keyword.find("ensure_ascii");
  const Value* sort_keys = args.keyword.find("sort_keys");
  const Value* separators = args.keyword.find("separators");
  if (indent && !indent->is_none()) {
    if (indent->kind() != Kind::kInt) fail("If set, indent must be a number");
    if (indent->as_int() < 0 || indent->as_int() > 64) fail("indent must be between 0 and 64");
    options.indent = static_cast<int>(indent->as_int());
  }
  if (ensure_ascii && ensure_ascii->kind() != Kind::kBool) fail("If set, ensure_ascii must be a boolean");
  if (sort_keys && sort_keys->kind() != Kind::kBool) fail("If set, sort_keys must be a boolean");
  options.ensure_ascii = ensure_ascii && ensure_ascii->as_bool();
  options.sort_keys = sort_keys && sort_keys->as_bool();
  if (separators && !separators->is_none()) {
    bool valid = separators->is_list() && separators->as_list().size() == 2 &&
                 separators->as_list()[0].is_string() && separators->as_list()[1].is_string();
    if (!valid) fail("separators must be a tuple of two strings");
    options.has_separators = true;
    options.item_separator = separators->as_list()[0].as_string();
    options.key_separator = separators->as_list()[1].as_string();
  }
  return Value::string(to_json(operand, options, true));
}

Value join_filter(const Value& operand, const CallArgs& args) {
  const Value* separator = args.get(0, "separator");
  if (separator && !separator->is_string()) fail("separator must be a string");
  std::string glue = separator ? separator->as_string() : "";
  if (operand.is_string())
    return Value::string(join_values(string_characters(operand.as_string()).as_list(), glue));
  if (operand.is_list()) return Value::string(join_values(operand.as_list(), glue));
  unknown_filter("join", operand);
}

// int(default) / float(default): numbers pass through unchanged, as in @huggingface/jinja.
Value number_conversion_filter(const Value& operand, bool integer, const CallArgs& args) {
  const Value* fallback = args.get(0, "default");
  Value zero = integer ? Value::integer(0) : Value::number(0);
  if (operand.is_string())
    return number_from_string(operand.as_string(), integer, fallback ? *fallback : zero);
  if (operand.is_number()) return operand;
  if (operand.kind() == Kind::kBool) {
    return integer ? Value::integer(operand.as_bool() ? 1 : 0) : Value::number(operand.as_bool() ? 1 : 0);
  }
  unknown_filter(integer ? "int" : "float", operand);
}

Value default_filter(const Value& operand, const CallArgs& args) {
  const Value* fallback = args.get(0, "default_value");
  const Value* boolean = args.get(1, "boolean");
  if (boolean && boolean->kind() != Kind::kBool) fail("`default` filter flag must be a boolean");
  bool use_default = operand.is_undefined() || (boolean && boolean->as_bool() && !operand.truthy());
  if (!use_default) return operand;
  return fallback ? *fallback : Value::string("");
}

Value sort_filter(const Value& operand, const CallArgs& args) {
  const Value* reverse = args.get(0, "reverse");
  const Value* case_sensitive = args.get(1, "case_sensitive");
  const Value* attribute = args.get(2, "attribute");
  if (reverse && reverse->kind() != Kind::kBool) fail("reverse must be a boolean");
  if (case_sensitive && case_sensitive->kind() != Kind::kBool) fail("case_sensitive must be a boolean");
  bool by_attribute = attribute && !attribute->is_none();
  if (by_attribute && !attribute->is_string() && attribute->kind() != Kind::kInt) {
    fail("attribute must be a string, integer, or null");
  }
  std::string path = !by_attribute            ? ""
                     : attribute->is_string() ? attribute->as_string()
                                              : display_string(*attribute);
  bool descending = reverse && reverse->as_bool();
  bool sensitive = case_sensitive && case_sensitive->as_bool();
  auto key = [&](const Value& item) { return by_attribute ? get_attribute_path(item, path) : item; };
  ValueList sorted = operand.as_list();
  charge_sort(sorted.size());
  std::stable_sort(sorted.begin(), sorted.end(), [&](const Value& a, const Value& b) {
    int order = compare_values(key(a), key(b), sensitive);
    return descending ? order > 0 : order < 0;
  });
  return Value::array(std::move(sorted));
}

// selectattr("attr"[, "test"[, "value"]]) / rejectattr: every argument is a string literal.
Value select_by_attribute(Interpreter& interpreter, const Value& operand, const Expr& filter, Scope& scope) {
  bool select = filter.name == "selectattr";
  for (const Value& item : operand.as_list()) {
    if (!item.is_attribute_container()) fail("`", filter.name, "` can only be applied to array of objects");
  }
  ValueList literals;
  for (size_t i = 1; i < filter.operands.size(); ++i) {
    const Expr& arg = *filter.operands[i];
    if (arg.kind != ExprKind::kLiteral || !arg.literal.is_string())
      fail("arguments of `", filter.name, "` must be strings");
    literals.push_back(interpreter.evaluate(arg, scope));
  }
  if (literals.empty()) fail("`", filter.name, "` needs the name of an attribute");
  ValueList kept;
  for (const Value& item : operand.as_list()) {
    const Value* attribute = item.as_map().find(literals[0].as_string());
    bool passed = false;
    if (attribute != nullptr) {
      passed = literals.size() > 1 ? apply_test(literals[1].as_string(), *attribute,
                                                literals.size() > 2 ? &literals[2] : nullptr)
                                   : attribute->truthy();
    }
    if (passed == select) kept.push_back(item);
  }
  return Value::array(std::move(kept));
}

Value map_filter(const Value& operand, const CallArgs& args, Scope& scope) {
  const Value* attribute = args.keyword.find("attribute");
  if (attribute != nullptr) {
    if (!attribute->is_string()) fail("attribute must be a string");
    const Value* fallback = args.keyword.find("default");
    ValueList mapped;
    for (const Value& item : operand.as_list()) {
      if (!item.is_attribute_container()) fail("items in map must be an object");
      Value value = get_attribute_path(item, attribute->as_string());
      mapped.push_back(value.is_undefined() && fallback ? *fallback : value);
    }
    return Value::array(std::move(mapped));
  }
  if (!args.positional.empty() && args.positional[0].is_string()) {  // Python's map('filter')
    ValueList mapped;
    for (const Value& item : operand.as_list())
      mapped.push_back(plain_filter(item, args.positional[0].as_string(), scope));
    return Value::array(std::move(mapped));
  }
  fail("`map` expressions without `attribute` set are not currently supported.");
}

Value indent_filter(const Value& operand, const CallArgs& args) {
  const Value* width = args.get(0, "width");
  const Value* first = args.get(1, "first");
  const Value* blank = args.get(2, "blank");
  if (width && width->kind() != Kind::kInt) fail("width must be a number");
  int64_t spaces = width ? width->as_int() : 4;
  if (spaces < 0 || spaces > 1024) fail("indent width must be between 0 and 1024");
  return Value::string(indent_lines(operand.as_string(), static_cast<size_t>(spaces),
                                    first && first->truthy(), blank && blank->truthy()));
}

// `operand | name(args)`.
Value called_filter(Interpreter& interpreter, const Value& operand, const Expr& filter, Scope& scope) {
  const std::string& name = filter.name;
  if (operand.is_list() && (name == "selectattr" || name == "rejectattr")) {
    return select_by_attribute(interpreter, operand, filter, scope);
  }
  CallArgs args = interpreter.evaluate_arguments(filter, 1, scope);
  if (name == "tojson") return tojson_filter(operand, args);
  if (name == "join") return join_filter(operand, args);
  if (name == "int" || name == "float") return number_conversion_filter(operand, name == "int", args);
  if (name == "default") return default_filter(operand, args);
  if (operand.is_list()) {
    if (name == "sort") return sort_filter(operand, args);
    if (name == "map") return map_filter(operand, args, scope);
  } else if (operand.is_string()) {
    if (name == "indent") return indent_filter(operand, args);
    if (name == "replace")
      return get_member(operand, Value::string("replace")).as_function().call(args, scope);
  } else if (operand.is_object() && dict_method(operand, name).is_function()) {
    return call_dict_method(operand, name, args, scope);
  }
  // Python accepts `x|length()` for `x|length`; so do we.
  if (args.positional.empty() && args.keyword.empty()) return plain_filter(operand, name, scope);
  unknown_filter(name, operand);
}

}  // namespace

Value string_characters(const std::string& text) {
  // Charged up front: a long string makes many small values.
  WorkBudget::charge(text.size() * (WorkBudget::kStringCost + WorkBudget::kItemCost));
  ValueList characters;
  for_each_character(text, [&](std::string_view c) { characters.push_back(Value::string(std::string(c))); });
  return Value::array(std::move(characters));
}

Value apply_filter(Interpreter& interpreter, const Value& operand, const Expr& filter, Scope& scope) {
  return filter.flag ? called_filter(interpreter, operand, filter, scope)
                     : plain_filter(operand, filter.name, scope);
}

bool apply_test(std::string_view name, const Value& operand, const Value* argument) {
  Kind kind = operand.kind();
  if (name == "defined") return kind != Kind::kUndefined;
  if (name == "undefined") return kind == Kind::kUndefined;
  if (name == "none") return kind == Kind::kNone;
  if (name == "string") return kind == Kind::kString;
  if (name == "number") return operand.is_number();
  if (name == "integer") return kind == Kind::kInt;
  if (name == "float") return kind == Kind::kFloat;  // Python's; @huggingface/jinja has no `float` test
  if (name == "boolean") return kind == Kind::kBool;
  if (name == "true") return kind == Kind::kBool && operand.as_bool();
  if (name == "false") return kind == Kind::kBool && !operand.as_bool();
  if (name == "callable") return kind == Kind::kFunction;
  if (name == "mapping") return kind == Kind::kObject;
  // @huggingface/jinja counts only lists (not tuples) and strings as iterable.
  if (name == "iterable") return kind == Kind::kArray || kind == Kind::kString;
  if (name == "sequence") return operand.is_list() || kind == Kind::kObject || kind == Kind::kString;
  if (name == "lower" || name == "upper") {
    if (kind != Kind::kString) return false;
    WorkBudget::charge_bytes(operand.as_string().size());
    const std::string& text = operand.as_string();
    return text == (name == "lower" ? to_lower(text) : to_upper(text));
  }
  if (name == "odd" || name == "even") {
    if (kind != Kind::kInt) fail("cannot ", name, " on ", operand.type_name());
    bool odd = operand.as_int() % 2 != 0;
    return name == "odd" ? odd : !odd;
  }
  if (name == "equalto" || name == "eq") return argument != nullptr && strict_equals(operand, *argument);
  fail("Unknown test: ", name);
}

}  // namespace cpm::jinja

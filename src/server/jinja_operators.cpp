// Arithmetic, comparison, membership and concatenation, in @huggingface/jinja's order of checks.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "core/error.h"
#include "server/jinja_builtins.h"

namespace cpm::jinja {
namespace {

bool numeric_like(const Value& value) {
  return value.is_number() || value.kind() == Kind::kBool;
}

Value checked_string(std::string text) {
  check_string_size(text.size());
  return Value::string(std::move(text));
}

int64_t checked_integer_power(int64_t base, int64_t exponent) {
  int64_t result = 1;
  for (int64_t i = 0; i < exponent; ++i) {
    if (__builtin_mul_overflow(result, base, &result)) fail("integer overflow in **");
    if (result == 0 || result == 1) break;  // stays put: avoids looping on huge exponents
  }
  if (result == 1 && base == -1 && exponent % 2 == 1) return -1;
  return result;
}

Value power(const Value& left, const Value& right) {
  double a = left.as_double();
  double b = right.as_double();
  if (a == 0 && b < 0) fail("0.0 cannot be raised to a negative power");
  bool is_float = left.kind() == Kind::kFloat || right.kind() == Kind::kFloat || b < 0;
  if (!is_float) {
    auto as_integer = [](const Value& v) {
      return v.kind() == Kind::kBool ? int64_t{v.as_bool()} : v.as_int();
    };
    return Value::integer(checked_integer_power(as_integer(left), as_integer(right)));
  }
  double result = std::pow(a, b);
  if (!std::isfinite(result)) fail("Exponentiation result is not a finite real number");
  return Value::number(result);
}

// Integer + - * // % with Python's floor division but JS's remainder sign, as @huggingface/jinja.
std::optional<Value> integer_arithmetic(std::string_view op, int64_t a, int64_t b) {
  int64_t result = 0;
  if (op == "+" && !__builtin_add_overflow(a, b, &result)) return Value::integer(result);
  if (op == "-" && !__builtin_sub_overflow(a, b, &result)) return Value::integer(result);
  if (op == "*" && !__builtin_mul_overflow(a, b, &result)) return Value::integer(result);
  if (op == "+" || op == "-" || op == "*") fail("integer overflow in ", op);
  if (op == "/") {
    if (b == 0) fail("division by zero");
    return Value::number(static_cast<double>(a) / static_cast<double>(b));
  }
  if (op == "//" || op == "%") {
    if (b == 0) fail(op == "//" ? "division by zero" : "modulo by zero");
    if (b == -1) return op == "%" ? Value::integer(0) : integer_arithmetic("-", 0, a);
    if (op == "%") return Value::integer(a % b);
    int64_t quotient = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) --quotient;
    return Value::integer(quotient);
  }
  return std::nullopt;
}

std::optional<Value> float_arithmetic(std::string_view op, double a, double b) {
  if (op == "+") return Value::number(a + b);
  if (op == "-") return Value::number(a - b);
  if (op == "*") return Value::number(a * b);
  if ((op == "/" || op == "//" || op == "%") && b == 0)
    fail(op == "%" ? "modulo by zero" : "division by zero");
  if (op == "/") return Value::number(a / b);
  if (op == "//") return Value::number(std::floor(a / b));
  if (op == "%") return Value::number(std::fmod(a, b));
  return std::nullopt;
}

std::optional<Value> compare_numbers(std::string_view op, const Value& left, const Value& right) {
  int order = 0;
  if (left.kind() == Kind::kInt && right.kind() == Kind::kInt) {
    order = left.as_int() < right.as_int() ? -1 : left.as_int() > right.as_int() ? 1 : 0;
  } else {
    double a = left.as_double();
    double b = right.as_double();
    if (std::isnan(a) || std::isnan(b)) return Value::boolean(false);
    order = a < b ? -1 : a > b ? 1 : 0;
  }
  if (op == "<") return Value::boolean(order < 0);
  if (op == ">") return Value::boolean(order > 0);
  if (op == "<=") return Value::boolean(order <= 0);
  if (op == ">=") return Value::boolean(order >= 0);
  return std::nullopt;
}

std::optional<Value> number_operation(std::string_view op, const Value& left, const Value& right) {
  if (auto comparison = compare_numbers(op, left, right)) return comparison;
  if (left.kind() == Kind::kInt && right.kind() == Kind::kInt) {
    return integer_arithmetic(op, left.as_int(), right.as_int());
  }
  return float_arithmetic(op, left.as_double(), right.as_double());
}

// Python extras @huggingface/jinja lacks: ordering strings, and repeating a string n times.
std::optional<Value> python_string_operation(std::string_view op, const Value& left, const Value& right) {
  if (left.is_string() && right.is_string()) {
    int order = left.as_string().compare(right.as_string());
    if (op == "<") return Value::boolean(order < 0);
    if (op == ">") return Value::boolean(order > 0);
    if (op == "<=") return Value::boolean(order <= 0);
    if (op == ">=") return Value::boolean(order >= 0);
  }
  if (op == "*" && (left.is_string() != right.is_string())) {
    const Value& text = left.is_string() ? left : right;
    const Value& count = left.is_string() ? right : left;
    if (count.kind() != Kind::kInt) return std::nullopt;
    int64_t times = text.as_string().empty() ? 0 : std::max<int64_t>(count.as_int(), 0);
    check_string_size(text.as_string().size() *
                      static_cast<size_t>(std::min<int64_t>(times, kMaxStringBytes + 1)));
    std::string repeated;
    for (int64_t i = 0; i < times; ++i) repeated += text.as_string();
    return Value::string(std::move(repeated));
  }
  return std::nullopt;
}

}  // namespace

Value binary_operation(std::string_view op, const Value& left, const Value& right) {
  if (op == "==") return Value::boolean(loose_equals(left, right));
  if (op == "!=") return Value::boolean(!loose_equals(left, right));
  if (left.is_undefined() || right.is_undefined()) {
    if (right.is_undefined() && (op == "in" || op == "not in")) return Value::boolean(op == "not in");
    fail("Cannot perform operation ", op, " on undefined values");
  }
  if (left.is_none() || right.is_none()) fail("Cannot perform operation ", op, " on null values");
  if (op == "~") return checked_string(raw_string(left) + raw_string(right));
  if (op == "**" && numeric_like(left) && numeric_like(right)) return power(left, right);
  if (left.is_number() && right.is_number()) {
    if (auto result = number_operation(op, left, right)) return *result;
  } else if (left.is_list() && right.is_list()) {
    if (op == "+") {
      ValueList joined = left.as_list();
      joined.insert(joined.end(), right.as_list().begin(), right.as_list().end());
      return Value::array(std::move(joined));
    }
  } else if (right.is_list() && (op == "in" || op == "not in")) {
    WorkBudget::charge_items(right.as_list().size());
    bool member = false;
    for (const Value& item : right.as_list()) member = member || strict_equals(item, left);
    return Value::boolean(op == "in" ? member : !member);
  }
  if ((left.is_string() || right.is_string()) && op == "+") {
    return checked_string(raw_string(left) + raw_string(right));
  }
  if (left.is_string() && right.is_string() && (op == "in" || op == "not in")) {
    WorkBudget::charge_scan(right.as_string().size());
    bool contained = right.as_string().find(left.as_string()) != std::string::npos;
    return Value::boolean(op == "in" ? contained : !contained);
  }
  if (left.is_string() && right.is_object() && (op == "in" || op == "not in")) {
    WorkBudget::charge_scan(left.as_string().size());
    bool has_key = right.as_map().find(left.as_string()) != nullptr;
    return Value::boolean(op == "in" ? has_key : !has_key);
  }
  if (auto result = python_string_operation(op, left, right)) return *result;
  fail("Unknown operator \"", op, "\" between ", left.type_name(), " and ", right.type_name());
}

Value unary_operation(std::string_view op, const Value& operand) {
  if (op == "not") return Value::boolean(!operand.truthy());
  if (op != "-" && op != "+") fail("Unknown operator: ", op);
  bool negate = op == "-";
  switch (operand.kind()) {
    case Kind::kFloat:
      return Value::number(negate ? -operand.as_float() : operand.as_float());
    case Kind::kBool:
      return Value::integer(negate ? -int64_t{operand.as_bool()} : int64_t{operand.as_bool()});
    case Kind::kInt:
      if (negate && operand.as_int() == std::numeric_limits<int64_t>::min()) fail("integer overflow in -");
      return Value::integer(negate ? -operand.as_int() : operand.as_int());
    default:
      fail("Unknown operator \"", op, "\" for ", operand.type_name());
  }
}

}  // namespace cpm::jinja

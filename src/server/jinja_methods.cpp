// Attribute lookup, the methods of strings and dicts, and the global functions.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <optional>
#include <string>

#include "core/error.h"
#include "server/jinja_builtins.h"
#include "server/jinja_text.h"

namespace cpm::jinja {
namespace {

constexpr int64_t kMaxRangeLength = 1'000'000;

Value bound(std::string name, std::function<Value(CallArgs&)> body) {
  return Value::function(std::move(name),
                         [body = std::move(body)](CallArgs& args, Scope&) { return body(args); });
}

// str.startswith(prefix) / str.endswith(suffix), also with a tuple of strings.
bool matches_affix(const std::string& text, const CallArgs& args, bool prefix, const char* method) {
  auto matches = [&](const std::string& affix) {
    if (affix.size() > text.size()) return false;
    return prefix ? text.compare(0, affix.size(), affix) == 0
                  : text.compare(text.size() - affix.size(), affix.size(), affix) == 0;
  };
  if (args.positional.empty()) fail(method, "() requires at least one argument");
  const Value& pattern = args.positional[0];
  if (pattern.is_string()) return matches(pattern.as_string());
  if (!pattern.is_list()) fail(method, "() argument must be a string or tuple of strings");
  for (const Value& item : pattern.as_list()) {
    if (!item.is_string()) fail(method, "() tuple elements must be strings");
    if (matches(item.as_string())) return true;
  }
  return false;
}

// str.strip() and friends: JS whitespace without an argument; Python strips the given characters.
Value strip(const std::string& text, const CallArgs& args, bool start, bool end) {
  const Value* chars = args.get(0, "chars");
  if (chars != nullptr && chars->is_string())
    return Value::string(std::string(strip_characters(text, chars->as_string(), start, end)));
  std::string_view trimmed = text;
  if (start) trimmed = js_trim_start(trimmed);
  if (end) trimmed = js_trim_end(trimmed);
  return Value::string(std::string(trimmed));
}

// Calls visit(part) for each part of Python's str.split(sep, maxsplit); no `sep` splits on whitespace.
template <typename Visit>
void for_each_split_part(std::string_view text, const std::string* separator, int64_t maxsplit, Visit visit) {
  int64_t parts = 0;
  if (separator == nullptr) {
    std::string_view rest = js_trim_start(text);
    while (!rest.empty()) {
      if (maxsplit >= 0 && parts >= maxsplit) return visit(rest);
      size_t word_end = 0;
      while (word_end < rest.size() && !is_js_space(decode_utf8(rest, word_end).code_point)) {
        word_end += decode_utf8(rest, word_end).length;
      }
      visit(rest.substr(0, word_end));
      ++parts;
      rest = js_trim_start(rest.substr(word_end));
    }
    return;
  }
  size_t start = 0;
  for (size_t found = text.find(*separator);
       found != std::string_view::npos && (maxsplit < 0 || parts < maxsplit);
       found = text.find(*separator, start)) {
    visit(text.substr(start, found - start));
    ++parts;
    start = found + separator->size();
  }
  visit(text.substr(start));
}

// Python str.split(sep=None, maxsplit=-1).
Value split(const std::string& text, const CallArgs& args) {
  const Value* sep = args.get(0, "sep");
  const Value* maxsplit = args.get(1, "maxsplit");
  if (sep != nullptr && !sep->is_string() && !sep->is_none()) fail("sep argument must be a string or null");
  if (maxsplit != nullptr && maxsplit->kind() != Kind::kInt) fail("maxsplit argument must be a number");
  const std::string* separator = sep && sep->is_string() ? &sep->as_string() : nullptr;
  if (separator && separator->empty()) fail("empty separator");
  int64_t limit = maxsplit ? maxsplit->as_int() : -1;
  size_t count = 0;
  for_each_split_part(text, separator, limit, [&](std::string_view) { ++count; });
  WorkBudget::charge(count * (WorkBudget::kStringCost + WorkBudget::kItemCost));  // before allocating
  ValueList parts;
  parts.reserve(count);
  for_each_split_part(text, separator, limit,
                      [&](std::string_view part) { parts.push_back(Value::string(std::string(part))); });
  return Value::array(std::move(parts));
}

// str.replace(old, new, count=None); an empty `old` inserts `new` around every character.
Value replace(const std::string& text, const CallArgs& args) {
  if (args.positional.size() < 2) fail("replace() requires at least two arguments");
  const Value& old_value = args.positional[0];
  const Value& new_value = args.positional[1];
  if (!old_value.is_string() || !new_value.is_string()) fail("replace() arguments must be strings");
  const Value* count_arg = args.get(2, "count");
  if (count_arg != nullptr && count_arg->kind() != Kind::kInt && !count_arg->is_none()) {
    fail("replace() count argument must be a number or null");
  }
  int64_t remaining = count_arg && count_arg->kind() == Kind::kInt && count_arg->as_int() >= 0
                          ? count_arg->as_int()
                          : std::numeric_limits<int64_t>::max();
  const std::string& from = old_value.as_string();
  const std::string& to = new_value.as_string();
  std::string out;
  if (from.empty()) {
    for_each_character(text, [&](std::string_view character) {
      if (remaining > 0) out += to, --remaining;
      out += character;
      check_string_size(out.size());
    });
    if (remaining > 0) out += to;
    return Value::string(std::move(out));
  }
  size_t start = 0;
  for (size_t found = text.find(from); found != std::string::npos && remaining > 0;
       found = text.find(from, start)) {
    out.append(text, start, found - start);
    out += to;
    check_string_size(out.size());
    start = found + from.size();
    --remaining;
  }
  out.append(text, start);
  check_string_size(out.size());
  return Value::string(std::move(out));
}

using StringMethod = Value (*)(const std::string& text, CallArgs& args);

StringMethod find_string_method(std::string_view name) {
  if (name == "upper") return [](const std::string& t, CallArgs&) { return Value::string(to_upper(t)); };
  if (name == "lower") return [](const std::string& t, CallArgs&) { return Value::string(to_lower(t)); };
  if (name == "title") return [](const std::string& t, CallArgs&) { return Value::string(title_case(t)); };
  if (name == "capitalize")
    return [](const std::string& t, CallArgs&) { return Value::string(capitalize(t)); };
  if (name == "strip") return [](const std::string& t, CallArgs& a) { return strip(t, a, true, true); };
  if (name == "lstrip") return [](const std::string& t, CallArgs& a) { return strip(t, a, true, false); };
  if (name == "rstrip") return [](const std::string& t, CallArgs& a) { return strip(t, a, false, true); };
  if (name == "split") return [](const std::string& t, CallArgs& a) { return split(t, a); };
  if (name == "replace") return [](const std::string& t, CallArgs& a) { return replace(t, a); };
  if (name == "startswith") {
    return [](const std::string& t, CallArgs& a) {
      return Value::boolean(matches_affix(t, a, true, "startswith"));
    };
  }
  if (name == "endswith") {
    return [](const std::string& t, CallArgs& a) {
      return Value::boolean(matches_affix(t, a, false, "endswith"));
    };
  }
  return nullptr;
}

// `text.name`: the length, or a method bound to the string (which is shared, not copied).
Value string_member(const Value& text, std::string_view name) {
  if (name == "length") {
    WorkBudget::charge_bytes(text.as_string().size());
    return Value::integer(static_cast<int64_t>(utf16_length(text.as_string())));
  }
  StringMethod method = find_string_method(name);
  if (method == nullptr) return Value();
  bool walks_text = name != "startswith" && name != "endswith";
  return bound(std::string(name), [text, method, walks_text](CallArgs& args) {
    if (walks_text) WorkBudget::charge_bytes(text.as_string().size());
    return method(text.as_string(), args);
  });
}

Value dict_items(const Value& dict) {
  ValueList pairs;
  for (const auto& [key, value] : dict.as_map().entries())
    pairs.push_back(Value::array({Value::string(key), value}));
  return Value::array(std::move(pairs));
}

Value dictsort(const Value& dict, const CallArgs& args) {
  const Value* case_sensitive = args.get(0, "case_sensitive");
  const Value* by = args.get(1, "by");
  const Value* reverse = args.get(2, "reverse");
  if (case_sensitive && case_sensitive->kind() != Kind::kBool) fail("case_sensitive must be a boolean");
  if (by && !by->is_string()) fail("by must be a string");
  if (by && by->as_string() != "key" && by->as_string() != "value")
    fail("by must be either 'key' or 'value'");
  if (reverse && reverse->kind() != Kind::kBool) fail("reverse must be a boolean");
  size_t index = by && by->as_string() == "value" ? 1 : 0;
  bool sensitive = case_sensitive && case_sensitive->as_bool();
  bool descending = reverse && reverse->as_bool();
  ValueList pairs = dict_items(dict).as_list();
  WorkBudget::charge(pairs.size() * 20 * WorkBudget::kComparisonCost);  // about n log n comparisons
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& a, const Value& b) {
    int order = compare_values(a.as_list()[index], b.as_list()[index], sensitive);
    return descending ? order > 0 : order < 0;
  });
  return Value::array(std::move(pairs));
}

Value bound_dict_method(const Value& dict, std::string_view name) {
  std::string method(name);
  if (name == "get") {
    return bound(method, [dict](CallArgs& args) {
      const Value* key = args.positional.empty() ? nullptr : &args.positional[0];
      if (key == nullptr || !key->is_string()) {
        fail("Object key must be a string: got ", key ? key->type_name() : "UndefinedValue");
      }
      if (const Value* found = dict.as_map().find(key->as_string())) return *found;
      return args.positional.size() > 1 ? args.positional[1] : Value::none();
    });
  }
  if (name == "items") return bound(method, [dict](CallArgs&) { return dict_items(dict); });
  if (name == "keys") {
    return bound(method, [dict](CallArgs&) {
      ValueList keys;
      for (const auto& entry : dict.as_map().entries()) keys.push_back(Value::string(entry.first));
      return Value::array(std::move(keys));
    });
  }
  if (name == "values") {
    return bound(method, [dict](CallArgs&) {
      ValueList values;
      for (const auto& entry : dict.as_map().entries()) values.push_back(entry.second);
      return Value::array(std::move(values));
    });
  }
  if (name == "dictsort") return bound(method, [dict](CallArgs& args) { return dictsort(dict, args); });
  return Value();
}

Value item_at(const Value& sequence, int64_t index) {
  if (sequence.is_string()) {
    std::optional<std::string_view> character = character_at(sequence.as_string(), index);
    return character ? Value::string(std::string(*character)) : Value();
  }
  const ValueList& items = sequence.as_list();
  int64_t size = static_cast<int64_t>(items.size());
  if (index < 0) index += size;
  if (index < 0 || index >= size) return Value();
  return items[static_cast<size_t>(index)];
}

Value make_namespace(Interpreter& interpreter, CallArgs& args) {
  if (args.positional.size() > 1) fail("namespace expected at most 1 argument, got ", args.positional.size());
  ValueMap entries;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_object()) {
      for (const auto& [key, value] : source.as_map().entries()) entries.set(key, value);
    } else if (source.is_list()) {
      for (const Value& pair : source.as_list()) {
        bool is_pair = pair.is_list() && pair.as_list().size() == 2;
        if (!is_pair) fail("namespace expected an object or an iterable of [key, value] pairs");
        if (!pair.as_list()[0].is_string()) fail("namespace keys must be strings");
        entries.set(pair.as_list()[0].as_string(), pair.as_list()[1]);
      }
    } else {
      fail("'", source.type_name(), "' object is not iterable");
    }
  }
  for (const auto& [key, value] : args.keyword.entries()) entries.set(key, value);
  Value ns = Value::make_namespace(std::move(entries));
  interpreter.track_namespace(ns);
  return ns;
}

Value range(CallArgs& args) {
  if (args.positional.empty() || args.positional.size() > 3) fail("range() takes 1 to 3 arguments");
  for (const Value& bound : args.positional) {
    if (bound.kind() != Kind::kInt) fail("range() arguments must be integers, got ", bound.type_name());
  }
  bool only_stop = args.positional.size() == 1;
  int64_t start = only_stop ? 0 : args.positional[0].as_int();
  int64_t stop = only_stop ? args.positional[0].as_int() : args.positional[1].as_int();
  int64_t step = args.positional.size() == 3 ? args.positional[2].as_int() : 1;
  if (step == 0) fail("range() step must not be zero");
  double length =
      std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step));
  if (length > static_cast<double>(kMaxRangeLength))
    fail("range() of more than ", kMaxRangeLength, " numbers");
  ValueList numbers;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) numbers.push_back(Value::integer(i));
  return Value::array(std::move(numbers));
}

Value raise_exception(CallArgs& args) {
  std::string message;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i > 0) message += ',';
    const Value& part = args.positional[i];
    if (!part.is_none() && !part.is_undefined()) message += raw_string(part);
  }
  fail("raise_exception: ", message);
}

// strftime_now(format) with the directives @huggingface/jinja knows: %Y %m %d %b %B %H %M %%.
Value strftime_now(CallArgs& args) {
  if (args.positional.empty() || !args.positional[0].is_string())
    fail("strftime_now() needs a format string");
  static const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  auto two_digits = [](int n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  const std::string& format = args.positional[0].as_string();
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    char directive = i + 1 < format.size() && format[i] == '%' ? format[i + 1] : '\0';
    std::string replacement;
    switch (directive) {
      case 'Y':
        replacement = std::to_string(local.tm_year + 1900);
        break;
      case 'm':
        replacement = two_digits(local.tm_mon + 1);
        break;
      case 'd':
        replacement = two_digits(local.tm_mday);
        break;
      case 'b':
        replacement = std::string(kMonths[local.tm_mon]).substr(0, 3);
        break;
      case 'B':
        replacement = kMonths[local.tm_mon];
        break;
      case 'H':
        replacement = two_digits(local.tm_hour);
        break;
      case 'M':
        replacement = two_digits(local.tm_min);
        break;
      case '%':
        replacement = "%";
        break;
      default:
        out += format[i];
        continue;
    }
    out += replacement;
    ++i;
  }
  return Value::string(std::move(out));
}

}  // namespace

Value get_member(const Value& object, const Value& property) {
  if (object.is_attribute_container()) {
    if (!property.is_string()) return Value();  // Python gives undefined; @huggingface/jinja an error
    WorkBudget::charge_scan(property.as_string().size());
    if (const Value* found = object.as_map().find(property.as_string())) return *found;
    return object.is_object() ? bound_dict_method(object, property.as_string()) : Value();
  }
  if (object.is_list() || object.is_string()) {
    if (property.kind() == Kind::kInt) return item_at(object, property.as_int());
    if (!property.is_string())
      fail("Cannot access property with non-string/non-number: got ", property.type_name());
    if (object.is_string()) return string_member(object, property.as_string());
    if (property.as_string() == "length")
      return Value::integer(static_cast<int64_t>(object.as_list().size()));
    return Value();
  }
  if (!property.is_string()) fail("Cannot access property with non-string: got ", property.type_name());
  return Value();
}

Value dict_method(const Value& dict, std::string_view name) {
  return bound_dict_method(dict, name);
}

Value get_attribute_path(const Value& item, std::string_view path) {
  Value value = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part(
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (value.is_attribute_container()) {
      const Value* found = value.as_map().find(part);
      value = found ? *found : Value();
    } else if (value.is_list()) {
      double index = 0;
      bool numeric = js_parse_int(part, index);
      if (!numeric || index < 0 || index >= static_cast<double>(value.as_list().size())) return Value();
      value = value.as_list()[static_cast<size_t>(index)];
    } else {
      return Value();
    }
    if (dot == std::string_view::npos) return value;
    start = dot + 1;
  }
}

void define_global_functions(Interpreter& interpreter, Scope& globals) {
  globals.set("namespace", Value::function("namespace", [&interpreter](CallArgs& args, Scope&) {
                return make_namespace(interpreter, args);
              }));
  globals.set("range", bound("range", range));
  globals.set("raise_exception", bound("raise_exception", raise_exception));
  globals.set("strftime_now", bound("strftime_now", strftime_now));
}

}  // namespace cpm::jinja

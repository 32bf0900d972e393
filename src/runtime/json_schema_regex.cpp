#include "runtime/json_schema_regex.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "runtime/number_range_regex.h"
#include "runtime/regex_building.h"
#include "runtime/regex_nfa.h"

namespace cpm {

namespace {

using nlohmann::ordered_json;

// At most 16 blanks or newlines between tokens: room for indented JSON, none for a model to loop on.
const std::string kWhitespace = "[ \\t\\n\\r]{0,16}";
// \u escapes name a character: a code point outside the surrogates, or a high and low surrogate pair
// (a lone surrogate is not text, and JSON parsers refuse it).
const std::string kUnicodeEscape =
    "u([0-9a-cA-CefEF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}|[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-"
    "9a-fA-F]{2})";
const std::string kStringCharacter =
    cat({"([^\"\\\\\\x00-\\x1F]|\\\\([\"\\\\/bfnrt]|", kUnicodeEscape, "))"});
const std::string kString = cat({"\"", kStringCharacter, "*\""});
const std::string kUnsignedNumber = "(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?";
const std::string kDate = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
const std::string kTime =
    "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?";
// A class of no character: matches nothing (where a recursive reference may go no deeper).
const std::string kNothing = "[^\\x00-\U0010FFFF]";
const std::string kIdentifier = "[A-Za-z_][A-Za-z0-9_]*";
const std::string kUuid = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

bool is_identifier(std::string_view name) {
  auto letter = [](char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (name.empty() || !letter(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

// How true, false and null are written: as JSON, or also as Python's True, False and None (the
// arguments of a Python call, where a model may write either).
enum class LiteralSyntax { kJson, kJsonOrPython };

// Whether any text leads from the start to the accepting state.
bool matches_something(const RegexNfa& nfa) {
  std::vector<bool> seen(nfa.states.size(), false);
  std::vector<int32_t> stack{nfa.start};
  seen[nfa.start] = true;
  while (!stack.empty()) {
    const int32_t state = stack.back();
    stack.pop_back();
    if (state == nfa.accept) return true;
    auto visit = [&](int32_t next) {
      if (!seen[next]) seen[next] = true, stack.push_back(next);
    };
    for (int32_t next : nfa.states[state].epsilons) visit(next);
    for (const RegexNfa::Edge& edge : nfa.states[state].edges) visit(edge.target);
  }
  return false;
}

class SchemaConverter {
 public:
  explicit SchemaConverter(const ordered_json& root, LiteralSyntax syntax = LiteralSyntax::kJson)
      : root_(root), python_(syntax == LiteralSyntax::kJsonOrPython) {}

  std::string convert(const ordered_json& schema) {
    struct Nesting {  // how deep in the schema this call is
      explicit Nesting(int* depth) : depth_(depth) { ++*depth_; }
      ~Nesting() { --*depth_; }
      int* depth_;
    } nesting(&nesting_);
    if (nesting_ > kMaxNesting) fail("JSON schema: nested deeper than ", kMaxNesting, " levels");
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) fail("JSON schema: `false` allows no value");
      return open_value();
    }
    if (!schema.is_object())
      fail("JSON schema: a schema must be an object or a boolean, got ", schema.dump());
    check_keywords(schema);
    std::string regex = convert_object_schema(schema);
    if (schema.value("nullable", false)) regex = alternatives({regex, null_value()});
    return regex;
  }

  std::string boolean_value() const { return python_ ? "(true|false|True|False)" : "(true|false)"; }
  std::string null_value() const { return python_ ? "(null|None)" : "null"; }

  std::string any_value(int depth) const {
    std::vector<std::string> options{kString, cat({"-?", kUnsignedNumber}), boolean_value(), null_value()};
    if (depth > 0) {
      const std::string inner = any_value(depth - 1);
      options.push_back(map_of(inner));
      options.push_back(list_of(inner, 0, std::nullopt));
    }
    return alternatives(options);
  }

  // Any value where a schema says nothing: one level less deep below the top, so a schema with
  // several open properties stays within the automaton's size.
  std::string open_value() const { return any_value(nesting_ <= 1 ? kAnyValueDepth : kAnyValueDepth - 1); }

  // An object with any string keys whose values match `value`.
  static std::string map_of(const std::string& value) {
    const std::string member = cat({kString, kWhitespace, ":", kWhitespace, value});
    return cat({"\\{", kWhitespace, "(", member, "(", kWhitespace, ",", kWhitespace, member, ")*)?",
                kWhitespace, "\\}"});
  }

  static std::string list_of(const std::string& item, int64_t min_items, std::optional<int64_t> max_items) {
    const std::string open = cat({"\\[", kWhitespace}), close = cat({kWhitespace, "\\]"});
    if (max_items && *max_items == 0) return cat({open, close});
    const std::string more = cat({"(", kWhitespace, ",", kWhitespace, item, ")"});
    const std::string repeat = cat({"{", std::to_string(std::max<int64_t>(min_items - 1, 0)), ",",
                                    max_items ? std::to_string(*max_items - 1) : "", "}"});
    const std::string items = cat({item, more, repeat});
    return cat({open, min_items == 0 ? cat({"(", items, ")?"}) : items, close});
  }

 private:
  static void check_keywords(const ordered_json& schema) {
    static const std::set<std::string> kSupported = {
        "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "properties",
        "required", "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength",
        "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "nullable",
        // annotations: they do not constrain the value
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "readOnly", "writeOnly",
        "deprecated"};
    for (auto it = schema.begin(); it != schema.end(); ++it) {
      if (!kSupported.contains(it.key())) fail("JSON schema keyword '", it.key(), "' is not supported");
    }
  }

  std::string convert_object_schema(const ordered_json& schema) {
    if (schema.contains("$ref")) return reference(schema["$ref"]);
    if (schema.contains("const")) return literal(schema["const"]);
    if (schema.contains("enum")) {
      if (!schema["enum"].is_array() || schema["enum"].empty())
        fail("JSON schema: 'enum' must be a non-empty list");
      std::vector<std::string> options;
      for (const ordered_json& value : schema["enum"]) options.push_back(literal(value));
      return alternatives(options);
    }
    for (const char* key : {"anyOf", "oneOf", "allOf"}) {
      if (!schema.contains(key)) continue;
      const ordered_json& list = schema[key];
      if (!list.is_array() || list.empty()) fail("JSON schema: '", key, "' must be a non-empty list");
      if (std::string(key) == "allOf" && list.size() != 1)
        fail("JSON schema: 'allOf' with more than one schema is not supported");
      std::vector<std::string> options;
      for (const ordered_json& option : list) options.push_back(convert(option));
      return alternatives(options);
    }
    if (!schema.contains("type")) {
      if (schema.contains("properties") || schema.contains("additionalProperties"))
        return typed(schema, "object");
      if (schema.contains("items")) return typed(schema, "array");
      return open_value();
    }
    const ordered_json& type = schema["type"];
    if (type.is_string()) return typed(schema, type.get<std::string>());
    if (!type.is_array() || type.empty()) fail("JSON schema: 'type' must be a string or a non-empty list");
    std::vector<std::string> options;
    for (const ordered_json& one : type) {
      if (!one.is_string()) fail("JSON schema: 'type' must list type names");
      options.push_back(typed(schema, one.get<std::string>()));
    }
    return alternatives(options);
  }

  std::string literal(const ordered_json& value) const {
    if (value.is_boolean() && python_)
      return group(cat({value.dump(), "|", value.get<bool>() ? "True" : "False"}));
    if (value.is_null()) return null_value();
    return group(regex_escape(value.dump()));
  }

  std::string reference(const ordered_json& ref) {
    if (!ref.is_string()) fail("JSON schema: '$ref' must be a string");
    const std::string path = ref.get<std::string>();
    if (!path.starts_with("#/"))
      fail("JSON schema: only local references (#/...) are supported, got '", path, "'");
    const ordered_json* target = &root_;
    size_t at = 2;
    while (at <= path.size()) {
      size_t end = path.find('/', at);
      if (end == std::string::npos) end = path.size();
      std::string name;  // a JSON pointer token: ~1 is '/', ~0 is '~'
      for (size_t k = at; k < end; ++k) {
        const bool escaped = path[k] == '~' && k + 1 < end;
        name += escaped ? (path[k + 1] == '1' ? '/' : '~') : path[k];
        k += escaped ? 1 : 0;
      }
      if (!target->is_object() || !target->contains(name))
        fail("JSON schema: '$ref' ", path, " does not resolve");
      target = &(*target)[name];
      at = end + 1;
    }
    // A recursive schema is expanded kMaxRefDepth levels deep; one level further the reference
    // allows nothing, which drops the optional properties, options and array items that would nest
    // deeper (the constraint narrows, it never loosens).
    int& open = open_references_[path];
    if (open >= kMaxRefDepth) return kNothing;
    ++open;
    std::string regex = convert(*target);
    --open;
    return regex;
  }

  static std::optional<double> real_bound(const ordered_json& schema, const char* key) {
    if (!schema.contains(key)) return std::nullopt;
    const ordered_json& value = schema[key];
    if (!value.is_number()) fail("JSON schema: '", key, "' must be a number");
    const double number = value.get<double>();
    if (std::abs(number) > static_cast<double>(kMaxNumberBound))
      fail("JSON schema: '", key, "' beyond 1e18 is not supported");
    return number;
  }

  // A count (length, items): a non-negative integer.
  static std::optional<int64_t> count(const ordered_json& schema, const char* key) {
    if (!schema.contains(key)) return std::nullopt;
    if (!schema[key].is_number_unsigned()) fail("JSON schema: '", key, "' must be a non-negative integer");
    const auto value = schema[key].get<uint64_t>();
    if (value > 100000) fail("JSON schema: '", key, "' above 100000 is not supported");
    return static_cast<int64_t>(value);
  }

  static std::string integer_value(const ordered_json& schema) {
    std::optional<int64_t> low, high;
    auto tighten = [](std::optional<int64_t>& current, double candidate, bool is_max) {
      const auto value = static_cast<int64_t>(candidate);
      if (!current || (is_max ? value < *current : value > *current)) current = value;
    };
    if (auto v = real_bound(schema, "minimum")) tighten(low, std::ceil(*v), false);
    if (auto v = real_bound(schema, "exclusiveMinimum")) tighten(low, std::floor(*v) + 1, false);
    if (auto v = real_bound(schema, "maximum")) tighten(high, std::floor(*v), true);
    if (auto v = real_bound(schema, "exclusiveMaximum")) tighten(high, std::ceil(*v) - 1, true);
    return integer_range_regex(low ? &*low : nullptr, high ? &*high : nullptr);
  }

  // Unbounded numbers may take an exponent; bounded ones are written without one, so that the range
  // can be decided digit by digit.
  static std::string number_value(const ordered_json& schema) {
    std::optional<NumberBound> low, high;
    // Of minimum and exclusiveMinimum (or the maxima) the tighter applies; equal, the exclusive one.
    auto tighten = [&schema](std::optional<NumberBound>& bound, const char* key, bool inclusive,
                             bool is_max) {
      if (!schema.contains(key)) return;
      if (!schema[key].is_number()) fail("JSON schema: '", key, "' must be a number");
      const double value = schema[key].get<double>();
      if (bound) {
        const double current = ordered_json::parse(bound->number).get<double>();
        if (is_max ? value > current : value < current) return;
        if (value == current && !inclusive) bound->inclusive = false;
        if (value == current) return;
      }
      bound = NumberBound{schema[key].dump(), inclusive};
    };
    tighten(low, "minimum", true, false);
    tighten(low, "exclusiveMinimum", false, false);
    tighten(high, "maximum", true, true);
    tighten(high, "exclusiveMaximum", false, true);
    if (!low && !high) return cat({"-?", kUnsignedNumber});
    return number_range_regex(low, high);
  }

  static std::string string_value(const ordered_json& schema) {
    if (schema.contains("format")) {
      const std::string format = schema["format"].is_string() ? schema["format"].get<std::string>() : "";
      if (format == "date") return cat({"\"", kDate, "\""});
      if (format == "time") return cat({"\"", kTime, "\""});
      if (format == "date-time") return cat({"\"", kDate, "T", kTime, "\""});
      if (format == "uuid") return cat({"\"", kUuid, "\""});
      fail("JSON schema: string format '", schema["format"].dump(),
           "' is not supported (date, time, date-time, uuid)");
    }
    if (schema.contains("pattern")) {
      if (!schema["pattern"].is_string()) fail("JSON schema: 'pattern' must be a string");
      std::string pattern = schema["pattern"].get<std::string>();
      if (pattern.starts_with("^")) pattern.erase(0, 1);
      if (pattern.ends_with("$") && !pattern.ends_with("\\$")) pattern.pop_back();
      return cat({"\"", group(pattern), "\""});
    }
    const int64_t min_length = count(schema, "minLength").value_or(0);
    const std::optional<int64_t> max_length = count(schema, "maxLength");
    if (min_length == 0 && !max_length) return kString;
    if (max_length && *max_length < min_length) fail("JSON schema: maxLength below minLength");
    return cat({"\"", kStringCharacter, "{", std::to_string(min_length), ",",
                max_length ? std::to_string(*max_length) : "", "}\""});
  }

  std::string array_value(const ordered_json& schema) {
    const std::string item =
        schema.contains("items") ? convert(schema["items"]) : any_value(kAnyValueDepth - 1);
    const int64_t min_items = count(schema, "minItems").value_or(0);
    const std::optional<int64_t> max_items = count(schema, "maxItems");
    if (min_items < 0 || (max_items && *max_items < min_items))
      fail("JSON schema: minItems / maxItems out of order");
    return list_of(item, min_items, max_items);
  }

  std::string object_value(const ordered_json& schema) {
    if (!schema.contains("properties")) {
      const ordered_json additional = schema.value("additionalProperties", ordered_json(true));
      if (additional.is_boolean() && !additional.get<bool>()) return cat({"\\{", kWhitespace, "\\}"});
      return map_of(additional.is_boolean() ? any_value(kAnyValueDepth - 1) : convert(additional));
    }
    const std::string members = properties_in_order(schema, [](const std::string& name) {
      return cat({regex_escape(ordered_json(name).dump()), kWhitespace, ":"});
    });
    return cat({"\\{", members, kWhitespace, "\\}"});
  }

 public:
  // The arguments of a Python call `name(a=1, b="x")` whose keywords are `parameters`' properties.
  std::string keyword_arguments(const ordered_json& parameters) {
    const bool no_parameters = parameters.is_null() || (parameters.is_object() && parameters.empty());
    if (no_parameters) return kWhitespace;
    if (!parameters.is_object() || parameters.value("type", ordered_json("object")) != "object")
      fail("function parameters must be a JSON schema of type 'object'");
    check_keywords(parameters);
    for (const char* key : {"$ref", "anyOf", "oneOf", "allOf", "enum", "const"}) {
      if (parameters.contains(key))
        fail("function parameters: '", key, "' at the top level is not supported; list 'properties'");
    }
    if (!parameters.contains("properties")) {
      const ordered_json additional = parameters.value("additionalProperties", ordered_json(true));
      if (additional.is_boolean() && !additional.get<bool>()) return kWhitespace;
      const std::string value = additional.is_boolean() ? any_value(kAnyValueDepth - 1) : convert(additional);
      const std::string argument = cat({kIdentifier, kWhitespace, "=", kWhitespace, value});
      return cat(
          {kWhitespace, "(", argument, "(", kWhitespace, ",", kWhitespace, argument, ")*)?", kWhitespace});
    }
    for (auto it = parameters["properties"].begin(); it != parameters["properties"].end(); ++it) {
      if (!is_identifier(it.key()))
        fail("function parameter '", it.key(),
             "' is not a Python identifier; MiniCPM3 passes arguments by keyword");
    }
    return cat({properties_in_order(parameters,
                                    [](const std::string& name) {
                                      return cat({name, kWhitespace, "="});
                                    }),
                kWhitespace});
  }

 private:
  // The properties of an object schema, in its order: required ones always, optional ones may be
  // left out. `key(name)` is the regex of a name and what separates it from the value.
  template <typename Key>
  std::string properties_in_order(const ordered_json& schema, Key key) {
    const ordered_json& properties = schema["properties"];
    if (!properties.is_object()) fail("JSON schema: 'properties' must be an object");
    std::set<std::string> required;
    if (schema.contains("required")) {
      if (!schema["required"].is_array()) fail("JSON schema: 'required' must be a list of names");
      for (const ordered_json& name : schema["required"]) {
        if (!name.is_string()) fail("JSON schema: 'required' must be a list of names");
        required.insert(name.get<std::string>());
      }
    }
    for (const std::string& name : required) {
      if (!properties.contains(name))
        fail("JSON schema: required property '", name, "' is not in 'properties'");
    }
    // tail[i]: properties i.. after at least one was written; head[i]: before any was.
    const size_t count = properties.size();
    std::vector<std::string> tail(count + 1), head(count + 1);
    std::vector<std::pair<std::string, const ordered_json*>> members;
    for (auto it = properties.begin(); it != properties.end(); ++it)
      members.push_back({it.key(), &it.value()});
    for (size_t i = count; i-- > 0;) {
      const std::string member =
          cat({kWhitespace, key(members[i].first), kWhitespace, convert(*members[i].second)});
      const std::string after_comma = cat({kWhitespace, ",", member});
      if (required.contains(members[i].first)) {
        tail[i] = cat({after_comma, tail[i + 1]});
        head[i] = cat({member, tail[i + 1]});
      } else {
        tail[i] = cat({"(", after_comma, ")?", tail[i + 1]});
        head[i] = alternatives({cat({member, tail[i + 1]}), head[i + 1]});
      }
    }
    return head[0];
  }

  std::string typed(const ordered_json& schema, const std::string& type) {
    if (type == "string") return string_value(schema);
    if (type == "integer") return integer_value(schema);
    if (type == "number") return number_value(schema);
    if (type == "boolean") return boolean_value();
    if (type == "null") return null_value();
    if (type == "array") return array_value(schema);
    if (type == "object") return object_value(schema);
    fail("JSON schema: unknown type '", type, "'");
  }

  static constexpr int kMaxNesting = 64;
  const ordered_json& root_;
  const bool python_;
  int nesting_ = 0;
  std::map<std::string, int> open_references_;  // how often each $ref is open on the current path
};

}  // namespace

std::string json_object_regex() {
  const ordered_json empty = ordered_json::object();
  const SchemaConverter converter(empty);
  return SchemaConverter::map_of(converter.any_value(kAnyValueDepth));
}

std::string json_schema_to_regex(const ordered_json& schema) {
  const std::string regex = SchemaConverter(schema).convert(schema);
  if (regex.find(kNothing) != std::string::npos && !matches_something(compile_regex(regex)))
    fail("JSON schema: no value satisfies it within ", kMaxRefDepth,
         " levels of recursion (a recursive property must be optional or allow another type)");
  return regex;
}

std::string python_call_regex(std::string_view name, const ordered_json& parameters) {
  SchemaConverter converter(parameters, LiteralSyntax::kJsonOrPython);
  return cat({regex_escape(name), "\\(", converter.keyword_arguments(parameters), "\\)"});
}

}  // namespace cpm

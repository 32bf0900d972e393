// JSON Schema to a regular expression (regex_nfa.h syntax) that matches JSON texts satisfying the
// schema, the approach outlines and sglang take for structured output.
//
// Object properties come in the schema's order (parse the schema with nlohmann::ordered_json);
// required ones always, optional ones may be left out; no others. Supported: type (one or a list),
// enum, const, anyOf / oneOf, a one-element allOf, $ref into #/$defs or #/definitions (a recursive
// schema expanded kMaxRefDepth levels deep: deeper optional parts are left out), properties / required /
// additionalProperties, items / minItems / maxItems, strings with minLength / maxLength / pattern / format
// (date, time, date-time, uuid), integers and numbers with minimum / maximum / exclusiveMinimum /
// exclusiveMaximum (exact; bounded numbers are written without an exponent). An empty schema (or `true`)
// allows any JSON value with containers nested up to kAnyValueDepth levels (one less inside another schema,
// so that several open properties stay within the automaton's limits). Annotations (title, description,
// default, examples, ...) are ignored; any other keyword is refused with cpm::Error naming it, so a schema is
// never silently loosened. Between JSON tokens go at most 16 blanks and newlines (enough for indented output;
// a model cannot loop on whitespace).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace cpm {

inline constexpr int kAnyValueDepth = 3;
inline constexpr int kMaxRefDepth = 4;

std::string json_schema_to_regex(const nlohmann::ordered_json& schema);

// Any JSON object, containers nested up to kAnyValueDepth + 1 levels (OpenAI's response_format
// {"type": "json_object"}).
std::string json_object_regex();

// A Python call `name(a=1, b="x")`: keyword arguments named by the properties of `parameters` (an
// object schema, or null for none), in its order, required ones always, values as JSON but with
// Python's True / False / None accepted too. Property names must be Python identifiers.
std::string python_call_regex(std::string_view name, const nlohmann::ordered_json& parameters);

}  // namespace cpm

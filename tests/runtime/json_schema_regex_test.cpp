// JSON Schema to regex: texts the schema allows match, others do not; unsupported keywords are refused.
#include "runtime/json_schema_regex.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "runtime/regex_matcher.h"

namespace cpm {
namespace {

using nlohmann::ordered_json;

using Matcher = RegexMatcher;

Matcher schema_matcher(const char* schema) {
  return Matcher(json_schema_to_regex(ordered_json::parse(schema)));
}

TEST(JsonSchemaRegexTest, ObjectsKeepPropertyOrderAndRequiredOnes) {
  Matcher match = schema_matcher(R"({"type": "object", "properties": {
      "name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
      "required": ["name", "age"]})");
  EXPECT_TRUE(match(R"({"name": "Ada", "age": 36})"));
  EXPECT_TRUE(match(R"({"name":"Ada","age":36,"tags":["x","y"]})"));
  EXPECT_TRUE(match("{\n  \"name\": \"A\\\"da\",\n  \"age\": -1,\n  \"tags\": []\n}"));
  EXPECT_FALSE(match(R"({"age": 36, "name": "Ada"})"));  // schema order
  EXPECT_FALSE(match(R"({"name": "Ada"})"));             // age is required
  EXPECT_FALSE(match(R"({"name": "Ada", "age": 3.5})"));
  EXPECT_FALSE(match(R"({"name": "Ada", "age": 36, "other": 1})"));
  EXPECT_FALSE(match(R"({"name": "Ada", "age": 036})"));
  EXPECT_FALSE(match("{\"name\": \"a\nb\", \"age\": 1}"));  // raw control characters are not JSON
}

TEST(JsonSchemaRegexTest, OptionalPropertiesMayBeLeftOutAnywhere) {
  Matcher match = schema_matcher(R"({"type": "object", "properties": {
      "a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}}, "required": ["b"]})");
  EXPECT_TRUE(match(R"({"b": 2})"));
  EXPECT_TRUE(match(R"({"a": 1, "b": 2})"));
  EXPECT_TRUE(match(R"({"b": 2, "c": 3})"));
  EXPECT_TRUE(match(R"({"a": 1, "b": 2, "c": 3})"));
  EXPECT_FALSE(match(R"({"a": 1})"));
  EXPECT_FALSE(match(R"({"a": 1,, "b": 2})"));
  EXPECT_FALSE(match(R"({, "b": 2})"));
  Matcher none_required =
      schema_matcher(R"({"properties": {"a": {"type": "boolean"}, "b": {"type": "null"}}})");
  EXPECT_TRUE(none_required("{}"));
  EXPECT_TRUE(none_required(R"({"b": null})"));
  EXPECT_TRUE(none_required(R"({"a": true, "b": null})"));
  EXPECT_FALSE(none_required(R"({"b": null, "a": true})"));
}

TEST(JsonSchemaRegexTest, IntegerAndNumberBounds) {
  Matcher open_above(
      json_schema_to_regex(ordered_json::parse(R"({"type": "integer", "exclusiveMinimum": 5})")));
  EXPECT_FALSE(open_above("5"));
  EXPECT_TRUE(open_above("6"));
  EXPECT_TRUE(open_above("123456789012"));
  Matcher fractional(
      json_schema_to_regex(ordered_json::parse(R"({"type": "integer", "minimum": -2.5, "maximum": 2.5})")));
  EXPECT_TRUE(fractional("-2"));
  EXPECT_FALSE(fractional("-3"));
  EXPECT_TRUE(fractional("2"));
  EXPECT_FALSE(fractional("3"));
  Matcher share = schema_matcher(R"({"type": "number", "minimum": 0, "exclusiveMaximum": 1, "maximum": 5})");
  for (const char* ok : {"0", "0.0", "0.5", "0.999"}) EXPECT_TRUE(share(ok)) << ok;
  for (const char* bad : {"1", "1.0", "-0.5", "5e-1", "-0"}) EXPECT_FALSE(share(bad)) << bad;
  Matcher tight = schema_matcher(R"({"type": "number", "minimum": 2, "exclusiveMinimum": 2})");
  EXPECT_FALSE(tight("2"));
  EXPECT_TRUE(tight("2.01"));
}

TEST(JsonSchemaRegexTest, ScalarsEnumsConstsAndCombinations) {
  Matcher number = schema_matcher(R"({"type": "number"})");
  for (const char* ok : {"0", "-1", "3.25", "1e10", "-2.5E-3"}) EXPECT_TRUE(number(ok)) << ok;
  for (const char* bad : {"01", "1.", ".5", "+1", "1e", "NaN"}) EXPECT_FALSE(number(bad)) << bad;
  Matcher non_negative = schema_matcher(R"({"type": "number", "minimum": 0})");
  EXPECT_TRUE(non_negative("2.5"));
  EXPECT_FALSE(non_negative("-2.5"));
  Matcher choice = schema_matcher(R"({"enum": ["red", "green", 3, null, {"k": [1]}]})");
  for (const char* ok : {"\"red\"", "\"green\"", "3", "null", "{\"k\":[1]}"}) EXPECT_TRUE(choice(ok)) << ok;
  EXPECT_FALSE(choice("\"blue\""));
  Matcher constant = schema_matcher(R"({"const": "a.b"})");
  EXPECT_TRUE(constant("\"a.b\""));
  EXPECT_FALSE(constant("\"axb\""));
  Matcher either = schema_matcher(R"({"anyOf": [{"type": "integer"}, {"type": "boolean"}]})");
  EXPECT_TRUE(either("12"));
  EXPECT_TRUE(either("false"));
  EXPECT_FALSE(either("\"12\""));
  Matcher nullable = schema_matcher(R"({"type": ["string", "null"]})");
  EXPECT_TRUE(nullable("null"));
  EXPECT_TRUE(nullable("\"x\""));
}

TEST(JsonSchemaRegexTest, StringsWithLengthsPatternsAndFormats) {
  Matcher bounded = schema_matcher(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  EXPECT_FALSE(bounded("\"a\""));
  EXPECT_TRUE(bounded("\"ab\""));
  EXPECT_TRUE(bounded("\"a\\nb\""));  // an escape is one character
  EXPECT_TRUE(bounded("\"\xE4\xB8\xAD\xE6\x96\x87\""));
  EXPECT_FALSE(bounded("\"abcd\""));
  // \u escapes: any character, a surrogate only as a pair (JSON parsers refuse a lone one).
  Matcher text = schema_matcher(R"({"type": "string"})");
  EXPECT_TRUE(text(R"("\u00e9 \uFFFD \uD83D\uDE00")"));
  EXPECT_FALSE(text(R"("\uD83D")"));
  EXPECT_FALSE(text(R"("\uDE00\uD83D")"));
  EXPECT_FALSE(text(R"("\uD83Dx")"));
  Matcher pattern = schema_matcher(R"({"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"})");
  EXPECT_TRUE(pattern("\"ABC-42\""));
  EXPECT_FALSE(pattern("\"AB-42\""));
  Matcher date = schema_matcher(R"({"type": "string", "format": "date"})");
  EXPECT_TRUE(date("\"2026-12-01\""));
  EXPECT_FALSE(date("\"2026-13-01\""));
  Matcher stamp = schema_matcher(R"({"type": "string", "format": "date-time"})");
  EXPECT_TRUE(stamp("\"2026-12-01T12:30:00Z\""));
  EXPECT_TRUE(stamp("\"2026-12-01T12:30:00.5+01:00\""));
  Matcher uuid = schema_matcher(R"({"type": "string", "format": "uuid"})");
  EXPECT_TRUE(uuid("\"123e4567-e89b-12d3-a456-426614174000\""));
  EXPECT_FALSE(uuid("\"123e4567\""));
}

TEST(JsonSchemaRegexTest, PythonCallsTakeKeywordArgumentsInSchemaOrder) {
  const ordered_json parameters = ordered_json::parse(R"({"type": "object", "properties": {
      "city": {"type": "string"}, "hourly": {"type": "boolean"}, "extra": {"type": ["object", "null"]}},
      "required": ["city"]})");
  Matcher call(python_call_regex("get_weather", parameters));
  EXPECT_TRUE(call(R"(get_weather(city="Paris"))"));
  EXPECT_TRUE(call(R"(get_weather( city = "Paris", hourly=True, extra=None ))"));
  EXPECT_TRUE(call(R"(get_weather(city="Paris",hourly=false,extra={"k": [1, null, True]}))"));
  EXPECT_FALSE(call(R"(get_weather(hourly=True))"));
  EXPECT_FALSE(call(R"(get_weather(hourly=True, city="Paris"))"));
  EXPECT_FALSE(call(R"(get_weather(city="Paris", hourly=TRUE))"));
  EXPECT_FALSE(call(R"(get_weather("Paris"))"));
  EXPECT_FALSE(call(R"(get_weather(city="Paris",))"));
  Matcher no_parameters(python_call_regex("now", nullptr));
  EXPECT_TRUE(no_parameters("now()"));
  EXPECT_FALSE(no_parameters("now(a=1)"));
  Matcher open(python_call_regex("log", ordered_json::parse(R"({"type": "object"})")));
  EXPECT_TRUE(open(R"(log(level="info", count=2))"));
  EXPECT_FALSE(open(R"(log(2))"));
  // Only JSON's spellings in a JSON schema's regex.
  EXPECT_FALSE(schema_matcher(R"({"type": "boolean"})")("True"));
  EXPECT_THROW(python_call_regex("f", ordered_json::parse(R"({"type": "array"})")), Error);
  EXPECT_THROW(python_call_regex("f", ordered_json::parse(R"({"properties": {"a b": {}}})")), Error);
}

TEST(JsonSchemaRegexTest, ArraysCountTheirItems) {
  Matcher match =
      schema_matcher(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3})");
  EXPECT_FALSE(match("[]"));
  EXPECT_TRUE(match("[1]"));
  EXPECT_TRUE(match("[1, 2,3]"));
  EXPECT_FALSE(match("[1, 2, 3, 4]"));
  EXPECT_FALSE(match("[1,]"));
  Matcher any_items = schema_matcher(R"({"type": "array"})");
  EXPECT_TRUE(any_items(R"([1, "a", {"b": [true, null]}])"));
}

TEST(JsonSchemaRegexTest, ReferencesResolveAndRecursionIsBounded) {
  Matcher match = schema_matcher(R"({"$defs": {"point": {"type": "object", "properties": {
      "x": {"type": "integer"}, "y": {"type": "integer"}}, "required": ["x", "y"]}},
      "type": "object", "properties": {"from": {"$ref": "#/$defs/point"}, "to": {"$ref": "#/$defs/point"}},
      "required": ["from", "to"]})");
  EXPECT_TRUE(match(R"({"from": {"x": 1, "y": 2}, "to": {"x": 3, "y": 4}})"));
  EXPECT_FALSE(match(R"({"from": {"x": 1}, "to": {"x": 3, "y": 4}})"));
  const auto recursive = ordered_json::parse(R"({"$defs": {"node": {"type": "object", "properties": {
      "next": {"$ref": "#/$defs/node"}}, "required": ["next"]}}, "$ref": "#/$defs/node"})");
  EXPECT_THROW(json_schema_to_regex(recursive), Error);  // only infinite values satisfy it
  EXPECT_THROW(json_schema_to_regex(ordered_json::parse(R"({"$ref": "#/$defs/missing"})")), Error);
  // A tree: expanded four levels deep, deeper children are left out (narrower, never looser).
  Matcher tree = schema_matcher(R"({"$defs": {"node": {"type": "object", "properties": {
      "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
      "required": ["name"]}}, "$ref": "#/$defs/node"})");
  EXPECT_TRUE(tree(R"({"name": "a"})"));
  EXPECT_TRUE(tree(R"({"name": "a", "children": [{"name": "b", "children": []}, {"name": "c"}]})"));
  EXPECT_TRUE(tree(
      R"({"name": "1", "children": [{"name": "2", "children": [{"name": "3", "children": [{"name": "4"}]}]}]})"));
  EXPECT_TRUE(tree(
      R"({"name": "1", "children": [{"name": "2", "children": [{"name": "3", "children": [{"name": "4", "children": []}]}]}]})"));
  EXPECT_FALSE(tree(
      R"({"name": "1", "children": [{"name": "2", "children": [{"name": "3", "children": [{"name": "4", "children": [{"name": "5"}]}]}]}]})"));
  EXPECT_FALSE(tree(R"({"children": []})"));
  // A linked list through anyOf with null; a chain of distinct definitions deeper than four.
  Matcher list =
      schema_matcher(R"({"$defs": {"item": {"type": "object", "properties": {"v": {"type": "integer"},
      "next": {"anyOf": [{"$ref": "#/$defs/item"}, {"type": "null"}]}}, "required": ["v", "next"]}},
      "$ref": "#/$defs/item"})");
  EXPECT_TRUE(list(R"({"v": 1, "next": {"v": 2, "next": null}})"));
  EXPECT_FALSE(list(R"({"v": 1})"));
  Matcher chain = schema_matcher(R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/c"},
      "c": {"$ref": "#/$defs/d"}, "d": {"$ref": "#/$defs/e"}, "e": {"$ref": "#/$defs/f"}, "f": {"type": "boolean"}},
      "$ref": "#/$defs/a"})");
  EXPECT_TRUE(chain("true"));
}

TEST(JsonSchemaRegexTest, AnyObjectAndOpenSchemas) {
  Matcher object(json_object_regex());
  EXPECT_TRUE(object("{}"));
  EXPECT_TRUE(object(R"({"a": [1, {"b": {"c": null}}], "d": "e"})"));  // 4 levels of nesting
  EXPECT_FALSE(object(R"({"a": [{"b": {"c": [1]}}]})"));               // 5: past kAnyValueDepth
  EXPECT_FALSE(object("[]"));
  EXPECT_FALSE(object(R"({"a": })"));
  EXPECT_FALSE(object(R"({"a": 1)"));
  Matcher map = schema_matcher(R"({"type": "object", "additionalProperties": {"type": "integer"}})");
  EXPECT_TRUE(map(R"({"x": 1, "y": 2})"));
  EXPECT_FALSE(map(R"({"x": "1"})"));
  Matcher closed = schema_matcher(R"({"type": "object", "additionalProperties": false})");
  EXPECT_TRUE(closed("{ }"));
  EXPECT_FALSE(closed(R"({"x": 1})"));
}

TEST(JsonSchemaRegexTest, SeveralOpenPropertiesStayCompilable) {
  Matcher match =
      schema_matcher(R"({"type": "object", "properties": {"a": {}, "b": {}, "c": {}, "d": {}, "e": {},
      "f": {}, "g": {}, "h": {}}, "required": ["a", "b", "c", "d", "e", "f", "g", "h"]})");
  EXPECT_TRUE(match(
      R"({"a": 1, "b": "x", "c": [1, [2]], "d": {"e": {}}, "e": null, "f": true, "g": [], "h": -0.5})"));
  EXPECT_FALSE(match(R"({"a": 1})"));
}

TEST(JsonSchemaRegexTest, DeepNestingIsRefusedNotOverflowed) {
  ordered_json schema = {{"type", "integer"}};
  for (int level = 0; level < 5000; ++level) schema = {{"type", "array"}, {"items", std::move(schema)}};
  EXPECT_THROW(json_schema_to_regex(schema), Error);
  schema.clear();  // nlohmann::json frees nested values iteratively
}

TEST(JsonSchemaRegexTest, UnsupportedKeywordsAreRefusedByName) {
  for (const char* schema :
       {R"({"type": "string", "not": {"const": "a"}})", R"({"type": "array", "uniqueItems": true})",
        R"({"type": "number", "multipleOf": 0.5})", R"({"type": "string", "format": "email"})",
        R"({"type": "object", "patternProperties": {}})", R"({"type": "tuple"})", "false"}) {
    try {
      json_schema_to_regex(ordered_json::parse(schema));
      ADD_FAILURE() << "accepted " << schema;
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("JSON schema"), std::string::npos) << error.what();
    }
  }
}

}  // namespace
}  // namespace cpm

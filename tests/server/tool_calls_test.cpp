// MiniCPM3's function-call replies split into text, thought and OpenAI tool calls.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "runtime/byte_dfa.h"
#include "runtime/json_schema_regex.h"
#include "server/minicpm3_reply.h"

namespace cpm {
namespace {

TEST(ToolCallsTest, TheTemplateFormatBecomesCallsThoughtAndText) {
  const AssistantReply reply = parse_minicpm3_reply(
      "<|thought_start|>\nThe user wants the weather.\n<|thought_end|>\n<|tool_call_start|>\n```python\n"
      "get_weather(city=\"Paris\", days=3, units='metric')\nlog.event(tags=['a', \"b\"], extra={'k': None, "
      "\"ok\": True})\n"
      "```\n<|tool_call_end|>\nLet me check.");
  EXPECT_EQ(reply.reasoning, "The user wants the weather.");
  EXPECT_EQ(reply.content, "Let me check.");
  ASSERT_EQ(reply.tool_calls.size(), 2u);
  EXPECT_EQ(reply.tool_calls[0].name, "get_weather");
  EXPECT_EQ(reply.tool_calls[0].arguments, R"({"city":"Paris","days":3,"units":"metric"})");
  EXPECT_EQ(reply.tool_calls[1].name, "log.event");
  EXPECT_EQ(reply.tool_calls[1].arguments, R"({"tags":["a","b"],"extra":{"k":null,"ok":true}})");
}

TEST(ToolCallsTest, LiteralsConvertToJson) {
  const AssistantReply reply = parse_minicpm3_reply(
      "<|tool_call_start|>\nf(a=-1.5e3, b=(1, 2,), c='it\\'s \\n \\u00e9', d=False, e=[], f={}, "
      "g=1_000)\n<|tool_call_end|>");
  ASSERT_EQ(reply.tool_calls.size(), 1u);
  EXPECT_EQ(reply.tool_calls[0].arguments,
            R"({"a":-1500.0,"b":[1,2],"c":"it's \n é","d":false,"e":[],"f":{},"g":1000})");
  EXPECT_EQ(reply.content, "");
  const AssistantReply no_arguments =
      parse_minicpm3_reply("<|tool_call_start|>```python\nnow()\n```<|tool_call_end|>");
  ASSERT_EQ(no_arguments.tool_calls.size(), 1u);
  EXPECT_EQ(no_arguments.tool_calls[0].arguments, "{}");
}

TEST(ToolCallsTest, TextWithoutCallsOrWithBadCallsIsKept) {
  EXPECT_EQ(parse_minicpm3_reply("  Just an answer.\n").content, "Just an answer.");
  for (const char* bad : {"<|tool_call_start|>\nf(1, 2)\n<|tool_call_end|>",
                          "<|tool_call_start|>\nf(a=g(1))\n<|tool_call_end|>",
                          "<|tool_call_start|>\nf(a='open\n<|tool_call_end|>",
                          "<|tool_call_start|>\n```python\n```\n<|tool_call_end|>"}) {
    const AssistantReply reply = parse_minicpm3_reply(bad);
    EXPECT_TRUE(reply.tool_calls.empty()) << bad;
    EXPECT_EQ(reply.content, bad) << bad;
  }
  const std::string deep = "<|tool_call_start|>\nf(a=" + std::string(100000, '[') + ")\n<|tool_call_end|>";
  EXPECT_TRUE(parse_minicpm3_reply(deep).tool_calls.empty());  // refused, not a stack overflow
  // A reply cut off before the end marker still yields its complete calls.
  const AssistantReply cut = parse_minicpm3_reply("<|tool_call_start|>\n```python\nf(a=1)\n");
  ASSERT_EQ(cut.tool_calls.size(), 1u);
  EXPECT_EQ(cut.tool_calls[0].arguments, R"({"a":1})");
}

TEST(ToolCallsTest, JsonSpellingsAndEscapesAsTheTemplateWritesThem) {
  // The template renders earlier calls with tojson: `true`, `null`, JSON escapes, no spaces.
  const AssistantReply reply = parse_minicpm3_reply(
      "<|tool_call_start|>\n```python\nget-weather(a=true,b=null,c=\"x\\by\\f\")\n```\n<|tool_call_end|>");
  ASSERT_EQ(reply.tool_calls.size(), 1u);
  EXPECT_EQ(reply.tool_calls[0].name, "get-weather");
  EXPECT_EQ(reply.tool_calls[0].arguments, R"({"a":true,"b":null,"c":"x\by\f"})");
}

using nlohmann::ordered_json;

ordered_json example_tools() {
  return ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
      "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The city"},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "units": {"type": "string", "enum": ["metric", "imperial"]},
        "hourly": {"type": "boolean"}},
        "required": ["city", "days"]}}},
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {
        "query": {"type": "string", "maxLength": 40},
        "filters": {"type": "object", "properties": {"site": {"type": "string"}, "year": {"type": ["integer", "null"]}}},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
        "required": ["query"]}}},
    {"type": "function", "function": {"name": "now"}}])");
}

TEST(ToolCallsTest, RequiredCallRegexAllowsExactlyCallsOfTheOfferedFunctions) {
  ByteDfa any(compile_regex(required_tool_call_regex(example_tools(), "")));
  const std::string start = "<|tool_call_start|>\n```python\n", end = "\n```\n<|tool_call_end|>";
  EXPECT_TRUE(any.matches("<|thought_start|>\nThe user asks for the weather.\n<|thought_end|>\n" + start +
                          "get_weather(city=\"Paris\", days=3)" + end));
  EXPECT_TRUE(any.matches(start + "get_weather(city=\"Paris\",days=3,hourly=True)\nnow()" + end));
  EXPECT_TRUE(
      any.matches(start + "get_weather(city=\"Oslo\", days=14, units=\"metric\", hourly=false)" + end));
  EXPECT_TRUE(any.matches(start + "search(query=\"cpus\", filters={\"year\": None}, tags=[\"a\"])" + end));
  EXPECT_TRUE(any.matches(start + "now( )" + end));
  for (const std::string& bad :
       {start + "get_weather(city=\"Paris\")" + end,           // days is required
        start + "get_weather(city=\"Paris\", days=15)" + end,  // above the maximum
        start + "get_weather(days=3, city=\"Paris\")" + end,   // keywords in schema order
        start + "get_weather(city=\"Paris\", days=3, units=\"kelvin\")" + end,
        start + "get_weather(city=\"Paris\", days=3, wind=True)" + end,  // not a parameter
        start + "get_weather(\"Paris\", 3)" + end,                       // positional
        start + "search(query=\"x\", tags=[\"a\", \"b\", \"c\", \"d\"])" + end, start + "delete_all()" + end,
        start + end, "Sure! " + start + "now()" + end,
        "<|thought_start|>\na < b\n<|thought_end|>\n" + start + "now()" + end}) {
    EXPECT_FALSE(any.matches(bad)) << bad;
  }
  ByteDfa named(compile_regex(required_tool_call_regex(example_tools(), "now")));
  EXPECT_TRUE(named.matches(start + "now()" + end));
  EXPECT_TRUE(named.matches(start + "now()\nnow()" + end));
  ByteDfa single(compile_regex(required_tool_call_regex(example_tools(), "now", true)));
  EXPECT_TRUE(single.matches(start + "now()" + end));
  EXPECT_FALSE(single.matches(start + "now()\nnow()" + end));
  EXPECT_FALSE(named.matches(start + "get_weather(city=\"Paris\", days=3)" + end));
}

TEST(ToolCallsTest, RequiredCallRegexRefusesWhatItCannotConstrain) {
  auto message = [](const ordered_json& tools, std::string_view only) {
    try {
      required_tool_call_regex(tools, only);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(example_tools(), "missing").find("'missing', which is not in 'tools'"),
            std::string::npos);
  EXPECT_NE(message(ordered_json::array(), "").find("non-empty 'tools'"), std::string::npos);
  EXPECT_NE(
      message(ordered_json::parse(R"([{"type": "function", "function": {"description": "no name"}}])"), "")
          .find("each tool must be"),
      std::string::npos);
  const ordered_json dashed = ordered_json::parse(
      R"([{"function": {"name": "f", "parameters": {"properties": {"the-city": {"type": "string"}}}}}])");
  EXPECT_NE(message(dashed, "").find("'the-city' is not a Python identifier"), std::string::npos);
  const ordered_json unsupported = ordered_json::parse(
      R"([{"function": {"name": "f", "parameters": {"properties": {"a": {"type": "string", "format": "email"}}}}}])");
  EXPECT_NE(message(unsupported, "").find("tool 'f': JSON schema: string format"), std::string::npos);
}

// Random texts of the forced-call language (a walk over the automaton's bytes) always parse into calls
// whose arguments, as JSON, satisfy the function's parameter schema.
TEST(ToolCallsTest, EveryTextTheRequiredRegexAllowsParsesIntoValidCalls) {
  const ordered_json tools = example_tools();
  ByteDfa dfa(compile_regex(required_tool_call_regex(tools, "")));
  std::map<std::string, ByteDfa> argument_checks;
  for (const ordered_json& tool : tools) {
    const ordered_json& function = tool["function"];
    const ordered_json parameters = function.value("parameters", ordered_json::object());
    argument_checks.emplace(function["name"].get<std::string>(),
                            ByteDfa(compile_regex(json_schema_to_regex(parameters))));
  }
  std::mt19937 random(7);
  int calls_seen = 0;
  for (int walk = 0; walk < 200; ++walk) {
    std::string text;
    int32_t state = dfa.start();
    while (!dfa.accepting(state)) {
      std::vector<uint8_t> next;
      for (int byte = 0; byte < 256; ++byte) {
        if (dfa.next(state, static_cast<uint8_t>(byte)) != ByteDfa::kDead)
          next.push_back(static_cast<uint8_t>(byte));
      }
      ASSERT_FALSE(next.empty()) << text;
      const uint8_t byte = next[std::uniform_int_distribution<size_t>(0, next.size() - 1)(random)];
      text.push_back(static_cast<char>(byte));
      state = dfa.next(state, byte);
      ASSERT_LT(text.size(), 100000u);
    }
    const AssistantReply reply = parse_minicpm3_reply(text);
    ASSERT_FALSE(reply.tool_calls.empty()) << text;
    EXPECT_EQ(reply.content, "") << text;
    for (const ToolCall& call : reply.tool_calls) {
      ASSERT_TRUE(argument_checks.contains(call.name)) << text;
      EXPECT_TRUE(argument_checks.at(call.name).matches(call.arguments)) << call.arguments << "\n" << text;
      ++calls_seen;
    }
  }
  EXPECT_GT(calls_seen, 200);
}

}  // namespace
}  // namespace cpm

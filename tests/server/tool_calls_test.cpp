// MiniCPM3's function-call replies split into text, thought and OpenAI tool calls.
#include "server/tool_calls.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cpm

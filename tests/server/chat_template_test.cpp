// The public ChatTemplate API: the default ChatML template, the MiniCPM3-4B template from ../shared,
// context defaults, thread safety, and the places where we follow Python's Jinja2 because
// @huggingface/jinja would fail.
#include "server/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "jinja_test_util.h"
#include "test_paths.h"

namespace cpm::test {
namespace {

using nlohmann::ordered_json;

ordered_json minicpm3_tokenizer_config() {
  std::ifstream file(shared_dir() + "/data/minicpm3-4b/tokenizer_config.json");
  EXPECT_TRUE(file.good());
  return ordered_json::parse(file);
}

ordered_json conversation() {
  return ordered_json::parse(R"([{"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}])");
}

TEST(ChatTemplate, DefaultChatMLTemplate) {
  ChatTemplate chatml(default_chatml_template());
  ordered_json context = {{"messages", conversation()}, {"add_generation_prompt", true}};
  EXPECT_EQ(
      chatml.render(context),
      "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  context["add_generation_prompt"] = false;
  EXPECT_EQ(chatml.render(context).substr(chatml.render(context).size() - 11), "<|im_end|>\n");
}

TEST(ChatTemplate, MissingToolsDocumentsAndGenerationPromptGetApplyChatTemplateDefaults) {
  ChatTemplate probe(
      "{{ tools is none }} {{ documents is none }} {{ add_generation_prompt is false }} {{ extra }}");
  EXPECT_EQ(probe.render({{"extra", "x"}}), "true true true x");
  EXPECT_EQ(probe.render({{"tools", ordered_json::array()}, {"add_generation_prompt", true}}),
            "false true false ");
}

TEST(ChatTemplate, RendersConcurrently) {
  ChatTemplate chatml(default_chatml_template());
  ordered_json context = {{"messages", conversation()}};
  std::string expected = chatml.render(context);
  std::vector<std::thread> threads;
  std::vector<std::string> results(4);
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) results[t] = chatml.render(context);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& result : results) EXPECT_EQ(result, expected);
}

TEST(ChatTemplate, MiniCPM3Conversation) {
  CPM_REQUIRE_SHARED();
  ordered_json config = minicpm3_tokenizer_config();
  ChatTemplate minicpm3(config["chat_template"].get<std::string>());
  ordered_json context = {{"messages", conversation()},
                          {"add_generation_prompt", true},
                          {"bos_token", config["bos_token"]},
                          {"eos_token", config["eos_token"]}};
  EXPECT_EQ(
      minicpm3.render(context),
      "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  context["messages"] = ordered_json::parse(R"([{"role": "user", "content": "Hi"}])");
  context["add_generation_prompt"] = false;
  EXPECT_EQ(minicpm3.render(context), "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplate, MiniCPM3ToolsAndToolCalls) {
  CPM_REQUIRE_SHARED();
  ChatTemplate minicpm3(minicpm3_tokenizer_config()["chat_template"].get<std::string>());
  ordered_json context = ordered_json::parse(R"({
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather.",
      "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The city"},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "days": {"type": "integer", "default": 1}}, "required": ["city"]}}}],
    "messages": [{"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "", "thought": "Call the tool.",
       "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
      {"role": "tool", "content": "21C"}],
    "add_generation_prompt": true})");
  std::string prompt = minicpm3.render(context);
  EXPECT_NE(prompt.find("class Unit(Enum):\n    enum_0 = \"c\"\n    enum_1 = \"f\"\n"), std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("def get_weather(city, unit=None, days=1):\n    \"\"\"Get the weather.\n\n    Args:\n"
                        "        city: str = Field(..., description=\"The city\")\n"
                        "        unit: Optional[Unit] = None\n        days: Optional[int] = 1\n    \"\"\"\n"),
            std::string::npos)
      << prompt;
  EXPECT_NE(
      prompt.find(
          "<|im_start|>assistant\n<|thought_start|>\nCall the tool.\n<|thought_end|>\n<|tool_call_start|>\n"
          "```python\nget_weather(city=\"Paris\",days=2)\n```\n<|tool_call_end|>\n<|im_end|>\n"
          "<|im_start|>tool\n21C<|im_end|>\n<|im_start|>assistant\n"),
      std::string::npos)
      << prompt;
}

// Python's Jinja2 renders these; @huggingface/jinja throws. Tool schemas without parameters or
// `additionalProperties` hit the first two in the MiniCPM3 template.
TEST(ChatTemplatePythonCompatibility, RendersWhereHuggingFaceJinjaWouldFail) {
  EXPECT_EQ(render("{{ missing|items|list }} {{ {'a': 1}[none] }}|{{ {'a': 1}[0] }}|"), "[] ||");
  EXPECT_EQ(render("{{ x|default }}|{{ none|string }} {{ missing|string }}|{{ [1, 2]|length() }}"),
            "|None |2");
  EXPECT_EQ(render("{{ 'a' < 'b' }} {{ 'b' <= 'a' }} {{ '-' * 3 }} {{ 2 * 'ab' }}"), "true false --- abab");
  EXPECT_EQ(render("{% for c in 'ab' %}{{ c }};{% endfor %} {{ 'ab'|list }} {{ 'ab'|first }} {{ [1, "
                   "2]|map('string')|join }}"),
            "a;b; [\"a\", \"b\"] a 12");
  EXPECT_EQ(render("{{ 'keep \\d as written' }} {{ [1, 2, 3][none:2] }} {{ (1, 2) }} {{ 5 is float }} {{ 5.0 "
                   "is float }}"),
            "keep \\d as written [1, 2] [1, 2] false true");
  EXPECT_EQ(render("{{ []|first }}|{{ [1, 2]|count }}|{{ (5,)|length }}"), "|2|1");
}

TEST(ChatTemplatePythonCompatibility, StripMethodsHonourTheirArgument) {
  EXPECT_EQ(render("[{{ '\\n\\n  x\\n'.lstrip('\\n') }}][{{ 'xxaxx'.strip('x') }}][{{ 'ab  '.rstrip() }}]"),
            "[  x\n][a][ab]");
  EXPECT_EQ(render("{{ '<think>\\nr\\n</think>\\n\\nanswer'.split('</think>')[-1].lstrip('\\n') }}"),
            "answer");
}

TEST(ChatTemplatePythonCompatibility, PythonTemplateIdioms) {
  // A tool without parameters, as in MiniCPM3's object_to_fields(none, ...).
  EXPECT_EQ(
      render("{% for k, v in none_value.properties|items %}{{ k }}{% endfor %}ok", {{"none_value", nullptr}}),
      "ok");
  EXPECT_EQ(render("{{ {'string': 'str'}[t] is defined }}", {{"t", ordered_json::array({"string", "null"})}}),
            "false");
}

}  // namespace
}  // namespace cpm::test

// Byte-for-byte comparison with an independent renderer: @huggingface/jinja, the engine of
// transformers.js, run by node through tests/node/render_template.mjs (npm ci in tests/node).
// Without node or the npm packages the tests skip, except under CI=true where they fail.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "reference_templates.h"
#include "server/chat_template.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace cpm::test {
namespace {

using nlohmann::ordered_json;

std::string node_dir() {
  return source_dir() + "/tests/node";
}

// Why node cannot render here, or "" when it can.
std::string node_unavailable_reason() {
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  if (!std::filesystem::exists(node_dir() + "/node_modules/@huggingface/jinja/package.json")) {
    return "tests/node/node_modules is missing (run npm ci in tests/node)";
  }
  return "";
}

#define CPM_REQUIRE_NODE()                                                           \
  do {                                                                               \
    static const std::string reason = node_unavailable_reason();                     \
    if (!reason.empty()) {                                                           \
      if (running_in_ci()) FAIL() << reason << " and CI=true";                       \
      GTEST_SKIP() << reason << "; skipping the comparison with @huggingface/jinja"; \
    }                                                                                \
  } while (0)

struct Rendering {
  bool ok = false;
  std::string text;  // the rendering, or the error message
};

// Runs render_template.mjs; `source_flag` is --template or --tokenizer-config.
Rendering render_with_node(const std::string& source_flag, const std::string& source_file,
                           const ordered_json& context) {
  TempDir dir;
  std::string context_file = dir.write("context.json", context.dump());
  std::string command = "node '" + node_dir() + "/render_template.mjs' " + source_flag + " '" + source_file +
                        "' --context '" + context_file + "' 2> '" + dir.write("stderr.txt", "") + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {false, "popen failed"};
  std::string output;
  char buffer[65536];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  int status = pclose(pipe);
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return {ok, ok ? output : dir.read("stderr.txt")};
}

Rendering render_with_us(const std::string& source, const ordered_json& context) {
  try {
    return {true, ChatTemplate(source).render(context)};
  } catch (const Error& error) {
    return {false, error.what()};
  }
}

void expect_same_as_reference(const std::string& source, const ordered_json& context) {
  TempDir dir;
  Rendering reference = render_with_node("--template", dir.write("template.jinja", source), context);
  ASSERT_TRUE(reference.ok) << "@huggingface/jinja failed: " << reference.text;
  Rendering ours = render_with_us(source, context);
  ASSERT_TRUE(ours.ok) << ours.text;
  EXPECT_EQ(ours.text, reference.text) << "context: " << context.dump();
}

void expect_both_fail(const std::string& source, const ordered_json& context, const std::string& message) {
  TempDir dir;
  Rendering reference = render_with_node("--template", dir.write("template.jinja", source), context);
  EXPECT_FALSE(reference.ok) << reference.text;
  Rendering ours = render_with_us(source, context);
  EXPECT_FALSE(ours.ok) << ours.text;
  EXPECT_NE(reference.text.find(message), std::string::npos) << reference.text;
  EXPECT_NE(ours.text.find(message), std::string::npos) << ours.text;
}

// ----- MiniCPM3-4B, with the template and special tokens read as transformers.js reads them -----

std::string minicpm3_config_path() {
  return shared_dir() + "/data/minicpm3-4b/tokenizer_config.json";
}

// The special tokens apply_chat_template passes: each of SPECIAL_TOKEN_ATTRIBUTES that is set.
ordered_json with_special_tokens(ordered_json context, const ordered_json& config) {
  for (const char* key :
       {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    if (!config.contains(key) || context.contains(key)) continue;
    ordered_json token = config[key].is_object() ? config[key]["content"] : config[key];
    if (token.is_string() && !token.get<std::string>().empty()) context[key] = token;
  }
  return context;
}

void expect_minicpm3_same_as_reference(const ordered_json& context) {
  std::ifstream file(minicpm3_config_path());
  ordered_json config = ordered_json::parse(file);
  Rendering reference = render_with_node("--tokenizer-config", minicpm3_config_path(), context);
  ASSERT_TRUE(reference.ok) << "@huggingface/jinja failed: " << reference.text;
  Rendering ours =
      render_with_us(config["chat_template"].get<std::string>(), with_special_tokens(context, config));
  ASSERT_TRUE(ours.ok) << ours.text;
  EXPECT_EQ(ours.text, reference.text) << "context: " << context.dump();
}

TEST(ChatTemplateReference, MiniCPM3Conversations) {
  CPM_REQUIRE_SHARED();
  CPM_REQUIRE_NODE();
  for (bool generation_prompt : {true, false}) {
    expect_minicpm3_same_as_reference(
        {{"messages", multi_turn_messages()}, {"add_generation_prompt", generation_prompt}});
    expect_minicpm3_same_as_reference(
        {{"messages", single_user_message()}, {"add_generation_prompt", generation_prompt}});
  }
  expect_minicpm3_same_as_reference({{"messages", multi_turn_messages()}});
}

TEST(ChatTemplateReference, MiniCPM3Tools) {
  CPM_REQUIRE_SHARED();
  CPM_REQUIRE_NODE();
  expect_minicpm3_same_as_reference({{"messages", single_user_message()},
                                     {"tools", weather_and_search_tools()},
                                     {"add_generation_prompt", true}});
  ordered_json with_system = multi_turn_messages();
  expect_minicpm3_same_as_reference({{"messages", with_system}, {"tools", weather_and_search_tools()}});
}

TEST(ChatTemplateReference, MiniCPM3ToolCallsAndThoughts) {
  CPM_REQUIRE_SHARED();
  CPM_REQUIRE_NODE();
  expect_minicpm3_same_as_reference({{"messages", tool_call_messages()},
                                     {"tools", weather_and_search_tools()},
                                     {"add_generation_prompt", true}});
  expect_minicpm3_same_as_reference({{"messages", tool_call_messages()}, {"add_generation_prompt", false}});
}

// ----- templates of other model families -----

TEST(ChatTemplateReference, ChatMLTemplates) {
  CPM_REQUIRE_NODE();
  for (bool generation_prompt : {true, false}) {
    ordered_json context = {{"messages", multi_turn_messages()},
                            {"add_generation_prompt", generation_prompt}};
    expect_same_as_reference(cpm::default_chatml_template(), context);
    expect_same_as_reference(kChatMLWithDefaultSystem, context);
    expect_same_as_reference(kQwenStyleTemplate, context);
  }
  expect_same_as_reference(kQwenStyleTemplate, {{"messages", qwen_tool_messages()},
                                                {"tools", weather_and_search_tools()},
                                                {"add_generation_prompt", true}});
}

TEST(ChatTemplateReference, LlamaStyleTemplates) {
  CPM_REQUIRE_NODE();
  ordered_json tokens = {{"bos_token", "<|begin_of_text|>"}, {"eos_token", "<|eot_id|>"}};
  for (bool generation_prompt : {true, false}) {
    ordered_json context = tokens;
    context["messages"] = multi_turn_messages();
    context["add_generation_prompt"] = generation_prompt;
    expect_same_as_reference(kLlama3Template, context);
    expect_same_as_reference(kLlama31ToolTemplate, context);
  }
  ordered_json context = tokens;
  context["messages"] = llama_tool_messages();
  context["tools"] = weather_and_search_tools();
  context["add_generation_prompt"] = true;
  expect_same_as_reference(kLlama31ToolTemplate, context);
  context["tools_in_user_message"] = false;
  expect_same_as_reference(kLlama31ToolTemplate, context);
}

TEST(ChatTemplateReference, LanguageFeatureTour) {
  CPM_REQUIRE_NODE();
  ordered_json context = {{"messages", multi_turn_messages()},
                          {"tools", weather_and_search_tools()},
                          {"add_generation_prompt", true},
                          {"bos_token", "<s>"}};
  expect_same_as_reference(kFeatureTourTemplate, context);
}

TEST(ChatTemplateReference, BothRejectWhatTheTemplateRejects) {
  CPM_REQUIRE_NODE();
  expect_both_fail(kAlternatingRolesTemplate, {{"messages", multi_turn_messages()}},
                   "Conversation roles must alternate user/assistant/user/assistant/...");
  expect_same_as_reference(kAlternatingRolesTemplate,
                           {{"messages", ordered_json::parse(R"([{"role": "user", "content": "a"},
                              {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}])")},
                            {"bos_token", "<s>"},
                            {"eos_token", "</s>"}});
}

}  // namespace
}  // namespace cpm::test

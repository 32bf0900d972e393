// Function calls in MiniCPM3's replies, for the OpenAI `tool_calls` field.
//
// With `tools`, MiniCPM3's chat template asks the model to answer as
//   <|thought_start|>\n{why}\n<|thought_end|>\n<|tool_call_start|>\n```python\nf(a=1,
//   b="x")\n```\n<|tool_call_end|>\n{text}
// (the markers are plain text to its tokenizer). The calls are Python keyword calls with literal
// arguments: strings, numbers, True / False / None, lists, tuples and dicts, which become JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace cpm {

struct ToolCall {
  std::string name;
  std::string arguments;  // a JSON object, as OpenAI sends it
};

struct AssistantReply {
  std::string content;    // the text outside the markers, trimmed
  std::string reasoning;  // the thought, when there was one
  std::vector<ToolCall> tool_calls;
};

// Splits a reply into text, thought and calls. A call block that does not parse stays in `content`
// unchanged, so nothing the model wrote is lost.
AssistantReply parse_minicpm3_reply(std::string_view text);

// The reply a forced call must be (tool_choice "required", or a function by name in `only`): an
// optional thought (without '<'), then one call block in the template's format
// with one or more calls of the offered functions (of `only`, when not empty), each call's keyword
// arguments matching its function's parameter schema. `tools` is OpenAI's list. Throws cpm::Error on
// a malformed tool, a schema the converter refuses, or an `only` that is not offered.
std::string required_tool_call_regex(const nlohmann::ordered_json& tools, std::string_view only);

}  // namespace cpm

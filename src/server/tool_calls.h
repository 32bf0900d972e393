// Function calls in MiniCPM3's replies, for the OpenAI `tool_calls` field: the call syntax, read and
// forced (minicpm3_reply.h splits a whole reply into text, thought and calls).
//
// With `tools`, MiniCPM3's chat template asks the model to answer as
//   <|thought_start|>\n{why}\n<|thought_end|>\n<|tool_call_start|>\n```python\nf(a=1,
//   b="x")\n```\n<|tool_call_end|>\n{text}
// (the markers are plain text to its tokenizer). The calls are Python keyword calls with literal
// arguments: strings, numbers, True / False / None, lists, tuples and dicts, which become JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cpm {

struct ToolCall {
  std::string name;
  std::string arguments;  // a JSON object, as OpenAI sends it
};

// MiniCPM3's markers around a thought and a block of calls.
inline constexpr std::string_view kThoughtStart = "<|thought_start|>", kThoughtEnd = "<|thought_end|>";
inline constexpr std::string_view kCallStart = "<|tool_call_start|>", kCallEnd = "<|tool_call_end|>";

// The calls of the text between kCallStart and kCallEnd (its ```python fence optional), or nullopt
// when it is not one or more keyword calls with literal arguments.
std::optional<std::vector<ToolCall>> parse_tool_call_block(std::string_view block);

// The reply a forced call must be (tool_choice "required", or a function by name in `only`): an
// optional thought (without '<'), then one call block in the template's format
// with one or more calls of the offered functions (of `only`, when not empty), each call's keyword
// arguments matching its function's parameter schema. `tools` is OpenAI's list. Throws cpm::Error on
// a malformed tool, a schema the converter refuses, or an `only` that is not offered.
// With `single_call` (OpenAI's parallel_tool_calls: false) the block holds exactly one call.
std::string required_tool_call_regex(const nlohmann::ordered_json& tools, std::string_view only,
                                     bool single_call = false);

}  // namespace cpm

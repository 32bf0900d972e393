// A MiniCPM3 reply split into text, thought and function calls, whole or as it streams.
//
// With `tools`, MiniCPM3's chat template asks the model to answer as
//   <|thought_start|>\n{why}\n<|thought_end|>\n<|tool_call_start|>\n```python\nf(a=1)\n```\n
//   <|tool_call_end|>\n{text}
// The first thought becomes OpenAI's `reasoning_content`, the first call block `tool_calls`, the
// rest the content. A block that does not parse stays in the content, so nothing the model wrote is
// lost; a reply cut off inside a block still yields the calls it completed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/tool_calls.h"

namespace cpm {

struct AssistantReply {
  std::string content;    // the text outside the markers, trimmed
  std::string reasoning;  // the thought, trimmed, when there was one
  std::vector<ToolCall> tool_calls;
};

// Reads a reply as it is generated: each feed() returns what can be shown so far. Text that may be
// the start of a marker, and blanks that may be the end of the content or the thought, wait for the
// next piece; a call block waits for its end marker. The pieces joined equal parse_minicpm3_reply.
class MiniCpm3ReplyParser {
 public:
  // `end_of_reply`: nothing follows, so whatever was held back is shown too.
  AssistantReply feed(std::string_view text, bool end_of_reply = false);

 private:
  enum class Mode { kContent, kThought, kCalls };
  void drain(bool at_end, AssistantReply* out);
  void emit(std::string_view text, bool reasoning, AssistantReply* out);

  Mode mode_ = Mode::kContent;
  std::string pending_;             // text not yet shown
  std::string held_blanks_[2];      // trailing blanks of the content [0] and the thought [1]
  bool shown_[2] = {false, false};  // whether anything but blanks was shown of each
  bool thought_seen_ = false, calls_seen_ = false;
};

AssistantReply parse_minicpm3_reply(std::string_view text);

}  // namespace cpm

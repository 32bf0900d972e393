// MiniCPM3 replies read whole and as they stream: the streamed pieces always add up to the whole.
#include "server/minicpm3_reply.h"

#include <gtest/gtest.h>

#include <random>

namespace cpm {
namespace {

// The reply fed in pieces cut at `cuts` (sorted offsets), the pieces joined.
AssistantReply streamed(std::string_view text, const std::vector<size_t>& cuts) {
  MiniCpm3ReplyParser parser;
  AssistantReply joined;
  size_t from = 0;
  for (size_t k = 0; k <= cuts.size(); ++k) {
    const size_t to = k < cuts.size() ? cuts[k] : text.size();
    AssistantReply piece = parser.feed(text.substr(from, to - from), k == cuts.size());
    joined.content += piece.content;
    joined.reasoning += piece.reasoning;
    for (ToolCall& call : piece.tool_calls) joined.tool_calls.push_back(std::move(call));
    from = to;
  }
  return joined;
}

void expect_same(const AssistantReply& a, const AssistantReply& b, std::string_view text) {
  EXPECT_EQ(a.content, b.content) << text;
  EXPECT_EQ(a.reasoning, b.reasoning) << text;
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size()) << text;
  for (size_t k = 0; k < a.tool_calls.size(); ++k) {
    EXPECT_EQ(a.tool_calls[k].name, b.tool_calls[k].name) << text;
    EXPECT_EQ(a.tool_calls[k].arguments, b.tool_calls[k].arguments) << text;
  }
}

TEST(MiniCpm3ReplyTest, StreamedPiecesShowTextAsSoonAsItCannotBeAMarker) {
  MiniCpm3ReplyParser parser;
  EXPECT_EQ(parser.feed("<|thought_start|>\nThe user").reasoning, "The user");
  EXPECT_EQ(parser.feed(" wants rain.\n<|thought_").reasoning, " wants rain.");  // blanks and the marker wait
  AssistantReply piece = parser.feed("end|>\n<|tool_call_start|>\n```python\nget_weather(city=\"Oslo\")\n");
  EXPECT_EQ(piece.reasoning, "");
  EXPECT_TRUE(piece.tool_calls.empty());  // a block is read whole
  piece = parser.feed("```\n<|tool_call_end|>\nChecking <");
  ASSERT_EQ(piece.tool_calls.size(), 1u);
  EXPECT_EQ(piece.tool_calls[0].arguments, R"({"city":"Oslo"})");
  EXPECT_EQ(piece.content, "Checking <");  // both markers were read: '<' can start nothing now
  EXPECT_EQ(parser.feed("3 days.\n", true).content, "3 days.");

  MiniCpm3ReplyParser plain;
  EXPECT_EQ(plain.feed("\n Hello <|tool").content, "Hello");
  EXPECT_EQ(plain.feed("ing|> ").content, " <|tooling|>");
  EXPECT_EQ(plain.feed("", true).content, "");
}

TEST(MiniCpm3ReplyTest, PiecesJoinToTheWholeReplyWhereverTheyAreCut) {
  const std::vector<std::string> fragments = {"<|thought_start|>",
                                              "<|thought_end|>",
                                              "<|tool_call_start|>",
                                              "<|tool_call_end|>",
                                              "```python\n",
                                              "```",
                                              "f(a=1)",
                                              "g(b='x', c=[1, 2])",
                                              "f(1)",
                                              "h(",
                                              "\n",
                                              "  ",
                                              "Sure.",
                                              " it is <3 ",
                                              "<|",
                                              "<|thought",
                                              "<|tool_call_",
                                              "\xE4\xB8\xAD",
                                              "x"};
  std::mt19937 random(11);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text;
    const int count = std::uniform_int_distribution<int>(0, 12)(random);
    for (int k = 0; k < count; ++k)
      text += fragments[std::uniform_int_distribution<size_t>(0, fragments.size() - 1)(random)];
    std::vector<size_t> cuts;
    for (size_t at = 1; at < text.size(); ++at) {
      if (std::uniform_int_distribution<int>(0, 3)(random) == 0) cuts.push_back(at);
    }
    expect_same(streamed(text, cuts), parse_minicpm3_reply(text), text);
    std::vector<size_t> every(text.size() > 0 ? text.size() - 1 : 0);
    for (size_t at = 1; at < text.size(); ++at) every[at - 1] = at;
    expect_same(streamed(text, every), parse_minicpm3_reply(text), text);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace cpm

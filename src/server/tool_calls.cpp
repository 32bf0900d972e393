#include "server/tool_calls.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "runtime/json_schema_regex.h"
#include "runtime/regex_building.h"
#include "runtime/regex_nfa.h"
#include "tokenizer/utf8.h"

namespace cpm {

namespace {

using nlohmann::ordered_json;

std::string_view trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// Python call expressions with literal arguments; every method returns nullopt / false on anything else.
class PythonCallParser {
 public:
  explicit PythonCallParser(std::string_view text) : text_(text) {}

  bool calls(std::vector<ToolCall>* out) {
    while (true) {
      skip_space();
      if (done()) return true;
      ToolCall call;
      if (!this->call(&call)) return false;
      out->push_back(std::move(call));
    }
  }

 private:
  bool done() const { return at_ >= text_.size(); }
  char peek() const { return done() ? '\0' : text_[at_]; }
  void skip_space() {
    while (!done() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++at_;
  }
  bool consume(char c) {
    skip_space();
    if (peek() != c) return false;
    ++at_;
    return true;
  }
  static bool identifier_char(char c, bool first) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9') ||
           static_cast<unsigned char>(c) >= 0x80;
  }
  // A keyword, or with `function_name` a called name: dotted, and with '-' as OpenAI's names allow.
  std::string identifier(bool function_name) {
    skip_space();
    const size_t begin = at_;
    while (!done() && (identifier_char(peek(), at_ == begin) ||
                       (function_name && (peek() == '.' || peek() == '-') && at_ > begin)))
      ++at_;
    return std::string(text_.substr(begin, at_ - begin));
  }

  bool call(ToolCall* call) {
    call->name = identifier(true);
    if (call->name.empty() || !consume('(')) return false;
    ordered_json arguments = ordered_json::object();
    while (!consume(')')) {
      const std::string key = identifier(false);
      if (key.empty() || !consume('=')) return false;  // positional arguments have no name to give
      std::optional<ordered_json> value = literal();
      if (!value) return false;
      arguments[key] = std::move(*value);
      if (!consume(',') && !closes(')')) return false;
    }
    call->arguments = arguments.dump();
    return true;
  }

  // True when the next character (after blanks) is `close`; it is left for the loop to consume.
  bool closes(char close) {
    skip_space();
    return peek() == close;
  }

  std::optional<ordered_json> literal() {
    struct Depth {  // nesting is bounded: a reply is the model's text, it may open brackets forever
      explicit Depth(int* depth) : depth_(depth) { ++*depth_; }
      ~Depth() { --*depth_; }
      int* depth_;
    } depth(&depth_);
    if (depth_ > kMaxNesting) return std::nullopt;
    skip_space();
    const char c = peek();
    if (c == '"' || c == '\'') return string_literal();
    if (c == '[' || c == '(') return sequence(c == '[' ? ']' : ')');
    if (c == '{') return dictionary();
    if (c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9')) return number();
    const std::string word = identifier(false);
    // The template shows earlier calls' arguments as JSON, so the model may write either spelling.
    if (word == "True" || word == "true") return ordered_json(true);
    if (word == "False" || word == "false") return ordered_json(false);
    if (word == "None" || word == "null") return ordered_json(nullptr);
    return std::nullopt;
  }

  std::optional<ordered_json> string_literal() {
    const char quote = text_[at_++];
    std::string value;
    while (!done() && peek() != quote) {
      char c = text_[at_++];
      if (c != '\\') {
        value += c;
        continue;
      }
      if (done()) return std::nullopt;
      c = text_[at_++];
      switch (c) {
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        case '0':
          value += '\0';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'u': {
          std::optional<char32_t> code = hex4();
          if (code && *code >= 0xD800 && *code < 0xDC00) {  // a surrogate pair, as JSON writes it
            std::optional<char32_t> low;
            if (text_.substr(at_, 2) == "\\u") {
              at_ += 2;
              low = hex4();
            }
            code = low && *low >= 0xDC00 && *low < 0xE000
                       ? std::optional<char32_t>(0x10000 + ((*code - 0xD800) << 10) + (*low - 0xDC00))
                       : std::nullopt;
          }
          if (!code || (*code >= 0xD800 && *code < 0xE000)) return std::nullopt;  // a lone surrogate
          utf8::append(*code, &value);
          break;
        }
        default:
          value += c;  // \\, \', \" and anything else Python keeps as the character
      }
    }
    if (done()) return std::nullopt;
    ++at_;  // closing quote
    if (!utf8::is_valid(value)) return std::nullopt;
    return ordered_json(value);
  }

  // Four hex digits after \\u.
  std::optional<char32_t> hex4() {
    if (at_ + 4 > text_.size()) return std::nullopt;
    const std::string hex(text_.substr(at_, 4));
    at_ += 4;
    if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) return std::nullopt;
    return static_cast<char32_t>(std::stoul(hex, nullptr, 16));
  }

  std::optional<ordered_json> number() {
    const size_t begin = at_;
    while (!done() && std::string_view("+-.0123456789eE_").find(peek()) != std::string_view::npos) ++at_;
    std::string digits(text_.substr(begin, at_ - begin));
    std::erase(digits, '_');
    const ordered_json value =
        ordered_json::parse(digits.starts_with('+') ? digits.substr(1) : digits, nullptr, false);
    if (value.is_discarded() || !value.is_number()) return std::nullopt;
    return value;
  }

  std::optional<ordered_json> sequence(char close) {
    ++at_;
    ordered_json items = ordered_json::array();
    while (!consume(close)) {
      std::optional<ordered_json> item = literal();
      if (!item) return std::nullopt;
      items.push_back(std::move(*item));
      if (!consume(',') && !closes(close)) return std::nullopt;
    }
    return items;
  }

  std::optional<ordered_json> dictionary() {
    ++at_;
    ordered_json object = ordered_json::object();
    while (!consume('}')) {
      std::optional<ordered_json> key = literal();
      if (!key || !key->is_string() || !consume(':')) return std::nullopt;
      std::optional<ordered_json> value = literal();
      if (!value) return std::nullopt;
      object[key->get<std::string>()] = std::move(*value);
      if (!consume(',') && !closes('}')) return std::nullopt;
    }
    return object;
  }

  static constexpr int kMaxNesting = 64;
  std::string_view text_;
  size_t at_ = 0;
  int depth_ = 0;
};

}  // namespace

std::optional<std::vector<ToolCall>> parse_tool_call_block(std::string_view block) {
  block = trim(block);
  if (block.starts_with("```")) {
    const size_t line_end = block.find('\n');
    block = line_end == std::string_view::npos ? std::string_view() : block.substr(line_end + 1);
    if (const size_t fence = block.rfind("```"); fence != std::string_view::npos)
      block = block.substr(0, fence);
  }
  std::vector<ToolCall> calls;
  if (!PythonCallParser(block).calls(&calls) || calls.empty()) return std::nullopt;
  return calls;
}

namespace {

// One function of OpenAI's `tools` list: its name and parameter schema.
std::pair<std::string, const ordered_json*> function_of(const ordered_json& tool) {
  static const ordered_json kNoParameters;
  const ordered_json* function = &tool;
  if (tool.is_object() && tool.contains("function")) function = &tool["function"];
  if (!function->is_object() || !function->contains("name") || !(*function)["name"].is_string())
    fail("each tool must be {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": ...}}");
  const auto parameters = function->find("parameters");
  return {(*function)["name"].get<std::string>(),
          parameters == function->end() ? &kNoParameters : &*parameters};
}

}  // namespace

std::string required_tool_call_regex(const ordered_json& tools, std::string_view only, bool single_call) {
  if (!tools.is_array() || tools.empty()) fail("a required tool call needs a non-empty 'tools' list");
  std::string calls;
  for (const ordered_json& tool : tools) {
    const auto [name, parameters] = function_of(tool);
    if (!only.empty() && name != only) continue;
    try {
      calls.append(calls.empty() ? "(" : "|").append(python_call_regex(name, *parameters));
    } catch (const Error& error) {
      fail("tool '", name, "': ", error.what());
    }
  }
  if (calls.empty()) fail("tool_choice names function '", only, "', which is not in 'tools'");
  calls.append(")");
  std::string regex = "(";
  regex.append(regex_escape(kThoughtStart))
      .append("\\n?[^<]*")
      .append(regex_escape(kThoughtEnd))
      .append("\\n?)?")
      .append(regex_escape(kCallStart))
      .append("\\n?```python\\n")
      .append(calls)
      .append(single_call ? "" : cat({"(\\n", calls, ")*"}))
      .append("\\n?```\\n?")
      .append(regex_escape(kCallEnd));
  return regex;
}

}  // namespace cpm

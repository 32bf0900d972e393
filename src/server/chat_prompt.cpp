#include "server/chat_prompt.h"

#include "server/json_fields.h"

namespace cpm {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

HttpError bad_message(const std::string& where, const std::string& problem) {
  return HttpError(400, where + problem, "invalid_request_error", "messages");
}

// A message's content as text: a string, or text parts joined. Only an assistant's may be left out
// or null (a reply that was only tool calls).
ordered_json message_text(const ordered_json& message, const std::string& where) {
  if (!message.contains("content") || message["content"].is_null()) {
    if (message["role"] == "assistant") return nullptr;
    throw bad_message(where, "needs 'content' (a string or a list of text parts)");
  }
  const ordered_json& content = message["content"];
  if (content.is_string()) return content;
  if (!content.is_array()) throw bad_message(where, "'content' must be a string or a list of text parts");
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string part = where + "content[" + std::to_string(j) + "] ";
    if (!content[j].is_object() || !content[j].contains("type") || !content[j]["type"].is_string())
      throw bad_message(part, "must be an object with a 'type'");
    if (content[j]["type"] != "text")
      throw bad_message(part, "is of type '" + content[j]["type"].get<std::string>() +
                                  "': only text parts are supported (the model reads text alone)");
    if (!content[j].contains("text") || !content[j]["text"].is_string())
      throw bad_message(part, "needs 'text', a string");
    text += content[j]["text"].get<std::string>();
  }
  return text;
}

// Tool-call arguments (a JSON string in the OpenAI format) as objects, which templates iterate
// with |items.
void read_tool_calls(ordered_json& tool_calls, const std::string& where) {
  if (tool_calls.is_null()) return;
  if (!tool_calls.is_array()) throw bad_message(where, "'tool_calls' must be a list");
  for (size_t j = 0; j < tool_calls.size(); ++j) {
    const std::string call = where + "tool_calls[" + std::to_string(j) + "] ";
    ordered_json& function = tool_calls[j].is_object() ? tool_calls[j]["function"] : tool_calls[j];
    if (!function.is_object() || !function.contains("name") || !function["name"].is_string())
      throw bad_message(call, "needs a 'function' with a string 'name'");
    ordered_json& arguments = function["arguments"];
    if (arguments.is_null()) arguments = ordered_json::object();
    if (arguments.is_string()) {
      try {
        arguments = ordered_json::parse(arguments.get<std::string>());
      } catch (const json::parse_error&) {
        throw bad_message(call, "has arguments that are not JSON");
      }
    }
    if (!arguments.is_object()) throw bad_message(call, "has arguments that are not a JSON object");
  }
}

// The messages as the template expects them: content parts flattened to text, tool-call arguments
// as objects. Read from the body as ordered_json: key order shows in what the template prints.
// Errors name the message, as messages[2].content[0].
ordered_json template_messages(const ordered_json& body) {
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    throw HttpError(400, "'messages' must be a non-empty list", "invalid_request_error", "messages");
  }
  ordered_json messages = ordered_json::array();
  const ordered_json& given = body["messages"];
  for (size_t i = 0; i < given.size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "] ";
    const ordered_json& message = given[i];
    if (!message.is_object() || !message.contains("role") || !message["role"].is_string())
      throw bad_message(where, "needs a string 'role'");
    ordered_json copy = message;
    if (message.contains("content") || message["role"] != "assistant")
      copy["content"] = message_text(message, where);
    if (copy.contains("tool_calls")) read_tool_calls(copy["tool_calls"], where);
    messages.push_back(std::move(copy));
  }
  return messages;
}

}  // namespace

std::string render_chat(ServerContext& context, const json& body, const std::string& raw_body) {
  const ordered_json ordered_body = ordered_json::parse(raw_body);
  ordered_json variables = {
      {"messages", template_messages(ordered_body)},
      {"add_generation_prompt", optional_field<bool>(body, "add_generation_prompt").value_or(true)}};
  if (ordered_body.contains("tools") && !ordered_body["tools"].is_null())
    variables["tools"] = ordered_body["tools"];
  if (context.tokenizer != nullptr) {
    if (context.tokenizer->bos_id() >= 0)
      variables["bos_token"] = context.tokenizer->id_to_token(context.tokenizer->bos_id());
    if (context.tokenizer->eos_id() >= 0)
      variables["eos_token"] = context.tokenizer->id_to_token(context.tokenizer->eos_id());
  }
  try {
    return context.chat_template->render(variables);
  } catch (const Error& error) {
    throw HttpError(400, error.what());
  }
}

}  // namespace cpm

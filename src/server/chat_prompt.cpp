#include "server/chat_prompt.h"

#include "server/json_fields.h"

namespace cpm {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// The messages as the template expects them: content parts flattened to text, and tool-call
// arguments (a JSON string in the OpenAI format) as objects, which templates iterate with |items.
// Read from the body as ordered_json: key order shows in what the template prints.
ordered_json template_messages(const ordered_json& body) {
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    throw HttpError(400, "'messages' must be a non-empty list", "invalid_request_error", "messages");
  }
  ordered_json messages = ordered_json::array();
  for (const ordered_json& message : body["messages"]) {
    if (!message.is_object() || !message.contains("role") || !message["role"].is_string()) {
      throw HttpError(400, "each message needs a string 'role'", "invalid_request_error", "messages");
    }
    ordered_json copy = message;
    if (message.contains("content") && message["content"].is_array()) {
      std::string text;
      for (const ordered_json& part : message["content"]) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
          throw HttpError(400, "only text content parts are supported", "invalid_request_error", "messages");
        }
        text += part["text"].get<std::string>();
      }
      copy["content"] = text;
    } else if (message.contains("content") && !message["content"].is_string() &&
               !message["content"].is_null()) {
      throw HttpError(400, "message content must be a string or a list of parts", "invalid_request_error",
                      "messages");
    }
    if (copy.contains("tool_calls") && copy["tool_calls"].is_array()) {
      for (ordered_json& call : copy["tool_calls"]) {
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
        ordered_json& arguments = call["function"]["arguments"];
        if (!arguments.is_string()) continue;
        try {
          arguments = ordered_json::parse(arguments.get<std::string>());
        } catch (const json::parse_error&) {
          throw HttpError(400, "tool call arguments must be a JSON object", "invalid_request_error",
                          "messages");
        }
      }
    }
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

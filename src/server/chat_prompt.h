// The prompt of a chat request: its messages (and tools) through the model's chat template.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "server/server_context.h"

namespace cpm {

// `raw_body` (the request's text) is parsed again as ordered_json so that messages and tools keep
// the client's key order, which shows in what a template prints. Content parts are flattened to
// text and tool-call arguments (a JSON string in OpenAI's format) become objects. Throws HttpError
// 400 for malformed messages or a template error.
std::string render_chat(ServerContext& context, const nlohmann::json& body, const std::string& raw_body);

}  // namespace cpm

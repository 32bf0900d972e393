// OpenAI-compatible endpoints.
#pragma once

#include "server/server_context.h"

namespace cpm {

void handle_completions(ServerContext& context, const httplib::Request& request, httplib::Response& response);
void handle_chat_completions(ServerContext& context, const httplib::Request& request,
                             httplib::Response& response);
void handle_models(ServerContext& context, const httplib::Request& request, httplib::Response& response);
// GET /v1/models/{model}: the served model's card, or 404.
void handle_model(ServerContext& context, const httplib::Request& request, httplib::Response& response);

}  // namespace cpm

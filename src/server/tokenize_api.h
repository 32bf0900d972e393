// Token counting endpoints, in vLLM's shape: POST /tokenize and POST /detokenize.
#pragma once

#include "server/server_context.h"

namespace cpm {

// {"prompt": "..."} (or llama-server's "content"), or a chat request's {"messages": [...], "tools":
// ...} through the chat template; "add_special_tokens" (default true for a prompt, false for
// messages, whose template writes them), "return_token_strs". Replies {"count", "max_model_len",
// "tokens"[, "token_strs"]}.
void handle_tokenize(ServerContext& context, const httplib::Request& request, httplib::Response& response);
// {"tokens": [ids]} -> {"prompt": text}.
void handle_detokenize(ServerContext& context, const httplib::Request& request, httplib::Response& response);

}  // namespace cpm

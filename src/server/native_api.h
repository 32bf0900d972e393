// sglang-style native endpoints: /generate and the operational ones.
#pragma once

#include "server/server_context.h"

namespace cpm {

void handle_generate(ServerContext& context, const httplib::Request& request, httplib::Response& response);
void handle_health_generate(ServerContext& context, const httplib::Request& request,
                            httplib::Response& response);
void handle_model_info(ServerContext& context, const httplib::Request& request, httplib::Response& response);
void handle_server_info(ServerContext& context, const httplib::Request& request, httplib::Response& response);
// sglang's POST /abort_request: {"rid": id} aborts that request (its choices or prompts too),
// {"abort_all": true} every generation in flight; they finish with "abort".
void handle_abort_request(ServerContext& context, const httplib::Request& request,
                          httplib::Response& response);
void handle_flush_cache(ServerContext& context, const httplib::Request& request, httplib::Response& response);
void handle_metrics(ServerContext& context, const httplib::Request& request, httplib::Response& response);

}  // namespace cpm

#include "server/tokenize_api.h"

#include <httplib.h>

#include "server/chat_prompt.h"
#include "server/json_fields.h"

namespace cpm {

using nlohmann::json;
using nlohmann::ordered_json;

void handle_tokenize(ServerContext& context, const httplib::Request& http_request,
                     httplib::Response& response) {
  guarded(context, response, [&] {
    const json body = parse_body(http_request);
    check_model_name(context, body);
    std::vector<int32_t> ids;
    if (body.contains("messages")) {
      if (body.contains("prompt"))
        throw HttpError(400, "give either 'prompt' or 'messages', not both", "invalid_request_error",
                        "prompt");
      const bool special = optional_field<bool>(body, "add_special_tokens").value_or(false);
      ids = tokenize_text(context, render_chat(context, body, http_request.body), special);
    } else {
      std::optional<std::string> prompt = optional_field<std::string>(body, "prompt");
      if (!prompt) prompt = optional_field<std::string>(body, "content");  // llama-server's name for it
      if (!prompt)
        throw HttpError(400, "the request needs 'prompt' (a string) or 'messages'", "invalid_request_error",
                        "prompt");
      ids = tokenize_text(context, *prompt, optional_field<bool>(body, "add_special_tokens").value_or(true));
    }
    ordered_json reply = {
        {"count", ids.size()}, {"max_model_len", context.engine.model().context_length()}, {"tokens", ids}};
    if (optional_field<bool>(body, "return_token_strs").value_or(false)) {
      ordered_json pieces = ordered_json::array();
      for (int32_t id : ids) pieces.push_back(context.tokenizer->id_to_token(id));
      reply["token_strs"] = std::move(pieces);
    }
    send_json(context, response, reply);
  });
}

void handle_detokenize(ServerContext& context, const httplib::Request& http_request,
                       httplib::Response& response) {
  guarded(context, response, [&] {
    const json body = parse_body(http_request);
    check_model_name(context, body);
    if (!body.contains("tokens") || !body["tokens"].is_array())
      throw HttpError(400, "'tokens' must be a list of token ids", "invalid_request_error", "tokens");
    if (context.tokenizer == nullptr) throw HttpError(400, "this model has no tokenizer to decode with");
    const int64_t vocab_size = context.tokenizer->vocab_size();
    std::vector<int32_t> ids;
    for (const json& id : body["tokens"]) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= vocab_size) {
        throw HttpError(
            400,
            "token id " + id.dump() + " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")",
            "invalid_request_error", "tokens");
      }
      ids.push_back(id.get<int32_t>());
    }
    send_json(context, response, {{"prompt", context.tokenizer->decode(ids)}});
  });
}

}  // namespace cpm

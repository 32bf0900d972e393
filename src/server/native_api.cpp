#include "server/native_api.h"

#include <httplib.h>

#include "runtime/sampling_params_json.h"
#include "server/json_fields.h"

namespace cpm {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// sglang's finish_reason object.
ordered_json finish_reason_object(const OutputChunk& chunk) {
  if (!chunk.finished) return nullptr;
  ordered_json reason = {{"type", chunk.finish_reason}};
  if (chunk.finish_reason == "length") reason["length"] = chunk.completion_tokens;
  if (chunk.finish_reason == "stop") {
    const ordered_json matched = matched_stop_json(chunk);
    if (!matched.is_null()) reason["matched"] = matched;
  }
  if (chunk.finish_reason == "error") reason["message"] = chunk.error;
  return reason;
}

// [logprob, token id, null] as sglang lists them, and the alternatives likewise.
ordered_json logprob_entry(const ordered_json& logprob, int32_t token) {
  return {logprob, token, nullptr};
}

ordered_json top_entries(const SampledToken& token) {
  ordered_json top = ordered_json::array();
  for (const TokenLogprob& alternative : token.top_logprobs)
    top.push_back(logprob_entry(alternative.logprob, alternative.token));
  return top;
}

// sglang's input_token_logprobs and input_top_logprobs: prompt positions from `start` on, the first
// prompt token (which nothing predicts) with a null logprob.
void add_input_logprobs(const OutputChunk& all, const std::vector<int32_t>& prompt, int32_t start,
                        ordered_json* meta) {
  ordered_json chosen = ordered_json::array(), tops = ordered_json::array();
  if (start == 0 && !prompt.empty()) {
    chosen.push_back(logprob_entry(nullptr, prompt[0]));
    tops.push_back(nullptr);
  }
  for (const auto& [position, token] : all.input_logprobs) {
    chosen.push_back(logprob_entry(token.logprob, token.token));
    tops.push_back(top_entries(token));
  }
  (*meta)["input_token_logprobs"] = std::move(chosen);
  (*meta)["input_top_logprobs"] = std::move(tops);
}

ordered_json generate_result(const OutputChunk& all, bool with_logprobs, double latency) {
  ordered_json meta = {{"id", all.request_id},
                       {"prompt_tokens", all.prompt_tokens},
                       {"completion_tokens", all.completion_tokens},
                       {"cached_tokens", all.cached_tokens},
                       {"finish_reason", finish_reason_object(all)},
                       {"e2e_latency", latency}};
  if (with_logprobs) {
    ordered_json chosen = ordered_json::array(), tops = ordered_json::array();
    for (const SampledToken& token : all.logprobs) {
      chosen.push_back(logprob_entry(token.logprob, token.token));
      tops.push_back(top_entries(token));
    }
    meta["output_token_logprobs"] = chosen;
    meta["output_top_logprobs"] = tops;
  }
  return {{"text", all.text}, {"output_ids", all.token_ids}, {"meta_info", meta}};
}

// The prompts of a /generate body: "text" (string or list) or "input_ids" (list or list of lists).
std::vector<std::vector<int32_t>> generate_prompts(ServerContext& context, const json& body, bool* batch) {
  std::vector<std::vector<int32_t>> prompts;
  if (body.contains("input_ids") && !body["input_ids"].is_null()) {
    const json& ids = body["input_ids"];
    auto read = [](const json& list) {
      if (!list.is_array())
        throw HttpError(400, "'input_ids' must be a list of token ids or a list of such lists");
      std::vector<int32_t> tokens;
      for (const json& id : list) {
        if (!id.is_number_integer())
          throw HttpError(400, "'input_ids' must be a list of token ids or a list of such lists");
        tokens.push_back(id.get<int32_t>());
      }
      return tokens;
    };
    *batch = ids.is_array() && !ids.empty() && ids[0].is_array();
    if (*batch) {
      for (const json& item : ids) prompts.push_back(read(item));
    } else {
      prompts.push_back(read(ids));
    }
  } else if (body.contains("text") && !body["text"].is_null()) {
    const json& text = body["text"];
    *batch = text.is_array();
    if (text.is_string()) {
      prompts.push_back(tokenize_text(context, text.get<std::string>(), true));
    } else if (text.is_array() && !text.empty()) {
      for (const json& item : text) {
        if (!item.is_string()) throw HttpError(400, "'text' must be a string or a list of strings");
        prompts.push_back(tokenize_text(context, item.get<std::string>(), true));
      }
    } else {
      throw HttpError(400, "'text' must be a string or a list of strings");
    }
  } else {
    throw HttpError(400, "the request needs 'text' or 'input_ids'");
  }
  return prompts;
}

}  // namespace

void handle_generate(ServerContext& context, const httplib::Request& http_request,
                     httplib::Response& response) {
  guarded(context, response, [&] {
    const json body = parse_body(http_request);
    bool batch = false;
    const auto prompts = generate_prompts(context, body, &batch);
    SamplingParams defaults;
    SamplingParams params;
    try {
      params = sampling_params_from_json(body.value("sampling_params", json()), defaults);
    } catch (const Error& error) {
      throw HttpError(400, error.what());
    }
    if (body.contains("sampling_params") && body["sampling_params"].is_object() &&
        body["sampling_params"].contains("json_schema") &&
        body["sampling_params"]["json_schema"].is_object()) {
      // Re-read in the client's key order: properties are generated in the schema's order.
      params.json_schema = ordered_json::parse(http_request.body)["sampling_params"]["json_schema"].dump();
    }
    params.return_logprob = optional_field<bool>(body, "return_logprob").value_or(false);
    if (params.return_logprob) {
      params.top_logprobs = optional_field<int32_t>(body, "top_logprobs_num").value_or(0);
      params.logprob_start_len = optional_field<int32_t>(body, "logprob_start_len").value_or(-1);
    }
    try {
      params.validate();
    } catch (const Error& error) {
      throw HttpError(400, error.what());
    }
    const bool stream = optional_field<bool>(body, "stream").value_or(false);
    const std::string id = body.contains("rid") && body["rid"].is_string() ? body["rid"].get<std::string>()
                                                                           : context.new_id("gen-");
    std::vector<EngineRequest> requests;
    for (size_t i = 0; i < prompts.size(); ++i) {
      requests.push_back({prompts.size() == 1 ? id : id + "-" + std::to_string(i), prompts[i], params});
    }
    auto session = std::make_shared<GenerationSession>(context.engine, context.metrics, std::move(requests),
                                                       &context.sessions, id);
    const bool with_logprobs = params.return_logprob;
    if (!stream) {
      const std::vector<OutputChunk> results = session->wait_all();
      for (const OutputChunk& result : results) {
        if (result.finish_reason == "error") throw HttpError(400, result.error);
      }
      ordered_json out = ordered_json::array();
      for (size_t i = 0; i < results.size(); ++i) {
        out.push_back(generate_result(results[i], with_logprobs, session->elapsed_seconds()));
        if (with_logprobs && params.logprob_start_len >= 0)
          add_input_logprobs(results[i], prompts[i], params.logprob_start_len, &out.back()["meta_info"]);
      }
      send_json(context, response, batch ? out : out[0]);
      log_request(id, "/generate", results, session->elapsed_seconds());
      return;
    }
    // sglang streams the cumulative text and ids of each prompt so far.
    auto totals = std::make_shared<std::vector<OutputChunk>>(session->size());
    stream_events(
        context, response, session,
        [=](size_t index, const OutputChunk& chunk) {
          merge_chunk(chunk, &(*totals)[index]);
          ordered_json event = generate_result((*totals)[index], with_logprobs, session->elapsed_seconds());
          if (with_logprobs && params.logprob_start_len >= 0)
            add_input_logprobs((*totals)[index], prompts[index], params.logprob_start_len,
                               &event["meta_info"]);
          if (batch) event["index"] = index;
          return std::vector<std::string>{event.dump(-1, ' ', false, json::error_handler_t::replace)};
        },
        [=] {
          log_request(id, "/generate", *totals, session->elapsed_seconds());
          return std::vector<std::string>{};
        });
  });
}

void handle_health_generate(ServerContext& context, const httplib::Request&, httplib::Response& response) {
  guarded(context, response, [&] {
    EngineRequest probe;
    probe.id = context.new_id("health-");
    probe.input_ids = {
        context.tokenizer != nullptr && context.tokenizer->bos_id() >= 0 ? context.tokenizer->bos_id() : 0};
    probe.params.max_new_tokens = 1;
    probe.params.temperature = 0;
    probe.params.ignore_eos = true;
    GenerationSession session(context.engine, context.metrics, {probe});
    size_t index;
    OutputChunk chunk;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!session.finished() && std::chrono::steady_clock::now() < deadline) {
      session.next(&index, &chunk, std::chrono::milliseconds(200));
    }
    if (!session.finished() || chunk.finish_reason == "error") {
      throw HttpError(503, "the engine did not produce a token", "server_unhealthy");
    }
    response.status = 200;
    response.set_content("", "text/plain");
  });
}

void handle_model_info(ServerContext& context, const httplib::Request&, httplib::Response& response) {
  guarded(context, response, [&] {
    const ModelConfig& config = context.engine.model().config();
    send_json(context, response,
              {{"model_path", context.options.model_path},
               {"tokenizer_path", context.tokenizer != nullptr ? context.options.model_path : ""},
               {"is_generation", true},
               {"served_model_name", context.options.served_model_name},
               {"context_length", context.engine.model().context_length()},
               {"vocab_size", config.vocab_size},
               {"num_hidden_layers", config.num_hidden_layers},
               {"hidden_size", config.hidden_size},
               {"attention_backend", context.engine.model().attention().name()}});
  });
}

void handle_server_info(ServerContext& context, const httplib::Request&, httplib::Response& response) {
  guarded(context, response, [&] {
    const EngineStats stats = context.engine.stats();
    const SchedulerOptions& options = context.engine.options();
    send_json(context, response,
              {{"version", "cpmserve 0.1"},
               {"model_path", context.options.model_path},
               {"served_model_name", context.options.served_model_name},
               {"host", context.options.host},
               {"port", context.options.port},
               {"context_length", context.engine.model().context_length()},
               {"attention_backend", context.engine.model().attention().name()},
               {"enable_deterministic_inference", context.engine.model().deterministic_inference()},
               {"enable_bf16_prefill", context.engine.model().bf16_prefill()},
               {"max_running_requests", options.max_running_requests},
               {"chunked_prefill_size", options.chunked_prefill_size},
               {"max_total_tokens", stats.kv_capacity_tokens},
               {"kv_cache_dtype", std::string(dtype_name(options.kv_cache_dtype))},
               {"disable_radix_cache", !options.enable_radix_cache},
               {"speculative_algorithm", options.speculative_num_draft_tokens > 0 ? "ngram" : "none"},
               {"speculative_num_draft_tokens", options.speculative_num_draft_tokens},
               {"spec_accept_rate", stats.counters.draft_tokens > 0
                                        ? static_cast<double>(stats.counters.accepted_draft_tokens) /
                                              static_cast<double>(stats.counters.draft_tokens)
                                        : 0.0},
               {"threads", context.engine.model().pool().num_threads()},
               {"num_running_requests", stats.running},
               {"num_queued_requests", stats.waiting},
               {"kv_cache_used_tokens", stats.kv_used_tokens},
               {"prefix_cache_tokens", stats.prefix_cache_tokens}});
  });
}

void handle_flush_cache(ServerContext& context, const httplib::Request&, httplib::Response& response) {
  guarded(context, response, [&] {
    context.engine.flush_cache();
    response.status = 200;
    response.set_content("Cache flushed.\n", "text/plain");
    context.metrics.record_http_status(200);
  });
}

void handle_abort_request(ServerContext& context, const httplib::Request& http_request,
                          httplib::Response& response) {
  guarded(context, response, [&] {
    const json body = parse_body(http_request);
    const std::string rid = optional_field<std::string>(body, "rid").value_or("");
    const bool all = optional_field<bool>(body, "abort_all").value_or(false);
    if (rid.empty() && !all)
      throw HttpError(400, "give 'rid' (a request id) or 'abort_all': true", "invalid_request_error", "rid");
    // An id not in flight (finished already, or never seen) is not an error, as in sglang: aborting
    // races with finishing.
    const size_t aborted = all ? context.sessions.abort_all(context.engine)
                               : static_cast<size_t>(context.sessions.abort(context.engine, rid));
    send_json(context, response, {{"aborted", aborted}});
  });
}

void handle_metrics(ServerContext& context, const httplib::Request&, httplib::Response& response) {
  response.status = 200;
  response.set_content(context.metrics.render(context.engine.stats()), "text/plain; version=0.0.4");
}

}  // namespace cpm

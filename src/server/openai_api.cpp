#include "server/openai_api.h"

#include <httplib.h>

#include <ctime>
#include <map>

#include "server/chat_prompt.h"
#include "server/json_fields.h"
#include "server/minicpm3_reply.h"
#include "server/openai_params.h"

namespace cpm {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

int64_t unix_time() {
  return static_cast<int64_t>(std::time(nullptr));
}

// A token's text as it reads mid-output (" has", not the "has" that decoding it alone gives, where
// the decoder strips the leading space of an output's start), so that a reply's logprob tokens join
// into its text. Special tokens read as themselves; a model without a tokenizer shows the id.
// The first token of an output (`output_start`) loses what the decoder strips from a text's start,
// as the reply's text does.
std::string token_text(const ServerContext& context, int32_t id, bool output_start = false) {
  const Tokenizer* tokenizer = context.tokenizer;
  if (tokenizer == nullptr) return std::to_string(id);
  if (id < 0 || id >= tokenizer->vocab_size() || tokenizer->is_special(id))
    return tokenizer->decode({id}, false);
  std::string text = tokenizer->decoder().token_bytes(tokenizer->id_to_token(id));
  const std::string& strip = tokenizer->decoder().leading_strip_content();
  for (int k = 0; output_start && !strip.empty() && k < tokenizer->decoder().leading_strip_count(); ++k) {
    if (!text.starts_with(strip)) break;
    text.erase(0, strip.size());
  }
  return text;
}

// Whether a chunk's first logprob is its output's first token.
bool starts_output(const OutputChunk& chunk) {
  return chunk.completion_tokens == static_cast<int64_t>(chunk.logprobs.size());
}

ordered_json byte_list(const std::string& text) {
  ordered_json bytes = ordered_json::array();
  for (unsigned char c : text) bytes.push_back(c);
  return bytes;
}

ordered_json usage_of(const std::vector<OutputChunk>& results, size_t choices_per_prompt) {
  int64_t prompt = 0, completion = 0, cached = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    // A prompt's tokens count once however many choices it has.
    if (i % choices_per_prompt == 0) prompt += results[i].prompt_tokens;
    completion += results[i].completion_tokens;
    cached += results[i].cached_tokens;
  }
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

ordered_json finish_reason(const OutputChunk& chunk) {
  if (!chunk.finished) return nullptr;
  return chunk.finish_reason;
}

// The legacy completions logprobs object for some tokens; with `echoed_prompt` (echo), the prompt's
// tokens first, scored by the chunk's input logprobs (the first prompt token has none: null).
ordered_json completion_logprobs(const ServerContext& context, const OutputChunk& chunk, size_t text_offset,
                                 const std::vector<int32_t>* echoed_prompt = nullptr) {
  ordered_json tokens = ordered_json::array(), logprobs = ordered_json::array(), tops = ordered_json::array(),
               offsets = ordered_json::array();
  auto add = [&](int32_t token, const SampledToken* scored, bool output_start) {
    const std::string text = token_text(context, token, output_start);
    tokens.push_back(text);
    ordered_json top = ordered_json::object();
    if (scored != nullptr) {
      for (const TokenLogprob& alternative : scored->top_logprobs)
        top[token_text(context, alternative.token)] = alternative.logprob;
    }
    logprobs.push_back(scored != nullptr ? ordered_json(scored->logprob) : ordered_json());
    tops.push_back(scored != nullptr ? top : ordered_json());
    offsets.push_back(text_offset);
    text_offset += text.size();
  };
  if (echoed_prompt != nullptr) {
    std::map<int64_t, const SampledToken*> scored;
    for (const auto& [position, token] : chunk.input_logprobs) scored[position] = &token;
    for (size_t p = 0; p < echoed_prompt->size(); ++p) {
      const auto found = scored.find(static_cast<int64_t>(p));
      add((*echoed_prompt)[p], found == scored.end() ? nullptr : found->second, false);
    }
  }
  // After an echoed prompt the output is no text's start.
  bool output_start = echoed_prompt == nullptr && starts_output(chunk);
  for (const SampledToken& sampled : chunk.logprobs) {
    add(sampled.token, &sampled, output_start);
    output_start = false;
  }
  return {{"tokens", tokens}, {"token_logprobs", logprobs}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

ordered_json chat_logprobs(const ServerContext& context, const OutputChunk& chunk) {
  ordered_json content = ordered_json::array();
  bool output_start = starts_output(chunk);
  for (const SampledToken& sampled : chunk.logprobs) {
    const std::string text = token_text(context, sampled.token, output_start);
    output_start = false;
    ordered_json top = ordered_json::array();
    for (const TokenLogprob& alternative : sampled.top_logprobs) {
      const std::string alternative_text = token_text(context, alternative.token);
      top.push_back({{"token", alternative_text},
                     {"logprob", alternative.logprob},
                     {"bytes", byte_list(alternative_text)}});
    }
    content.push_back(
        {{"token", text}, {"logprob", sampled.logprob}, {"bytes", byte_list(text)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// Prompts of a completions request: a string, a list of strings, a list of token ids, or a list of those.
std::vector<std::vector<int32_t>> completion_prompts(ServerContext& context, const json& body,
                                                     std::vector<std::string>* texts) {
  if (!body.contains("prompt"))
    throw HttpError(400, "'prompt' is required", "invalid_request_error", "prompt");
  const json& prompt = body["prompt"];
  auto bad = [] {
    return HttpError(400, "'prompt' must be a string, a list of strings or a list of token ids",
                     "invalid_request_error", "prompt");
  };
  std::vector<std::vector<int32_t>> prompts;
  auto add_ids = [&](const json& ids) {
    std::vector<int32_t> tokens;
    for (const json& id : ids) {
      if (!id.is_number_integer()) throw bad();
      tokens.push_back(id.get<int32_t>());
    }
    prompts.push_back(tokens);
    texts->push_back(context.tokenizer != nullptr ? context.tokenizer->decode(tokens) : "");
  };
  auto add_text = [&](const std::string& text) {
    prompts.push_back(tokenize_text(context, text, true));
    texts->push_back(text);
  };
  if (prompt.is_string()) {
    add_text(prompt.get<std::string>());
  } else if (prompt.is_array() && !prompt.empty() && prompt[0].is_number_integer()) {
    add_ids(prompt);
  } else if (prompt.is_array() && !prompt.empty()) {
    for (const json& item : prompt) {
      if (item.is_string())
        add_text(item.get<std::string>());
      else if (item.is_array())
        add_ids(item);
      else
        throw bad();
    }
  } else {
    throw bad();
  }
  return prompts;
}

std::vector<EngineRequest> expand_requests(ServerContext& context,
                                           const std::vector<std::vector<int32_t>>& prompts,
                                           const OpenAiParams& params, const std::string& id) {
  std::vector<EngineRequest> requests;
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int i = 0; i < params.n; ++i) {
      EngineRequest request;
      request.id = id + "-" + std::to_string(requests.size());
      request.input_ids = prompts[p];
      request.params = params.sampling;
      // Seeded choices must differ from each other yet stay reproducible.
      if (request.params.seed && params.n > 1)
        request.params.seed = *request.params.seed + static_cast<uint64_t>(i);
      requests.push_back(std::move(request));
    }
  }
  (void)context;
  return requests;
}

}  // namespace

void handle_completions(ServerContext& context, const httplib::Request& http_request,
                        httplib::Response& response) {
  guarded(context, response, [&] {
    const json body = parse_body(http_request);
    check_model_name(context, body);
    OpenAiParams params = parse_openai_params(body, false, http_request.body);
    const bool echo = optional_field<bool>(body, "echo").value_or(false);
    // echo with logprobs scores the prompt too, as evaluation harnesses use it for log-likelihoods.
    if (echo && params.sampling.return_logprob) params.sampling.logprob_start_len = 0;
    std::vector<std::string> prompt_texts;
    const auto prompts = completion_prompts(context, body, &prompt_texts);
    const std::string id = context.new_id("cmpl-");
    auto session = std::make_shared<GenerationSession>(context.engine, context.metrics,
                                                       expand_requests(context, prompts, params, id),
                                                       &context.sessions, id);
    const int64_t created = unix_time();
    const std::string model = context.options.served_model_name;
    const size_t n = static_cast<size_t>(params.n);
    auto text_of = [&, echo](size_t index, const std::string& text) {
      return echo ? prompt_texts[index / n] + text : text;
    };
    if (!params.stream) {
      const std::vector<OutputChunk> results = session->wait_all();
      ordered_json choices = ordered_json::array();
      for (size_t i = 0; i < results.size(); ++i) {
        if (results[i].finish_reason == "error") throw HttpError(400, results[i].error);
        choices.push_back(
            {{"index", i},
             {"text", text_of(i, results[i].text)},
             {"logprobs", params.sampling.return_logprob
                              ? completion_logprobs(context, results[i], 0, echo ? &prompts[i / n] : nullptr)
                              : ordered_json()},
             {"finish_reason", results[i].finish_reason},
             {"matched_stop", matched_stop_json(results[i])}});
      }
      send_json(context, response,
                {{"id", id},
                 {"object", "text_completion"},
                 {"created", created},
                 {"model", model},
                 {"choices", choices},
                 {"usage", usage_of(results, n)}});
      log_request(id, "/v1/completions", results, session->elapsed_seconds());
      return;
    }
    auto totals = std::make_shared<std::vector<OutputChunk>>(session->size());
    auto started = std::make_shared<std::vector<bool>>(session->size(), false);
    stream_events(
        context, response, session,
        [=, &context](size_t index, const OutputChunk& chunk) {
          const bool first = !(*started)[index];
          size_t offset = (*totals)[index].text.size() + (echo ? prompt_texts[index / n].size() : 0);
          if (echo && first) offset = 0;  // the prompt's tokens come first
          merge_chunk(chunk, &(*totals)[index]);
          std::string text = chunk.text;
          if (echo && first) text = prompt_texts[index / n] + text;
          (*started)[index] = true;
          if (chunk.finish_reason == "error") {
            return std::vector<std::string>{ordered_json{
                {"error", {{"message", chunk.error}, {"type", "invalid_request_error"}, {"code", 400}}}}
                                                .dump()};
          }
          ordered_json choice = {
              {"index", index},
              {"text", text},
              {"logprobs", params.sampling.return_logprob
                               ? completion_logprobs(context, chunk, offset,
                                                     echo && first ? &prompts[index / n] : nullptr)
                               : ordered_json()},
              {"finish_reason", finish_reason(chunk)}};
          return std::vector<std::string>{ordered_json{
              {"id", id},
              {"object", "text_completion"},
              {"created", created},
              {"model", model},
              {"choices", {choice}}}.dump(-1, ' ', false, json::error_handler_t::replace)};
        },
        [=] {
          log_request(id, "/v1/completions", *totals, session->elapsed_seconds());
          if (!params.include_usage) return std::vector<std::string>{};
          return std::vector<std::string>{ordered_json{
              {"id", id},
              {"object", "text_completion"},
              {"created", created},
              {"model", model},
              {"choices", ordered_json::array()},
              {"usage", usage_of(*totals, n)}}.dump()};
        });
  });
}

namespace {

// True when the reply should be read for function calls: tools were offered and tool_choice is not
// "none". With "required" or a function by name the reply is constrained to MiniCPM3's call format
// (`sampling.regex` is set), so it always holds a call.
bool reads_tool_calls(const json& body, const std::string& raw_body, SamplingParams& sampling) {
  if (!body.contains("tools") || !body["tools"].is_array() || body["tools"].empty()) return false;
  const json choice = body.value("tool_choice", json());
  if (choice.is_null() || choice == "auto") return true;
  if (choice == "none") return false;
  auto bad = [](const std::string& message) {
    return HttpError(400, message, "invalid_request_error", "tool_choice");
  };
  std::string only;
  if (choice.is_object() && choice.value("type", "") == "function" && choice.contains("function") &&
      choice["function"].is_object() && choice["function"].contains("name") &&
      choice["function"]["name"].is_string()) {
    only = choice["function"]["name"].get<std::string>();
  } else if (choice != "required") {
    throw bad(
        R"('tool_choice' must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}})");
  }
  if (!sampling.regex.empty() || !sampling.json_schema.empty() || !sampling.ebnf.empty())
    throw bad("a required tool call cannot be combined with 'response_format', 'regex' or 'ebnf'");
  try {
    const bool parallel = optional_field<bool>(body, "parallel_tool_calls").value_or(true);
    sampling.regex = required_tool_call_regex(ordered_json::parse(raw_body)["tools"], only, !parallel);
  } catch (const Error& error) {
    throw bad(error.what());
  }
  return true;
}

// One OpenAI tool call, the k-th of the reply whose calls are named after `call_id`.
ordered_json tool_call_json(const ToolCall& call, const std::string& call_id, size_t k) {
  return {{"id", call_id + "-" + std::to_string(k)},
          {"type", "function"},
          {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
}

// The assistant's message fields for a reply read for tools: the content (null when there are only
// calls), the thought as reasoning_content and the calls (the first alone with `single_call`, OpenAI's
// parallel_tool_calls: false, which a reply in tool_choice "auto" is not constrained to). A reply
// with calls finishes as "tool_calls".
ordered_json message_fields(AssistantReply reply, const std::string& call_id, bool single_call,
                            std::string* finish_reason) {
  if (single_call && reply.tool_calls.size() > 1) reply.tool_calls.resize(1);
  ordered_json fields = {{"content", reply.content.empty() && !reply.tool_calls.empty()
                                         ? ordered_json()
                                         : ordered_json(reply.content)}};
  if (!reply.reasoning.empty()) fields["reasoning_content"] = reply.reasoning;
  if (reply.tool_calls.empty()) return fields;
  ordered_json calls = ordered_json::array();
  for (size_t k = 0; k < reply.tool_calls.size(); ++k)
    calls.push_back(tool_call_json(reply.tool_calls[k], call_id, k));
  fields["tool_calls"] = std::move(calls);
  if (*finish_reason == "stop") *finish_reason = "tool_calls";
  return fields;
}

// A streamed reply read for tools, one per choice: its text as it comes, split into deltas.
struct StreamedReply {
  MiniCpm3ReplyParser parser;
  bool single_call = false;  // parallel_tool_calls: false, as in message_fields
  size_t calls_sent = 0;

  // The delta for a piece of the reply (empty when all of it is held back); each call is sent whole.
  ordered_json delta(const AssistantReply& piece, const std::string& call_id) {
    ordered_json fields = ordered_json::object();
    if (!piece.content.empty()) fields["content"] = piece.content;
    if (!piece.reasoning.empty()) fields["reasoning_content"] = piece.reasoning;
    const size_t allowed = single_call ? (calls_sent == 0 ? 1 : 0) : piece.tool_calls.size();
    const size_t count = std::min(piece.tool_calls.size(), allowed);
    if (count == 0) return fields;
    ordered_json calls = ordered_json::array();
    for (size_t k = 0; k < count; ++k) {
      ordered_json streamed = {{"index", calls_sent}};
      streamed.update(tool_call_json(piece.tool_calls[k], call_id, calls_sent++));
      calls.push_back(std::move(streamed));
    }
    fields["tool_calls"] = std::move(calls);
    return fields;
  }
};

}  // namespace

void handle_chat_completions(ServerContext& context, const httplib::Request& http_request,
                             httplib::Response& response) {
  guarded(context, response, [&] {
    const json body = parse_body(http_request);
    check_model_name(context, body);
    OpenAiParams params = parse_openai_params(body, true, http_request.body);
    const bool with_tools = reads_tool_calls(body, http_request.body, params.sampling);
    const bool single_call = !optional_field<bool>(body, "parallel_tool_calls").value_or(true);
    // The template writes any special tokens itself, as transformers' apply_chat_template does.
    const std::vector<int32_t> prompt =
        tokenize_text(context, render_chat(context, body, http_request.body), false);
    const std::string id = context.new_id("chatcmpl-");
    auto session = std::make_shared<GenerationSession>(context.engine, context.metrics,
                                                       expand_requests(context, {prompt}, params, id),
                                                       &context.sessions, id);
    const int64_t created = unix_time();
    const std::string model = context.options.served_model_name;
    if (!params.stream) {
      const std::vector<OutputChunk> results = session->wait_all();
      ordered_json choices = ordered_json::array();
      for (size_t i = 0; i < results.size(); ++i) {
        if (results[i].finish_reason == "error") throw HttpError(400, results[i].error);
        std::string finish_reason = results[i].finish_reason;
        ordered_json message = {{"role", "assistant"}};
        if (with_tools) {
          message.update(message_fields(parse_minicpm3_reply(results[i].text),
                                        "call-" + results[i].request_id, single_call, &finish_reason));
        } else {
          message["content"] = results[i].text;
        }
        choices.push_back({{"index", i},
                           {"message", std::move(message)},
                           {"logprobs", params.sampling.return_logprob ? chat_logprobs(context, results[i])
                                                                       : ordered_json()},
                           {"finish_reason", finish_reason},
                           {"matched_stop", matched_stop_json(results[i])}});
      }
      send_json(context, response,
                {{"id", id},
                 {"object", "chat.completion"},
                 {"created", created},
                 {"model", model},
                 {"choices", choices},
                 {"usage", usage_of(results, results.size())}});
      log_request(id, "/v1/chat/completions", results, session->elapsed_seconds());
      return;
    }
    auto totals = std::make_shared<std::vector<OutputChunk>>(session->size());
    auto started = std::make_shared<std::vector<bool>>(session->size(), false);
    auto replies = std::make_shared<std::vector<StreamedReply>>(session->size());
    for (StreamedReply& reply : *replies) reply.single_call = single_call;
    auto event = [=](ordered_json choices) {
      return ordered_json{{"id", id},
                          {"object", "chat.completion.chunk"},
                          {"created", created},
                          {"model", model},
                          {"choices", std::move(choices)}}
          .dump(-1, ' ', false, json::error_handler_t::replace);
    };
    stream_events(
        context, response, session,
        [=, &context](size_t index, const OutputChunk& chunk) {
          merge_chunk(chunk, &(*totals)[index]);
          std::vector<std::string> events;
          if (chunk.finish_reason == "error") {
            events.push_back(ordered_json{
                {"error", {{"message", chunk.error}, {"type", "invalid_request_error"}, {"code", 400}}}}
                                 .dump());
            return events;
          }
          if (!(*started)[index]) {
            (*started)[index] = true;
            events.push_back(event({{{"index", index},
                                     {"delta", {{"role", "assistant"}, {"content", ""}}},
                                     {"logprobs", nullptr},
                                     {"finish_reason", nullptr}}}));
          }
          // With tools the text is split into content, thought and calls as it comes.
          ordered_json delta = {{"content", chunk.text}};
          if (with_tools) {
            StreamedReply& reply = (*replies)[index];
            const std::string call_id = "call-" + (*totals)[index].request_id;
            delta = reply.delta(reply.parser.feed(chunk.text, chunk.finished), call_id);
          }
          const bool has_text = with_tools ? !delta.empty() : !chunk.text.empty();
          if (has_text || !chunk.logprobs.empty()) {
            events.push_back(
                event({{{"index", index},
                        {"delta", std::move(delta)},
                        {"logprobs",
                         params.sampling.return_logprob ? chat_logprobs(context, chunk) : ordered_json()},
                        {"finish_reason", nullptr}}}));
          }
          if (chunk.finished) {
            std::string finish_reason = chunk.finish_reason;
            if (with_tools && (*replies)[index].calls_sent > 0 && finish_reason == "stop")
              finish_reason = "tool_calls";
            events.push_back(event({{{"index", index},
                                     {"delta", ordered_json::object()},
                                     {"logprobs", nullptr},
                                     {"finish_reason", finish_reason}}}));
          }
          return events;
        },
        [=] {
          log_request(id, "/v1/chat/completions", *totals, session->elapsed_seconds());
          if (!params.include_usage) return std::vector<std::string>{};
          return std::vector<std::string>{ordered_json{{"id", id},
                                                       {"object", "chat.completion.chunk"},
                                                       {"created", created},
                                                       {"model", model},
                                                       {"choices", ordered_json::array()},
                                                       {"usage", usage_of(*totals, totals->size())}}
                                              .dump()};
        });
  });
}

namespace {

ordered_json model_card(const ServerContext& context) {
  return {{"id", context.options.served_model_name},
          {"object", "model"},
          {"created", context.created},
          {"owned_by", "cpmserve"},
          {"root", context.options.model_path},
          {"max_model_len", context.engine.model().context_length()}};
}

}  // namespace

void handle_models(ServerContext& context, const httplib::Request&, httplib::Response& response) {
  guarded(context, response, [&] {
    send_json(context, response, {{"object", "list"}, {"data", {model_card(context)}}});
  });
}

void handle_model(ServerContext& context, const httplib::Request& request, httplib::Response& response) {
  guarded(context, response, [&] {
    const std::string name = request.matches.size() > 1 ? request.matches[1].str() : "";
    check_model_name(context, {{"model", name}});  // 404 naming the served model otherwise
    send_json(context, response, model_card(context));
  });
}

}  // namespace cpm

// Request bodies and response parsing for both APIs, without a network.
#include "eval/completion_api.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace cpm {
namespace {

using nlohmann::json;

CompletionRequest gsm8k_like_request() {
  CompletionRequest request;
  request.prompt = "Question: 1+1?\nAnswer:";
  request.max_tokens = 512;
  request.stop = {"Question", "Assistant:", "<|separator|>"};
  return request;
}

TEST(CompletionApi, NativeBodyIsSglangGenerate) {
  const json body = completion_body(ApiBackend::kNative, gsm8k_like_request(), "ignored", false);
  EXPECT_EQ(body, json::parse(R"({"text": "Question: 1+1?\nAnswer:", "stream": false,
      "sampling_params": {"max_new_tokens": 512, "temperature": 0.0,
                          "stop": ["Question", "Assistant:", "<|separator|>"]}})"));
  CompletionRequest ids;
  ids.input_ids = {5, 6, 7};
  ids.max_tokens = 3;
  ids.ignore_eos = true;
  const json streamed = completion_body(ApiBackend::kNative, ids, "", true);
  EXPECT_EQ(streamed["input_ids"], json({5, 6, 7}));
  EXPECT_FALSE(streamed.contains("text"));
  EXPECT_TRUE(streamed["sampling_params"]["ignore_eos"].get<bool>());
  EXPECT_FALSE(streamed["sampling_params"].contains("stop"));
  EXPECT_TRUE(streamed["stream"].get<bool>());
}

TEST(CompletionApi, OpenAiBodyIsV1Completions) {
  const json body = completion_body(ApiBackend::kOpenAi, gsm8k_like_request(), "m", false);
  EXPECT_EQ(body, json::parse(R"({"model": "m", "prompt": "Question: 1+1?\nAnswer:", "max_tokens": 512,
      "temperature": 0.0, "stop": ["Question", "Assistant:", "<|separator|>"], "stream": false})"));
  CompletionRequest ids;
  ids.input_ids = {1, 2};
  ids.ignore_eos = true;
  const json streamed = completion_body(ApiBackend::kOpenAi, ids, "m", true);
  EXPECT_EQ(streamed["prompt"], json({1, 2}));
  EXPECT_TRUE(streamed["ignore_eos"].get<bool>());
  EXPECT_TRUE(streamed["stream_options"]["include_usage"].get<bool>());
}

TEST(CompletionApi, ParsesNonStreamedResponses) {
  const CompletionResult native = parse_completion(
      ApiBackend::kNative, R"({"text": " 2", "output_ids": [9], "meta_info": {"prompt_tokens": 7,
          "completion_tokens": 1, "cached_tokens": 0, "finish_reason": {"type": "stop", "matched": "Question"}}})");
  EXPECT_EQ(native.text, " 2");
  EXPECT_EQ(native.prompt_tokens, 7);
  EXPECT_EQ(native.completion_tokens, 1);
  EXPECT_EQ(native.finish_reason, "stop");
  const CompletionResult openai = parse_completion(
      ApiBackend::kOpenAi, R"({"choices": [{"index": 0, "text": " 2", "finish_reason": "length"}],
          "usage": {"prompt_tokens": 7, "completion_tokens": 4}})");
  EXPECT_EQ(openai.text, " 2");
  EXPECT_EQ(openai.completion_tokens, 4);
  EXPECT_EQ(openai.finish_reason, "length");
  const CompletionResult bare = parse_completion(ApiBackend::kNative, R"({"text": "x"})");
  EXPECT_EQ(bare.completion_tokens, -1);  // not reported
  EXPECT_THROW(parse_completion(ApiBackend::kNative, "not json"), Error);
  EXPECT_THROW(parse_completion(ApiBackend::kNative, R"({"meta_info": {}})"), Error);
  EXPECT_THROW(parse_completion(ApiBackend::kOpenAi, R"({"choices": []})"), Error);
  EXPECT_THROW(parse_completion(ApiBackend::kOpenAi, R"({"error": {"message": "boom"}})"), Error);
}

TEST(CompletionApi, NativeStreamCountsTokensOfCumulativeChunks) {
  CompletionStream stream(ApiBackend::kNative);
  EXPECT_EQ(stream.feed(R"({"text": "", "meta_info": {"completion_tokens": 1, "finish_reason": null}})"), 0);
  EXPECT_EQ(stream.feed(R"({"text": "Hi", "meta_info": {"completion_tokens": 2, "finish_reason": null}})"),
            2);
  EXPECT_EQ(stream.feed(R"({"text": "Hi", "meta_info": {"completion_tokens": 2, "finish_reason": null}})"),
            0);
  EXPECT_EQ(stream.feed(R"({"text": "Hi there", "meta_info": {"completion_tokens": 5}})"), 3);
  EXPECT_FALSE(stream.complete());
  EXPECT_EQ(stream.feed(R"({"text": "Hi there!", "meta_info": {"completion_tokens": 6,
      "prompt_tokens": 4, "finish_reason": {"type": "length", "length": 6}}})"),
            1);
  EXPECT_TRUE(stream.complete());
  EXPECT_EQ(stream.feed("[DONE]"), 0);
  EXPECT_EQ(stream.result().text, "Hi there!");
  EXPECT_EQ(stream.result().completion_tokens, 6);
  EXPECT_EQ(stream.result().prompt_tokens, 4);
  EXPECT_EQ(stream.result().finish_reason, "length");
}

TEST(CompletionApi, OpenAiStreamJoinsDeltasAndReadsUsage) {
  CompletionStream stream(ApiBackend::kOpenAi);
  EXPECT_EQ(stream.feed(R"({"choices": [{"index": 0, "text": "Hel", "finish_reason": null}]})"), 1);
  EXPECT_EQ(stream.feed(R"({"choices": [{"index": 0, "text": "", "finish_reason": null}]})"), 0);
  EXPECT_EQ(stream.feed(R"({"choices": [{"index": 0, "text": "lo", "finish_reason": "length"}]})"), 1);
  EXPECT_EQ(stream.feed(R"({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})"), 0);
  EXPECT_FALSE(stream.feed("[DONE]"));
  EXPECT_TRUE(stream.complete());
  EXPECT_EQ(stream.result().text, "Hello");
  EXPECT_EQ(stream.result().completion_tokens, 2);
  EXPECT_EQ(stream.result().finish_reason, "length");
}

TEST(CompletionApi, StreamErrorsThrow) {
  CompletionStream openai(ApiBackend::kOpenAi);
  EXPECT_THROW(openai.feed(R"({"error": {"message": "out of memory", "code": 400}})"), Error);
  EXPECT_THROW(openai.feed("{broken"), Error);
  CompletionStream native(ApiBackend::kNative);
  EXPECT_THROW(
      native.feed(R"({"text": "a", "meta_info": {"finish_reason": {"type": "error", "message": "x"}}})"),
      Error);
}

TEST(CompletionApi, BackendNames) {
  EXPECT_EQ(parse_api_backend("native"), ApiBackend::kNative);
  EXPECT_EQ(parse_api_backend("openai"), ApiBackend::kOpenAi);
  EXPECT_THROW(parse_api_backend("grpc"), Error);
  EXPECT_EQ(api_path(ApiBackend::kNative), "/generate");
  EXPECT_EQ(api_path(ApiBackend::kOpenAi), "/v1/completions");
  EXPECT_EQ(api_backend_name(ApiBackend::kOpenAi), "openai");
}

}  // namespace
}  // namespace cpm

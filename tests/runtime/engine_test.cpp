// The engine end to end on the golden tiny-c checkpoint: with deterministic inference, bitwise the same
// results whatever the batch, chunking, prefix cache or preemption (and within rounding without it);
// prefix reuse; eviction; abort; limits.
#include "runtime/engine.h"

#include <gtest/gtest.h>

#include "model/random_checkpoint.h"
#include "model/sequence_runner.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace cpm {
namespace {

struct Result {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // chosen and top-5 alternatives: bitwise witnesses of the logits
  std::string finish_reason;
  int64_t cached_tokens = 0;
};

Result collect(const OutputChunk& chunk) {
  Result result{chunk.token_ids, {}, chunk.finish_reason, chunk.cached_tokens};
  for (const SampledToken& token : chunk.logprobs) {
    result.logprobs.push_back(token.logprob);
    for (const TokenLogprob& alternative : token.top_logprobs) result.logprobs.push_back(alternative.logprob);
  }
  return result;
}

std::vector<int32_t> prompt_of(int64_t length, int32_t seed) {
  std::vector<int32_t> ids(length);
  for (int64_t i = 0; i < length; ++i) ids[i] = static_cast<int32_t>((seed * 131 + i * 37 + i * i) % 512);
  return ids;
}

EngineRequest request_of(const std::string& id, std::vector<int32_t> prompt, int32_t max_new = 24) {
  EngineRequest request;
  request.id = id;
  request.input_ids = std::move(prompt);
  request.params.temperature = 0;
  request.params.max_new_tokens = max_new;
  request.params.ignore_eos = true;
  request.params.return_logprob = true;
  request.params.top_logprobs = 5;
  return request;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest()
      : pool_(2),
        weights_(ModelWeights::load(test::test_data_dir() + "/golden/tiny-c")),
        model_(weights_, deterministic(), pool_) {}

  static ModelOptions deterministic() {
    ModelOptions options;
    options.deterministic_inference = true;
    return options;
  }

  std::unique_ptr<Engine> make_engine(int64_t max_total_tokens = 4096, int64_t chunk = 512, bool radix = true,
                                      MiniCPM3* model = nullptr, int64_t draft_tokens = 0) {
    SchedulerOptions options;
    options.max_total_tokens = max_total_tokens;
    options.chunked_prefill_size = chunk;
    options.enable_radix_cache = radix;
    options.speculative_num_draft_tokens = draft_tokens;
    return std::make_unique<Engine>(model != nullptr ? *model : model_, nullptr, options);
  }

  // Runs the requests concurrently and returns their results in order.
  std::vector<Result> run_all(Engine& engine, std::vector<EngineRequest> requests) {
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (EngineRequest& request : requests) streams.push_back(engine.submit(std::move(request)));
    std::vector<Result> results;
    for (auto& stream : streams) results.push_back(collect(stream->wait_all()));
    return results;
  }

  ThreadPool pool_;
  std::shared_ptr<const ModelWeights> weights_;
  MiniCPM3 model_;
};

TEST_F(EngineTest, ResultsAreBitwiseIndependentOfLoad) {
  const std::vector<int32_t> prompt = prompt_of(45, 1);
  Result alone;
  {
    auto engine = make_engine(4096, 512, false);
    alone = run_all(*engine, {request_of("alone", prompt)})[0];
  }
  ASSERT_EQ(alone.tokens.size(), 24u);
  ASSERT_EQ(alone.logprobs.size(), 24u * 6);

  auto batched = [&](int64_t pool_tokens, int64_t chunk, bool radix) {
    auto engine = make_engine(pool_tokens, chunk, radix);
    std::vector<EngineRequest> requests;
    for (int i = 0; i < 5; ++i)
      requests.push_back(request_of("other" + std::to_string(i), prompt_of(10 + 17 * i, i + 2), 20 + i));
    requests.insert(requests.begin() + 2, request_of("target", prompt));
    return run_all(*engine, std::move(requests))[2];
  };
  {
    SCOPED_TRACE("in a batch of mixed lengths");
    const Result result = batched(4096, 512, false);
    EXPECT_EQ(result.tokens, alone.tokens);
    EXPECT_EQ(result.logprobs, alone.logprobs);
  }
  {
    SCOPED_TRACE("chunked prefill of 7 tokens");
    const Result result = batched(4096, 7, true);
    EXPECT_EQ(result.tokens, alone.tokens);
    EXPECT_EQ(result.logprobs, alone.logprobs);
  }
  {
    SCOPED_TRACE("with a cached prefix");
    auto engine = make_engine();
    std::vector<int32_t> shorter(prompt.begin(), prompt.begin() + 30);
    run_all(*engine, {request_of("warm", shorter, 3)});
    const Result result = run_all(*engine, {request_of("target", prompt)})[0];
    EXPECT_EQ(result.cached_tokens, 30);
    EXPECT_EQ(result.tokens, alone.tokens);
    EXPECT_EQ(result.logprobs, alone.logprobs);
  }
  {
    SCOPED_TRACE("under preemption in a tiny pool");
    auto engine = make_engine(150, 512, true);
    std::vector<EngineRequest> requests;
    for (int i = 0; i < 5; ++i)
      requests.push_back(request_of("other" + std::to_string(i), prompt_of(40, i + 2), 40));
    requests.insert(requests.begin() + 2, request_of("target", prompt));
    const Result result = run_all(*engine, std::move(requests))[2];
    EXPECT_GT(engine->stats().counters.retractions, 0);
    EXPECT_EQ(result.tokens, alone.tokens);
    EXPECT_EQ(result.logprobs, alone.logprobs);
  }
}

// Block-quantized weights with the demo model's shapes, where decode takes kv_b_proj's q8_0 copies:
// alone (one task, its heads split over the threads) and batched (each task's heads on one thread),
// a request's results are still the same bits.
TEST_F(EngineTest, QuantizedKvBCopiesKeepResultsBitwiseIndependentOfLoad) {
  test::TempDir dir;
  write_random_checkpoint(dir.str(), random_checkpoint_config("demo"), 8, DType::kBF16);
  const auto weights = ModelWeights::load(dir.str(), {DType::kQ8_0, &pool_});
  ASSERT_GT(weights->layers()[0].kv_b_absorb.rows, 0);
  MiniCPM3 model(weights, deterministic(), pool_);
  const std::vector<int32_t> prompt = prompt_of(30, 1);
  const Result alone = run_all(*make_engine(4096, 512, false, &model), {request_of("alone", prompt)})[0];
  ASSERT_EQ(alone.tokens.size(), 24u);
  auto engine = make_engine(4096, 512, false, &model);
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 4; ++i)
    requests.push_back(request_of("other" + std::to_string(i), prompt_of(8 + 13 * i, i + 2), 20 + i));
  requests.insert(requests.begin() + 1, request_of("target", prompt));
  const Result batched = run_all(*engine, std::move(requests))[1];
  EXPECT_EQ(batched.tokens, alone.tokens);
  EXPECT_EQ(batched.logprobs, alone.logprobs);
}

TEST_F(EngineTest, WithoutDeterministicInferenceResultsAgreeWithinRounding) {
  // The default: prefill chunks attend with per-head K and V, so where a chunk starts moves the last
  // bits, never the greedy tokens on this checkpoint.
  MiniCPM3 fast(weights_, ModelOptions{}, pool_);
  const std::vector<int32_t> prompt = prompt_of(45, 1);
  const Result alone = run_all(*make_engine(4096, 512, false), {request_of("alone", prompt)})[0];
  const Result fast_alone = run_all(*make_engine(4096, 512, false, &fast), {request_of("alone", prompt)})[0];
  const Result fast_chunked = run_all(*make_engine(4096, 7, true, &fast), {request_of("chunked", prompt)})[0];
  for (const Result* result : {&fast_alone, &fast_chunked}) {
    EXPECT_EQ(result->tokens, alone.tokens);
    ASSERT_EQ(result->logprobs.size(), alone.logprobs.size());
    for (size_t i = 0; i < alone.logprobs.size(); ++i)
      EXPECT_NEAR(result->logprobs[i], alone.logprobs[i], 1e-3);
  }
}

TEST_F(EngineTest, PreemptionLosesNothing) {
  std::vector<Result> solo;
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 8; ++i)
    requests.push_back(request_of("r" + std::to_string(i), prompt_of(20 + 5 * i, i), 40));
  {
    auto engine = make_engine(4096, 512, false);
    solo = run_all(*engine, requests);
  }
  auto engine = make_engine(120, 32, true);
  const std::vector<Result> squeezed = run_all(*engine, requests);
  EXPECT_GT(engine->stats().counters.retractions, 0);
  for (size_t i = 0; i < solo.size(); ++i) {
    EXPECT_EQ(squeezed[i].finish_reason, "length");
    EXPECT_EQ(squeezed[i].tokens, solo[i].tokens) << "request " << i;
  }
}

// Prompt logprobs (logprob_start_len) equal the log-softmax of the logits a plain forward pass gives
// each position, through chunked prefill, and the prefix cache stops short of the scored tokens.
TEST_F(EngineTest, PromptLogprobsScoreThePromptFromTheStartPosition) {
  const std::vector<int32_t> prompt = prompt_of(40, 3);
  const int64_t vocab = model_.config().vocab_size;
  SequenceRunner runner(model_, 64);
  const std::vector<float> rows = runner.feed(prompt, true);
  auto engine = make_engine(4096, 16, true);  // three prefill chunks
  auto run = [&](const std::string& id, int32_t start) {
    EngineRequest request = request_of(id, prompt, 4);
    request.params.logprob_start_len = start;
    return engine->submit(std::move(request))->wait_all();
  };
  const OutputChunk first = run("first", 0);
  ASSERT_EQ(first.input_logprobs.size(), prompt.size() - 1);  // the first token has none
  for (size_t k = 0; k < first.input_logprobs.size(); ++k) {
    const auto& [position, scored] = first.input_logprobs[k];
    ASSERT_EQ(position, static_cast<int64_t>(k + 1));
    const SampledToken expected = score_token(&rows[(position - 1) * vocab], vocab, prompt[position], 5);
    EXPECT_EQ(scored.token, prompt[position]);
    EXPECT_EQ(scored.logprob, expected.logprob) << position;
    ASSERT_EQ(scored.top_logprobs.size(), 5u);
    EXPECT_EQ(scored.top_logprobs[0].token, expected.top_logprobs[0].token);
  }
  const OutputChunk again = run("again", 0);  // the cached prompt is computed again for its scores
  EXPECT_EQ(again.cached_tokens, 0);
  EXPECT_EQ(again.token_ids, first.token_ids);
  ASSERT_EQ(again.input_logprobs.size(), first.input_logprobs.size());
  EXPECT_EQ(again.input_logprobs.back().second.logprob, first.input_logprobs.back().second.logprob);
  const OutputChunk tail = run("tail", 30);
  EXPECT_EQ(tail.cached_tokens, 29);  // row 29 scores token 30
  ASSERT_EQ(tail.input_logprobs.size(), 10u);
  EXPECT_EQ(tail.input_logprobs.front().first, 30);
  EXPECT_EQ(tail.input_logprobs.front().second.logprob, first.input_logprobs[29].second.logprob);
  EXPECT_EQ(tail.token_ids, first.token_ids);
  EXPECT_TRUE(run("none", -1).input_logprobs.empty());
  // max_new_tokens 0: the prompt is computed and scored, nothing is generated.
  EngineRequest score_only = request_of("score-only", prompt, 0);
  score_only.params.logprob_start_len = 0;
  const OutputChunk scored = engine->submit(std::move(score_only))->wait_all();
  EXPECT_TRUE(scored.token_ids.empty());
  EXPECT_EQ(scored.finish_reason, "length");
  ASSERT_EQ(scored.input_logprobs.size(), first.input_logprobs.size());
  EXPECT_EQ(scored.input_logprobs.back().second.logprob, first.input_logprobs.back().second.logprob);
}

TEST_F(EngineTest, PrefixReuseCountsHitsAndKeepsOutputs) {
  auto engine = make_engine();
  const std::vector<int32_t> prompt = prompt_of(60, 9);
  const Result first = run_all(*engine, {request_of("a", prompt)})[0];
  const Result second = run_all(*engine, {request_of("b", prompt)})[0];
  EXPECT_EQ(first.cached_tokens, 0);
  EXPECT_EQ(second.cached_tokens, 59);  // all but the last prompt token, which must run for logits
  EXPECT_EQ(first.tokens, second.tokens);
  std::vector<int32_t> extended = prompt;
  extended.insert(extended.end(), first.tokens.begin(), first.tokens.begin() + 10);
  extended.push_back(3);
  const Result third = run_all(*engine, {request_of("c", extended)})[0];
  EXPECT_EQ(third.cached_tokens, 70);  // prompt and the generated tokens the first request cached
  EXPECT_EQ(engine->stats().counters.cached_prompt_tokens, 59 + 70);
}

TEST_F(EngineTest, RequestsArrivingTogetherComputeTheirSharedPrefixOnce) {
  auto engine = make_engine(4096, 16, true);  // small chunks: the first prefill spans many steps
  const std::vector<int32_t> shots = prompt_of(100, 4);
  std::vector<EngineRequest> requests;
  for (int32_t i = 0; i < 4; ++i) {
    std::vector<int32_t> prompt = shots;
    for (int32_t j = 0; j < 6; ++j) prompt.push_back(static_cast<int32_t>((i * 7 + j * 3 + 1) % 512));
    requests.push_back(request_of("q" + std::to_string(i), prompt, 4));
  }
  const std::vector<Result> results = run_all(*engine, std::move(requests));
  EXPECT_EQ(results[0].cached_tokens, 0);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(results[i].cached_tokens, 100) << "request " << i;
  // 106 prompt tokens and 3 fed-back outputs for the first; 6 + 3 for each of the others. (At most:
  // the published counters may lag the last step by a moment.)
  EXPECT_LE(engine->stats().counters.computed_tokens, 109 + 3 * 9);
}

TEST_F(EngineTest, EvictionMakesRoomForNewPrompts) {
  auto engine = make_engine(100, 512, true);
  for (int i = 0; i < 12; ++i) {
    std::string id(1, 'r');  // appended: GCC 12 warns falsely (-Wrestrict) on "r" + std::to_string(i) here
    id += std::to_string(i);
    const Result result = run_all(*engine, {request_of(id, prompt_of(40, 100 + i), 8)})[0];
    EXPECT_EQ(result.finish_reason, "length");
    EXPECT_EQ(result.tokens.size(), 8u);
  }
  const EngineStats stats = engine->stats();
  EXPECT_LE(stats.prefix_cache_tokens, 100);
  EXPECT_GT(stats.prefix_cache_tokens, 0);
  engine->flush_cache();
  EXPECT_EQ(engine->stats().kv_used_tokens, 0);
}

TEST_F(EngineTest, AbortReleasesPagesAtOnce) {
  for (bool radix : {false, true}) {
    auto engine = make_engine(4096, 16, radix);
    EXPECT_EQ(engine->stats().kv_used_tokens, 0);
    auto stream = engine->submit(request_of("long", prompt_of(100, 4), 1000));
    OutputChunk chunk;
    ASSERT_TRUE(stream->pop(&chunk, std::chrono::seconds(60)));
    engine->abort("long");
    while (!chunk.finished) ASSERT_TRUE(stream->pop(&chunk, std::chrono::seconds(60)));
    EXPECT_EQ(chunk.finish_reason, "abort");
    engine->flush_cache();  // also a barrier: the engine thread has published its state
    EXPECT_EQ(engine->stats().kv_used_tokens, 0) << "radix " << radix;
    EXPECT_EQ(engine->stats().running, 0);
  }
}

TEST_F(EngineTest, ImpossibleRequestsFailClearlyAndOthersContinue) {
  auto engine = make_engine(200);
  try {
    engine->submit(request_of("huge", prompt_of(2048, 1)));
    FAIL() << "accepted a prompt as long as the context";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("context length of 2048"), std::string::npos) << error.what();
  }
  try {
    engine->submit(request_of("big", prompt_of(150, 1), 100));
    FAIL() << "accepted a request larger than the pool";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("pool holds 200"), std::string::npos) << error.what();
  }
  EngineRequest bad = request_of("bad", prompt_of(5, 1));
  bad.params.top_p = 2;
  EXPECT_THROW(engine->submit(bad), Error);
  EXPECT_EQ(run_all(*engine, {request_of("fine", prompt_of(10, 1), 4)})[0].tokens.size(), 4u);
}

TEST_F(EngineTest, SeededSamplingIgnoresTheBatch) {
  auto sampled = [](const std::string& id) {
    EngineRequest request = request_of(id, prompt_of(12, 5), 16);
    request.params.temperature = 1.0f;
    request.params.top_p = 0.9f;
    request.params.seed = 42;
    return request;
  };
  auto engine = make_engine();
  const Result alone = run_all(*engine, {sampled("alone")})[0];
  engine->flush_cache();
  const Result in_batch = run_all(
      *engine, {request_of("x", prompt_of(30, 1)), sampled("seeded"), request_of("y", prompt_of(7, 2))})[1];
  EXPECT_EQ(alone.tokens, in_batch.tokens);
}

TEST_F(EngineTest, MaxNewTokensAndStopTokenIds) {
  auto engine = make_engine();
  const Result greedy = run_all(*engine, {request_of("a", prompt_of(20, 3), 12)})[0];
  EXPECT_EQ(greedy.finish_reason, "length");
  EngineRequest stop = request_of("b", prompt_of(20, 3), 12);
  stop.params.stop_token_ids = {greedy.tokens[5]};
  const auto stream = engine->submit(stop);
  const OutputChunk result = stream->wait_all();
  EXPECT_EQ(result.finish_reason, "stop");
  EXPECT_EQ(result.matched_stop_token, greedy.tokens[5]);
  EXPECT_EQ(result.matched_stop, "");
  const size_t first =
      std::find(greedy.tokens.begin(), greedy.tokens.end(), greedy.tokens[5]) - greedy.tokens.begin();
  EXPECT_EQ(result.token_ids, std::vector<int32_t>(greedy.tokens.begin(), greedy.tokens.begin() + first));
}

// Speculative decoding checks drafts in the rows of one step, whose logits are the bits each row
// gets alone (deterministic inference, fewer than 48 rows), and samples row by row as decode would:
// every request gets the same tokens and logprobs as without it, greedy or seeded, batched, cut by
// max_new_tokens or a stop id, or preempted in a tiny pool.
TEST_F(EngineTest, SpeculativeDecodingChangesNoToken) {
  std::vector<int32_t> repetitive;
  for (int i = 0; i < 6; ++i)
    for (int32_t token : {7, 300, 41, 9, 120}) repetitive.push_back(token);
  std::vector<EngineRequest> requests;
  requests.push_back(request_of("greedy", repetitive, 60));
  requests.push_back(request_of("short", repetitive, 3));
  requests.push_back(request_of("other", prompt_of(25, 4), 40));
  EngineRequest seeded = request_of("seeded", repetitive, 50);
  seeded.params.temperature = 0.7f;
  seeded.params.seed = 11;
  requests.push_back(seeded);
  std::vector<Result> plain;
  {
    auto engine = make_engine(4096, 512, true);
    for (const EngineRequest& request : requests) plain.push_back(run_all(*engine, {request})[0]);
  }
  EngineRequest stop = request_of("stop", repetitive, 60);
  stop.params.stop_token_ids = {plain[0].tokens[20]};
  requests.push_back(stop);
  for (int64_t drafts : {1, 4, 9}) {
    SCOPED_TRACE("drafts " + std::to_string(drafts));
    auto engine = make_engine(4096, 512, true, nullptr, drafts);
    const std::vector<Result> batched = run_all(*engine, requests);
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_EQ(batched[i].tokens, plain[i].tokens) << requests[i].id;
      EXPECT_EQ(batched[i].logprobs, plain[i].logprobs) << requests[i].id;
    }
    const auto first_stop = std::find(plain[0].tokens.begin(), plain[0].tokens.end(), plain[0].tokens[20]);
    EXPECT_EQ(batched[4].tokens, std::vector<int32_t>(plain[0].tokens.begin(), first_stop));
    EXPECT_EQ(batched[4].finish_reason, "stop");
    const SchedulerCounters& counters = engine->stats().counters;
    EXPECT_GT(counters.draft_tokens, 0);
    EXPECT_GT(counters.accepted_draft_tokens, 0);
    EXPECT_LE(counters.accepted_draft_tokens, counters.draft_tokens);
    engine->flush_cache();  // also a barrier: the engine thread has published its state
    EXPECT_EQ(engine->stats().kv_used_tokens, 0);  // no draft's slot leaked
  }
  {
    SCOPED_TRACE("preempted in a tiny pool");
    auto engine = make_engine(130, 512, true, nullptr, 4);
    std::vector<EngineRequest> squeezed = {requests[0], requests[2], requests[3]};
    const std::vector<Result> results = run_all(*engine, squeezed);
    EXPECT_GT(engine->stats().counters.retractions, 0);
    EXPECT_EQ(results[0].tokens, plain[0].tokens);
    EXPECT_EQ(results[1].tokens, plain[2].tokens);
    EXPECT_EQ(results[2].tokens, plain[3].tokens);
  }
}

}  // namespace
}  // namespace cpm

// Structured output through the engine on the demo model (a real MiniCPM3 with its tokenizer):
// regex and JSON-schema constraints hold for greedy and sampled outputs, alone and batched, and end
// the request as soon as nothing may follow; logit_bias steers the choice.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "runtime/byte_dfa.h"
#include "runtime/engine.h"
#include "runtime/json_schema_regex.h"
#include "test_paths.h"

namespace cpm {
namespace {

bool full_match(const std::string& regex, const std::string& text) {
  return ByteDfa(compile_regex(regex)).matches(text);
}

class ConstrainedGenerationTest : public ::testing::Test {
 protected:
  ConstrainedGenerationTest()
      : pool_(2),
        weights_(ModelWeights::load(test::source_dir() + "/models/demo")),
        model_(weights_, ModelOptions(), pool_),
        tokenizer_(Tokenizer::load(test::source_dir() + "/models/demo")) {
    SchedulerOptions options;
    options.max_total_tokens = 4096;
    options.eos_token_ids = {tokenizer_.eos_id()};
    engine_ = std::make_unique<Engine>(model_, &tokenizer_, options);
  }

  EngineRequest request(const std::string& prompt, int32_t max_new_tokens = 48) {
    EngineRequest request;
    request.id = "r" + std::to_string(next_id_++);
    request.input_ids = tokenizer_.encode(prompt);
    request.params.temperature = 0;
    request.params.max_new_tokens = max_new_tokens;
    return request;
  }

  OutputChunk run(EngineRequest request) { return engine_->submit(std::move(request))->wait_all(); }

  ThreadPool pool_;
  std::shared_ptr<const ModelWeights> weights_;
  MiniCPM3 model_;
  Tokenizer tokenizer_;
  std::unique_ptr<Engine> engine_;
  int next_id_ = 0;
};

const char* kQuestion = "Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nAnswer:";

TEST_F(ConstrainedGenerationTest, RegexHoldsAndEndsTheRequestWhenComplete) {
  const OutputChunk free_run = run(request(kQuestion));
  const std::string regex = "The answer is [0-9]{1,3}\\.";
  EXPECT_FALSE(full_match(regex, free_run.text)) << "the demo model answers this way by itself";
  EngineRequest constrained = request(kQuestion);
  constrained.params.regex = regex;
  const OutputChunk result = run(constrained);
  EXPECT_TRUE(full_match(regex, result.text)) << result.text;
  EXPECT_EQ(result.finish_reason, "stop");
  EXPECT_EQ(result.matched_stop_token, -1);  // ended by the grammar, not by EOS
}

TEST_F(ConstrainedGenerationTest, JsonSchemaOutputsParseAndHaveTheRequiredFields) {
  const std::string schema = R"({"type": "object", "properties": {
      "apples": {"type": "integer", "minimum": 0, "maximum": 100}, "unit": {"enum": ["apples", "pears"]}},
      "required": ["apples", "unit"]})";
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 4; ++i) {                   // greedy and sampled, batched together
    EngineRequest one = request(kQuestion, 256);  // the demo model never saw JSON: it pads with blanks
    one.params.json_schema = schema;
    if (i > 0) {
      one.params.temperature = 1.0f;
      one.params.seed = i;
    }
    streams.push_back(engine_->submit(std::move(one)));
  }
  for (auto& stream : streams) {
    const OutputChunk result = stream->wait_all();
    ASSERT_EQ(result.finish_reason, "stop") << result.text << " " << result.error;
    const nlohmann::json value = nlohmann::json::parse(result.text);
    EXPECT_TRUE(value["apples"].is_number_integer());
    EXPECT_GE(value["apples"].get<int>(), 0);
    EXPECT_LE(value["apples"].get<int>(), 100);
    EXPECT_TRUE(value["unit"] == "apples" || value["unit"] == "pears");
  }
}

TEST_F(ConstrainedGenerationTest, BadConstraintsAreRefusedAtSubmission) {
  EngineRequest bad_regex = request(kQuestion);
  bad_regex.params.regex = "(unclosed";
  EXPECT_THROW(engine_->submit(bad_regex), Error);
  EngineRequest bad_schema = request(kQuestion);
  bad_schema.params.json_schema = R"({"type": "string", "not": {}})";
  EXPECT_THROW(engine_->submit(bad_schema), Error);
  EngineRequest both = request(kQuestion);
  both.params.regex = "a";
  both.params.json_schema = R"({"type": "string"})";
  EXPECT_THROW(engine_->submit(both), Error);
  EngineRequest bias = request(kQuestion);
  bias.params.logit_bias = {{static_cast<int32_t>(model_.config().vocab_size), 1.0f}};
  EXPECT_THROW(engine_->submit(bias), Error);
}

TEST_F(ConstrainedGenerationTest, LogitBiasBansAndForcesTokens) {
  const OutputChunk free_run = run(request(kQuestion, 8));
  ASSERT_FALSE(free_run.token_ids.empty());
  EngineRequest banned = request(kQuestion, 8);
  banned.params.logit_bias = {{free_run.token_ids[0], -100.0f}};
  const OutputChunk without_first = run(banned);
  ASSERT_FALSE(without_first.token_ids.empty());
  EXPECT_NE(without_first.token_ids[0], free_run.token_ids[0]);
  const int32_t forced = tokenizer_.encode("#", false).back();
  EngineRequest pushed = request(kQuestion, 4);
  pushed.params.logit_bias = {{forced, 100.0f}};
  pushed.params.ignore_eos = true;
  const OutputChunk all_forced = run(pushed);
  EXPECT_EQ(all_forced.token_ids, std::vector<int32_t>(4, forced));
}

}  // namespace
}  // namespace cpm

// Structured output on MiniCPM3-4B's vocabulary (73,440 tokens, from ../shared/data): building the
// token trie, the allowed tokens of a new automaton state (the worst case: inside a JSON string,
// where almost every token may follow), a cached state, and sampling under a mask.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>

#include "runtime/ebnf_regex.h"
#include "runtime/json_schema_regex.h"
#include "runtime/sampler.h"
#include "runtime/token_constraint.h"

namespace cpm {
namespace {

constexpr int64_t kModelVocab = 73448;

const Tokenizer* minicpm3_tokenizer() {
  static const Tokenizer* tokenizer = [] {
    const std::string dir = std::string(CPM_SOURCE_DIR) + "/../shared/data/minicpm3-4b";
    return Tokenizer::exists(dir) ? new Tokenizer(Tokenizer::load(dir)) : nullptr;
  }();
  return tokenizer;
}

std::shared_ptr<const TokenVocabulary> vocabulary() {
  static auto shared = std::make_shared<const TokenVocabulary>(*minicpm3_tokenizer(), kModelVocab);
  return shared;
}

#define REQUIRE_TOKENIZER(state)                                               \
  if (minicpm3_tokenizer() == nullptr) {                                       \
    state.SkipWithError("../shared/data/minicpm3-4b is not next to the tree"); \
    return;                                                                    \
  }

void BM_VocabularyTrie(benchmark::State& state) {
  REQUIRE_TOKENIZER(state);
  for (auto _ : state) benchmark::DoNotOptimize(TokenVocabulary(*minicpm3_tokenizer(), kModelVocab));
}
BENCHMARK(BM_VocabularyTrie)->Unit(benchmark::kMillisecond);

// The mask of a state inside a JSON string: a fresh grammar each time, so nothing is cached.
void BM_MaskOfNewStateInString(benchmark::State& state) {
  REQUIRE_TOKENIZER(state);
  const std::string regex = json_schema_to_regex(nlohmann::ordered_json::parse(R"({"type": "string"})"));
  int64_t allowed = 0;
  for (auto _ : state) {
    ConstrainedGrammar grammar(regex, vocabulary());
    int strips = 1;  // the output's start, where the decoder drops a leading blank
    const int32_t inside =
        grammar.advance(grammar.start(), &strips, minicpm3_tokenizer()->encode("\"", false).back());
    allowed = grammar.allowed(inside, 0).allowed;
  }
  state.counters["allowed_tokens"] = static_cast<double>(allowed);
}
BENCHMARK(BM_MaskOfNewStateInString)->Unit(benchmark::kMillisecond);

// A whole JSON output through a fresh json_object grammar: every state's mask is new.
void BM_JsonObjectOutput(benchmark::State& state) {
  REQUIRE_TOKENIZER(state);
  const std::vector<int32_t> ids = minicpm3_tokenizer()->encode(
      R"({"name": "a long string value with words", "n": [1, 2, {"x": null}], "ok": true})", false);
  const std::string regex = json_object_regex();
  for (auto _ : state) {
    TokenConstraint constraint(std::make_shared<ConstrainedGrammar>(regex, vocabulary()));
    for (int32_t id : ids) {
      benchmark::DoNotOptimize(constraint.allowed().allowed);
      constraint.advance(id);
    }
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
}
BENCHMARK(BM_JsonObjectOutput)->Unit(benchmark::kMillisecond);

// The same output through llama.cpp's JSON grammar (recursive rules expanded four levels deep):
// converting the grammar, compiling it, and every state's mask new.
void BM_EbnfJsonOutput(benchmark::State& state) {
  REQUIRE_TOKENIZER(state);
  const std::vector<int32_t> ids = minicpm3_tokenizer()->encode(
      R"({"name": "a long string value with words", "n": [1, 2, {"x": null}], "ok": true})", false);
  const std::string grammar = R"g(
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array  ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws     ::= | " " | "\n" [ \t]{0,20}
)g";
  for (auto _ : state) {
    TokenConstraint constraint(std::make_shared<ConstrainedGrammar>(ebnf_to_regex(grammar), vocabulary()));
    for (int32_t id : ids) {
      benchmark::DoNotOptimize(constraint.allowed().allowed);
      constraint.advance(id);
    }
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
}
BENCHMARK(BM_EbnfJsonOutput)->Unit(benchmark::kMillisecond);

void BM_MaskOfCachedState(benchmark::State& state) {
  REQUIRE_TOKENIZER(state);
  ConstrainedGrammar grammar(json_object_regex(), vocabulary());
  grammar.allowed(grammar.start(), 1);
  for (auto _ : state) benchmark::DoNotOptimize(grammar.allowed(grammar.start(), 1).allowed);
}
BENCHMARK(BM_MaskOfCachedState);

// One greedy choice over the model's logits, without and with a mask (the per-token cost a
// constraint adds once its masks are cached).
void BM_SampleGreedy(benchmark::State& state) {
  REQUIRE_TOKENIZER(state);
  const bool masked = state.range(0) != 0;
  ConstrainedGrammar grammar(json_object_regex(), vocabulary());
  const TokenMask& mask = grammar.allowed(grammar.start(), 1);
  SamplingParams params;
  params.temperature = 0;
  Sampler sampler(params, {}, {});
  std::mt19937 random(1);
  std::normal_distribution<float> normal;
  std::vector<float> logits(kModelVocab), scratch;
  for (float& logit : logits) logit = normal(random);
  for (auto _ : state) {
    scratch = logits;
    benchmark::DoNotOptimize(sampler.sample(scratch.data(), kModelVocab, masked ? &mask : nullptr).token);
  }
}
BENCHMARK(BM_SampleGreedy)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cpm

BENCHMARK_MAIN();

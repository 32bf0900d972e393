// Token masks for constrained decoding on real vocabularies (the demo model's 1,024 tokens and
// MiniCPM3-4B's 73,440): a token is allowed exactly when the decoded output stays a live prefix of
// the pattern, and any walk through allowed tokens decodes to text the pattern matches.
#include "runtime/token_constraint.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "runtime/json_schema_regex.h"
#include "test_paths.h"
#include "tokenizer/utf8.h"

namespace cpm {
namespace {

// The output so far as a constraint sees it: the decoded text, except that an unfinished UTF-8
// character at the end (byte tokens still to be completed) counts as its bytes; the decoder would
// show U+FFFD for it only if the output ended there.
std::string output_so_far(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  size_t run = ids.size();
  std::string raw;
  while (run > 0) {
    const std::string& piece = tokenizer.id_to_token(ids[run - 1]);
    if (piece.size() != 6 || !piece.starts_with("<0x") || piece.back() != '>') break;
    raw.insert(raw.begin(), static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
    --run;
  }
  if (utf8::is_valid(raw)) return tokenizer.decode(ids, true);
  std::string text = tokenizer.decode(std::vector<int32_t>(ids.begin(), ids.begin() + run), true);
  if (run == 0 && raw.starts_with(' ')) raw.erase(0, 1);  // the decoder's leading Strip
  return text + raw;
}

struct Walk {
  std::vector<int32_t> tokens;
  bool complete = false;
};

// Takes random allowed tokens (ending at random where the output may end) and checks the masks of
// the first `checked_steps` steps against every token decoded after the tokens so far.
Walk random_walk(const Tokenizer& tokenizer, const std::string& regex, uint32_t seed, int max_tokens,
                 int checked_steps) {
  auto vocabulary = std::make_shared<const TokenVocabulary>(tokenizer, tokenizer.vocab_size());
  TokenConstraint constraint(std::make_shared<ConstrainedGrammar>(regex, vocabulary));
  ByteDfa reference(compile_regex(regex));
  std::mt19937 random(seed);
  Walk walk;
  while (static_cast<int>(walk.tokens.size()) < max_tokens) {
    const TokenMask& mask = constraint.allowed();
    if (static_cast<int>(walk.tokens.size()) < checked_steps) {
      for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
        std::vector<int32_t> extended = walk.tokens;
        extended.push_back(id);
        const bool live =
            !tokenizer.is_special(id) &&
            reference.run(reference.start(), output_so_far(tokenizer, extended)) != ByteDfa::kDead;
        EXPECT_EQ(mask.test(id), live) << "token " << id << " '" << tokenizer.id_to_token(id) << "' after "
                                       << walk.tokens.size() << " tokens";
      }
    }
    if (constraint.accepting() && (mask.allowed == 0 || random() % 4 == 0)) {
      walk.complete = true;
      break;
    }
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
      if (mask.test(id)) allowed.push_back(id);
    }
    if (allowed.empty()) {
      ADD_FAILURE() << "no token allowed and the output cannot end";
      break;
    }
    const int32_t token = allowed[random() % allowed.size()];
    constraint.advance(token);
    walk.tokens.push_back(token);
  }
  return walk;
}

bool full_match(const std::string& regex, const std::string& text) {
  return ByteDfa(compile_regex(regex)).matches(text);
}

const Tokenizer& demo_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(test::source_dir() + "/models/demo");
  return tokenizer;
}

TEST(TokenConstraintTest, MasksAreExactlyTheLiveTokensOnTheDemoVocabulary) {
  const Tokenizer& tokenizer = demo_tokenizer();
  for (const std::string& regex :
       {std::string("The answer is [0-9]+\\.( Done\\.)?"), std::string(" ?#### -?\\d{1,4}"),
        json_schema_to_regex(nlohmann::ordered_json::parse(
            R"({"type": "object", "properties": {"apples": {"type": "integer"},
                                          "name": {"type": "string", "maxLength": 8}}, "required": ["apples"]})"))}) {
    for (uint32_t seed = 0; seed < 3; ++seed) {
      const Walk walk = random_walk(tokenizer, regex, seed, 60, 60);
      if (walk.complete) {
        const std::string text = tokenizer.decode(walk.tokens, true);
        EXPECT_TRUE(full_match(regex, text)) << regex << " vs '" << text << "'";
      }
    }
  }
}

TEST(TokenConstraintTest, WalksDecodeToMatchingTextOnMiniCpm3Vocabulary) {
  CPM_REQUIRE_SHARED();
  const Tokenizer tokenizer = Tokenizer::load(test::shared_dir() + "/data/minicpm3-4b");
  const std::string schema = json_schema_to_regex(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"city": {"type": "string", "maxLength": 6},
          "population": {"type": "integer", "minimum": 0, "maximum": 99999999},
          "districts": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 3}},
          "required": ["city", "population"]})"));
  int complete = 0;
  for (uint32_t seed = 0; seed < 8; ++seed) {
    const Walk walk = random_walk(tokenizer, schema, seed, 400, seed == 0 ? 4 : 0);
    if (!walk.complete) continue;
    ++complete;
    const std::string text = tokenizer.decode(walk.tokens, true);
    EXPECT_TRUE(full_match(schema, text)) << text;
    EXPECT_TRUE(nlohmann::json::accept(text)) << text;
  }
  EXPECT_GE(complete, 6);  // 8 of 8 when written
  const std::string chinese = "(北京|上海)是中国的城市。";
  for (uint32_t seed = 0; seed < 4; ++seed) {
    const Walk walk = random_walk(tokenizer, chinese, seed, 40, seed == 0 ? 3 : 0);
    ASSERT_TRUE(walk.complete);
    EXPECT_TRUE(full_match(chinese, tokenizer.decode(walk.tokens, true)));
  }
}

TEST(TokenConstraintTest, AGrammarThatCanOnlyEndIsComplete) {
  const Tokenizer& tokenizer = demo_tokenizer();
  auto vocabulary = std::make_shared<const TokenVocabulary>(tokenizer, tokenizer.vocab_size());
  TokenConstraint constraint(std::make_shared<ConstrainedGrammar>("yes|no", vocabulary));
  EXPECT_FALSE(constraint.complete());
  for (int32_t token : tokenizer.encode("yes", false)) constraint.advance(token);
  EXPECT_TRUE(constraint.accepting());
  EXPECT_TRUE(constraint.complete());
  TokenConstraint other(std::make_shared<ConstrainedGrammar>("yes|no", vocabulary));
  EXPECT_THROW(other.advance(tokenizer.encode("maybe", false).front()), Error);
}

// The automaton state after taking the lowest allowed token `steps` times from `state`.
int32_t take_tokens(ConstrainedGrammar& grammar, int32_t state, int steps) {
  int strips_left = 0;
  for (int step = 0; step < steps; ++step) {
    const TokenMask& mask = grammar.allowed(state, strips_left);
    int32_t token = 0;
    while (!mask.test(token)) ++token;
    state = grammar.advance(state, &strips_left, token);
  }
  return state;
}

TEST(TokenConstraintTest, GrammarCacheSharesGrammarsAndRetiresWornOnes) {
  const Tokenizer& tokenizer = demo_tokenizer();
  auto vocabulary = std::make_shared<const TokenVocabulary>(tokenizer, tokenizer.vocab_size());
  GrammarCache cache(2, 200);
  const std::string pattern = "[a-z ]{0,2000}";  // every character a new state
  std::shared_ptr<ConstrainedGrammar> first = cache.get(pattern, vocabulary);
  EXPECT_EQ(cache.get(pattern, vocabulary), first);
  int32_t state = first->start();
  while (first->num_states() <= 100) state = take_tokens(*first, state, 1);
  // Past half its limit: new requests get a fresh grammar; the request holding the old one goes on.
  std::shared_ptr<ConstrainedGrammar> second = cache.get(pattern, vocabulary);
  EXPECT_NE(second, first);
  EXPECT_EQ(second->num_states(), 1u);
  EXPECT_EQ(cache.get(pattern, vocabulary), second);
  state = take_tokens(*first, state, 5);
  EXPECT_THROW(take_tokens(*first, state, 400), Error);  // its own limit still holds
  // Idle grammars beyond max_idle are dropped; those in use stay.
  const std::shared_ptr<ConstrainedGrammar> held = cache.get("yes|no", vocabulary);
  for (const char* other : {"a+", "b+", "c+", "d+"}) cache.get(other, vocabulary);
  EXPECT_LE(cache.size(), 4u);
  EXPECT_EQ(cache.get("yes|no", vocabulary), held);
}

TEST(TokenConstraintTest, RequestFieldsBecomeOneRegex) {
  EXPECT_EQ(constraint_regex("", "", ""), "");
  EXPECT_EQ(constraint_regex("a+", "", ""), "a+");
  EXPECT_FALSE(constraint_regex("", R"({"type": "integer"})", "").empty());
  EXPECT_THROW(constraint_regex("a+", R"({"type": "integer"})", ""), Error);
  EXPECT_THROW(constraint_regex("(a", "", ""), Error);
  EXPECT_THROW(constraint_regex("", "{not json", ""), Error);
  EXPECT_THROW(constraint_regex("", R"({"type": "integer", "multipleOf": 2})", ""), Error);
  EXPECT_EQ(constraint_regex("", "", R"(root ::= "a"+)"), "((a){1,})");
  EXPECT_THROW(constraint_regex("a+", "", R"(root ::= "a")"), Error);
  EXPECT_THROW(constraint_regex("", "", "root ::= missing"), Error);
}

}  // namespace
}  // namespace cpm

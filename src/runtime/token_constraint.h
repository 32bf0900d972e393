// Constrained decoding: which tokens may come next so that the output text stays a prefix of a
// string the request's regular expression (or JSON schema, turned into one) matches.
//
// TokenVocabulary holds the bytes each token adds to the output, in a trie; a ConstrainedGrammar
// (one per pattern, shared by requests) walks the trie together with the pattern's lazy byte
// automaton, so finding the allowed tokens of a state visits only prefixes that stay live, and each
// state's answer is kept. A TokenConstraint is one request's position in its grammar.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/byte_dfa.h"
#include "tokenizer/tokenizer.h"

namespace cpm {

struct TokenMask {
  std::vector<uint64_t> bits;
  int64_t allowed = 0;  // how many bits are set
  bool test(int64_t id) const { return (bits[id >> 6] >> (id & 63)) & 1; }
};

class TokenVocabulary {
 public:
  // Tokens the model can produce (ids below model_vocab_size) with the bytes the tokenizer's decoder
  // gives them mid-text. Special tokens and tokens that decode to nothing are never allowed.
  TokenVocabulary(const Tokenizer& tokenizer, int64_t model_vocab_size);

  int64_t size() const { return vocab_size_; }
  std::string_view bytes(int32_t id) const;  // "" for tokens left out
  // The decoder drops up to strip_count() leading strip_byte()s from the start of the output.
  char strip_byte() const { return strip_byte_; }
  int strip_count() const { return strip_count_; }

 private:
  friend class ConstrainedGrammar;
  struct Node {
    int32_t first_child = 0, num_children = 0;
    int32_t first_token = 0, num_tokens = 0;  // the tokens whose bytes end here
  };
  int32_t build(const std::vector<std::pair<std::string_view, int32_t>>& sorted, size_t begin, size_t end,
                size_t depth);

  int64_t vocab_size_;
  std::string all_bytes_;
  std::vector<uint32_t> offsets_;  // token id -> [offsets_[id], offsets_[id + 1]) in all_bytes_
  std::vector<Node> nodes_;        // nodes_[0] is the root (the empty prefix)
  std::vector<uint8_t> child_bytes_;
  std::vector<int32_t> child_nodes_;
  std::vector<int32_t> node_tokens_;
  char strip_byte_ = ' ';
  int strip_count_ = 0;
};

class ConstrainedGrammar {
 public:
  // Throws cpm::Error for a pattern regex_nfa.h does not accept. The automaton may make up to
  // `max_states` states (see ByteDfa).
  ConstrainedGrammar(const std::string& regex, std::shared_ptr<const TokenVocabulary> vocabulary,
                     size_t max_states = kMaxGrammarStates);

  static constexpr size_t kMaxGrammarStates = 10000;

  // Tokens allowed in automaton `state` with `strips_left` leading strip bytes still to drop.
  // Throws cpm::Error when the automaton grows past its state limit.
  const TokenMask& allowed(int32_t state, int strips_left);
  // The automaton state after `token`'s bytes, or ByteDfa::kDead.
  int32_t advance(int32_t state, int* strips_left, int32_t token);
  bool accepting(int32_t state) const { return dfa_.accepting(state); }
  int32_t start() const { return dfa_.start(); }
  size_t num_states() const { return dfa_.num_states(); }
  const TokenVocabulary& vocabulary() const { return *vocabulary_; }

 private:
  ByteDfa dfa_;
  std::shared_ptr<const TokenVocabulary> vocabulary_;
  std::unordered_map<int64_t, TokenMask> masks_;
};

// Grammars shared by the requests that ask for the same pattern. A grammar's automaton keeps every
// state any output reached, so on a long-running server a popular grammar would creep towards its
// state limit and fail a request that alone needs few: a grammar past half its limit is handed to
// no new request (those in flight keep it), a fresh one takes its place. Of grammars no request
// uses, at most `max_idle` stay.
class GrammarCache {
 public:
  explicit GrammarCache(size_t max_idle = 16, size_t max_states = ConstrainedGrammar::kMaxGrammarStates)
      : max_idle_(max_idle), max_states_(max_states) {}

  // Throws cpm::Error for a pattern regex_nfa.h does not accept.
  std::shared_ptr<ConstrainedGrammar> get(const std::string& regex,
                                          const std::shared_ptr<const TokenVocabulary>& vocabulary);
  size_t size() const { return grammars_.size(); }

 private:
  size_t max_idle_, max_states_;
  std::unordered_map<std::string, std::shared_ptr<ConstrainedGrammar>> grammars_;
};

// One request's progress through its grammar.
class TokenConstraint {
 public:
  explicit TokenConstraint(std::shared_ptr<ConstrainedGrammar> grammar);

  const TokenMask& allowed() { return grammar_->allowed(state_, strips_left_); }
  bool accepting() const { return grammar_->accepting(state_); }
  // Accepting with no token allowed after: the output can only end here. False when finding that
  // out fails (allowed() will then report the error).
  bool complete();
  // Records a token taken from allowed(); throws cpm::Error for any other.
  void advance(int32_t token);

 private:
  std::shared_ptr<ConstrainedGrammar> grammar_;
  int32_t state_;
  int strips_left_;
};

// The regex a request's constraint fields ask for ("" when none): `regex` as is, or `json_schema`
// (JSON text) or `ebnf` converted. Throws cpm::Error naming what is wrong with any of them.
std::string constraint_regex(const std::string& regex, const std::string& json_schema,
                             const std::string& ebnf);

}  // namespace cpm

#include "runtime/token_constraint.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "runtime/ebnf_regex.h"
#include "runtime/json_schema_regex.h"

namespace cpm {

namespace {
constexpr size_t kMaxCachedMasks = 1024;  // 9 KB each at MiniCPM3's vocabulary
}

TokenVocabulary::TokenVocabulary(const Tokenizer& tokenizer, int64_t model_vocab_size)
    : vocab_size_(model_vocab_size) {
  const DecoderChain& decoder = tokenizer.decoder();
  const std::string& strip = decoder.leading_strip_content();
  if (strip.size() == 1 && decoder.leading_strip_count() > 0) {
    strip_byte_ = strip[0];
    strip_count_ = decoder.leading_strip_count();
  }
  offsets_.reserve(vocab_size_ + 1);
  for (int64_t id = 0; id < vocab_size_; ++id) {
    offsets_.push_back(static_cast<uint32_t>(all_bytes_.size()));
    const auto token = static_cast<int32_t>(id);
    if (id >= tokenizer.vocab_size() || tokenizer.is_special(token)) continue;
    all_bytes_ += decoder.token_bytes(tokenizer.id_to_token(token));
  }
  offsets_.push_back(static_cast<uint32_t>(all_bytes_.size()));
  std::vector<std::pair<std::string_view, int32_t>> sorted;
  for (int64_t id = 0; id < vocab_size_; ++id) {
    const std::string_view token_bytes = bytes(static_cast<int32_t>(id));
    if (!token_bytes.empty()) sorted.push_back({token_bytes, static_cast<int32_t>(id)});
  }
  std::sort(sorted.begin(), sorted.end());
  build(sorted, 0, sorted.size(), 0);
}

std::string_view TokenVocabulary::bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return {};
  return std::string_view(all_bytes_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
}

// The node for sorted[begin, end), which share their first `depth` bytes; children are contiguous.
int32_t TokenVocabulary::build(const std::vector<std::pair<std::string_view, int32_t>>& sorted, size_t begin,
                               size_t end, size_t depth) {
  const auto id = static_cast<int32_t>(nodes_.size());
  nodes_.emplace_back();
  nodes_[id].first_token = static_cast<int32_t>(node_tokens_.size());
  while (begin < end && sorted[begin].first.size() == depth) node_tokens_.push_back(sorted[begin++].second);
  nodes_[id].num_tokens = static_cast<int32_t>(node_tokens_.size()) - nodes_[id].first_token;
  std::vector<std::pair<size_t, size_t>> groups;
  for (size_t at = begin; at < end;) {
    size_t next = at + 1;
    while (next < end && sorted[next].first[depth] == sorted[at].first[depth]) ++next;
    groups.push_back({at, next});
    at = next;
  }
  const auto first_child = static_cast<int32_t>(child_bytes_.size());
  child_bytes_.resize(first_child + groups.size());
  child_nodes_.resize(first_child + groups.size());
  nodes_[id].first_child = first_child;
  nodes_[id].num_children = static_cast<int32_t>(groups.size());
  for (size_t k = 0; k < groups.size(); ++k) {
    child_bytes_[first_child + k] = static_cast<uint8_t>(sorted[groups[k].first].first[depth]);
    const int32_t child = build(sorted, groups[k].first, groups[k].second, depth + 1);
    child_nodes_[first_child + k] = child;
  }
  return id;
}

ConstrainedGrammar::ConstrainedGrammar(const std::string& regex,
                                       std::shared_ptr<const TokenVocabulary> vocabulary, size_t max_states)
    : dfa_(compile_regex(regex), max_states), vocabulary_(std::move(vocabulary)) {}

std::shared_ptr<ConstrainedGrammar> GrammarCache::get(
    const std::string& regex, const std::shared_ptr<const TokenVocabulary>& vocabulary) {
  auto found = grammars_.find(regex);
  if (found != grammars_.end() && found->second->num_states() <= max_states_ / 2) return found->second;
  if (found != grammars_.end()) grammars_.erase(found);  // worn: its requests keep it alive
  auto idle = [](const auto& entry) { return entry.second.use_count() == 1; };
  if (static_cast<size_t>(std::count_if(grammars_.begin(), grammars_.end(), idle)) >= max_idle_) {
    std::erase_if(grammars_, idle);
  }
  auto grammar = std::make_shared<ConstrainedGrammar>(regex, vocabulary, max_states_);
  grammars_.emplace(regex, grammar);
  return grammar;
}

const TokenMask& ConstrainedGrammar::allowed(int32_t state, int strips_left) {
  if (state < 0 || static_cast<size_t>(state) >= dfa_.num_states()) fail("no automaton state ", state);
  const int64_t key = static_cast<int64_t>(state) * 8 + std::min(strips_left, 7);
  auto found = masks_.find(key);
  if (found != masks_.end()) return found->second;
  if (masks_.size() >= kMaxCachedMasks) masks_.clear();
  const TokenVocabulary& vocabulary = *vocabulary_;
  TokenMask mask;
  mask.bits.assign((vocabulary.size() + 63) / 64, 0);
  struct Visit {
    int32_t node, state, strips_left;
  };
  std::vector<Visit> pending{{0, state, strips_left}};
  while (!pending.empty()) {
    const Visit visit = pending.back();
    pending.pop_back();
    const TokenVocabulary::Node& node = vocabulary.nodes_[visit.node];
    for (int32_t k = 0; k < node.num_tokens; ++k) {
      const int32_t token = vocabulary.node_tokens_[node.first_token + k];
      mask.bits[token >> 6] |= uint64_t{1} << (token & 63);
      ++mask.allowed;
    }
    for (int32_t k = 0; k < node.num_children; ++k) {
      const uint8_t byte = vocabulary.child_bytes_[node.first_child + k];
      const int32_t child = vocabulary.child_nodes_[node.first_child + k];
      if (visit.strips_left > 0 && byte == static_cast<uint8_t>(vocabulary.strip_byte())) {
        pending.push_back({child, visit.state, visit.strips_left - 1});  // dropped by the decoder
        continue;
      }
      const int32_t next = dfa_.next(visit.state, byte);
      if (next != ByteDfa::kDead) pending.push_back({child, next, 0});
    }
  }
  return masks_.emplace(key, std::move(mask)).first->second;
}

int32_t ConstrainedGrammar::advance(int32_t state, int* strips_left, int32_t token) {
  for (char c : vocabulary_->bytes(token)) {
    if (state == ByteDfa::kDead) break;
    if (*strips_left > 0 && c == vocabulary_->strip_byte()) {
      --*strips_left;
      continue;
    }
    *strips_left = 0;
    state = dfa_.next(state, static_cast<uint8_t>(c));
  }
  return state;
}

TokenConstraint::TokenConstraint(std::shared_ptr<ConstrainedGrammar> grammar)
    : grammar_(std::move(grammar)),
      state_(grammar_->start()),
      strips_left_(grammar_->vocabulary().strip_count()) {}

bool TokenConstraint::complete() {
  if (!accepting()) return false;
  try {
    return allowed().allowed == 0;
  } catch (const Error&) {
    return false;
  }
}

void TokenConstraint::advance(int32_t token) {
  if (grammar_->vocabulary().bytes(token).empty())
    fail("token ", token, " is not allowed by the output constraint");
  const int32_t next = grammar_->advance(state_, &strips_left_, token);
  if (next == ByteDfa::kDead) fail("token ", token, " is not allowed by the output constraint");
  state_ = next;
}

std::string constraint_regex(const std::string& regex, const std::string& json_schema,
                             const std::string& ebnf) {
  if (!regex.empty() + !json_schema.empty() + !ebnf.empty() > 1)
    fail("give at most one of regex, json_schema and ebnf");
  if (!ebnf.empty()) {
    std::string converted = ebnf_to_regex(ebnf);
    compile_regex(converted);
    return converted;
  }
  if (!regex.empty()) {
    compile_regex(regex);  // reports a malformed pattern now, with the request
    return regex;
  }
  if (json_schema.empty()) return "";
  nlohmann::ordered_json schema;
  try {
    schema = nlohmann::ordered_json::parse(json_schema);
  } catch (const nlohmann::json::exception& error) {
    fail("json_schema is not valid JSON: ", error.what());
  }
  const std::string converted = json_schema_to_regex(schema);
  compile_regex(converted);
  return converted;
}

}  // namespace cpm

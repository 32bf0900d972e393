#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/normalizer.h"
#include "tokenizer/unicode.h"

namespace cpm {

void AddedVocabulary::Matcher::clear() {
  nodes_.assign(1, Node{});
  first_bytes_.fill(false);
}

void AddedVocabulary::Matcher::insert(std::string_view pattern, int32_t token_index) {
  if (pattern.empty()) return;
  first_bytes_[static_cast<unsigned char>(pattern[0])] = true;
  int32_t node = 0;
  for (char c : pattern) {
    const unsigned char byte = static_cast<unsigned char>(c);
    auto& children = nodes_[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
    if (it == children.end() || it->first != byte) {
      const int32_t child = static_cast<int32_t>(nodes_.size());
      children.insert(it, {byte, child});
      nodes_.emplace_back();  // invalidates `children`: not used after this
      node = child;
    } else {
      node = it->second;
    }
  }
  nodes_[node].token_index = token_index;
}

std::pair<int32_t, size_t> AddedVocabulary::Matcher::longest_match(std::string_view text, size_t at) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t i = at; i < text.size(); ++i) {
    const unsigned char byte = static_cast<unsigned char>(text[i]);
    const auto& children = nodes_[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
    if (it == children.end() || it->first != byte) break;
    node = it->second;
    if (nodes_[node].token_index >= 0) best = {nodes_[node].token_index, i + 1 - at};
  }
  return best;
}

void AddedVocabulary::add(const AddedToken& token) {
  if (token.content.empty()) return;  // Hugging Face ignores empty added tokens
  size_t index = tokens_.size();
  if (auto it = index_by_content_.find(token.content); it != index_by_content_.end()) {
    index = it->second;
  } else if (auto it = index_by_id_.find(token.id); it != index_by_id_.end()) {
    index = it->second;
  }
  if (index == tokens_.size()) {
    tokens_.push_back(token);
  } else {
    index_by_content_.erase(tokens_[index].content);
    index_by_id_.erase(tokens_[index].id);
    tokens_[index] = token;
  }
  index_by_content_[token.content] = index;
  index_by_id_[token.id] = index;
}

void AddedVocabulary::build(const Normalizer& normalizer) {
  raw_matcher_.clear();
  normalized_matcher_.clear();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    if (token.normalized) {
      normalized_matcher_.insert(normalizer.normalize(token.content), static_cast<int32_t>(i));
    } else {
      raw_matcher_.insert(token.content, static_cast<int32_t>(i));
    }
  }
}

const AddedToken* AddedVocabulary::find(std::string_view content) const {
  auto it = index_by_content_.find(content);
  return it == index_by_content_.end() ? nullptr : &tokens_[it->second];
}

void AddedVocabulary::split(std::string_view text, bool normalized, std::vector<TextPiece>* out) const {
  const Matcher& matcher = normalized ? normalized_matcher_ : raw_matcher_;
  size_t emitted = 0;  // text before this offset is already in `out`
  if (!matcher.empty()) {
    for (size_t at = 0; at < text.size();) {
      if (!matcher.may_start_with(static_cast<unsigned char>(text[at]))) {
        ++at;
        continue;
      }
      const auto [index, length] = matcher.longest_match(text, at);
      if (index < 0) {
        ++at;
        continue;
      }
      size_t start = at, stop = at + length;
      at = stop;  // the search resumes after the match even when single_word rejects it
      const AddedToken& token = tokens_[index];
      if (token.single_word && (unicode::ends_with_word_character(text.substr(0, start)) ||
                                unicode::starts_with_word_character(text.substr(stop)))) {
        continue;
      }
      if (token.lstrip) start -= unicode::trailing_whitespace_length(text.substr(0, start));
      if (token.rstrip) stop += unicode::leading_whitespace_length(text.substr(stop));
      start = std::max(start, emitted);  // whitespace an earlier rstrip took stays with that token
      if (emitted < start) out->push_back({text.substr(emitted, start - emitted), -1});
      out->push_back({text.substr(start, stop - start), token.id});
      emitted = stop;
      at = std::max(at, stop);  // whitespace taken by rstrip is not searched again
    }
  }
  if (emitted < text.size()) out->push_back({text.substr(emitted), -1});
}

}  // namespace cpm

#include "tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace cpm {

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, int32_t unk_id,
                   bool byte_fallback, bool fuse_unk)
    : vocab_(std::move(vocab)), unk_id_(unk_id), byte_fallback_(byte_fallback), fuse_unk_(fuse_unk) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const int32_t a = find(left), b = find(right), merged = find(left + right);
    if (a < 0 || b < 0 || merged < 0)
      fail("merge \"", left, " ", right, "\" uses a piece missing from the vocabulary");
    merges_.emplace(std::make_pair(a, b), Merge{static_cast<int32_t>(rank), merged});
  }
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    byte_ids_[byte] = find(name);
  }
}

int32_t BpeModel::find(std::string_view piece) const {
  auto it = vocab_.find(std::string(piece));
  return it == vocab_.end() ? -1 : it->second;
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>* out) const {
  // Symbols in a doubly linked list; -1 ids are characters outside the vocabulary.
  struct Symbol {
    int32_t id;
    std::string_view text;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  for (std::string_view c : utf8::characters(word)) {
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({find(c), c, index - 1, index + 1, true});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;
  // Candidate merges ordered by (rank, position); stale entries are skipped when popped.
  struct Candidate {
    int32_t rank;
    int left;
    int32_t left_id, right_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : left > other.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int left) {
    if (left < 0) return;
    const int right = symbols[left].next;
    if (right < 0 || symbols[left].id < 0 || symbols[right].id < 0) return;
    auto it = merges_.find({symbols[left].id, symbols[right].id});
    if (it != merges_.end()) queue.push({it->second.rank, left, symbols[left].id, symbols[right].id});
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) consider(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.left];
    if (!left.alive || left.id != top.left_id || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.id != top.right_id) continue;
    left.id = merges_.at({top.left_id, top.right_id}).result;
    left.text = std::string_view(left.text.data(), left.text.size() + right.text.size());
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    consider(left.prev);
    consider(top.left);
  }
  bool previous_unknown = false;
  for (int i = 0; i >= 0; i = symbols[i].next) {
    const Symbol& symbol = symbols[i];
    if (symbol.id >= 0) {
      out->push_back(symbol.id);
      previous_unknown = false;
      continue;
    }
    bool all_bytes = byte_fallback_;
    for (unsigned char byte : symbol.text) all_bytes = all_bytes && byte_ids_[byte] >= 0;
    if (all_bytes) {
      for (unsigned char byte : symbol.text) out->push_back(byte_ids_[byte]);
      previous_unknown = false;
    } else if (unk_id_ >= 0 && !(fuse_unk_ && previous_unknown)) {
      out->push_back(unk_id_);
      previous_unknown = true;
    }
  }
}

}  // namespace cpm

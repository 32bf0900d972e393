#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <queue>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace cpm {

namespace {

bool is_unset(const nlohmann::json& model, const char* key) {
  if (!model.contains(key) || model[key].is_null()) return true;
  return model[key].is_string() && model[key].get<std::string>().empty();
}

// Length of the character at word[at] as Rust's char_indices sees it; a byte that is not valid
// UTF-8 (impossible in a Rust &str) counts as a character of its own and goes to byte fallback.
size_t character_length(std::string_view word, size_t at) {
  const size_t length = utf8::valid_sequence_length(word, at);
  return length == 0 ? 1 : length;
}

}  // namespace

BpeModel BpeModel::from_json(const nlohmann::json& model, const std::string& file) {
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") fail(file, ": unsupported model type \"", type, "\" (only BPE is implemented)");
  if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0)
    fail(file, ": BPE dropout is not supported");
  if (!is_unset(model, "continuing_subword_prefix") || !is_unset(model, "end_of_word_suffix"))
    fail(file, ": BPE continuing_subword_prefix / end_of_word_suffix are not supported");
  BpeModel bpe;
  bpe.load_vocab(model.at("vocab"), file);
  bpe.load_merges(model.at("merges"), file);
  bpe.byte_fallback_ = model.value("byte_fallback", false);
  bpe.fuse_unk_ = model.value("fuse_unk", false);
  bpe.ignore_merges_ = model.value("ignore_merges", false);
  // An unk_token missing from the vocabulary behaves like none: unknown characters are dropped.
  if (model.contains("unk_token") && model["unk_token"].is_string())
    bpe.unk_id_ = bpe.token_to_id(model["unk_token"].get<std::string>());
  return bpe;
}

void BpeModel::load_vocab(const nlohmann::json& vocab, const std::string& file) {
  if (!vocab.is_object()) fail(file, ": model.vocab is not an object");
  vocab_.reserve(vocab.size());
  for (const auto& [piece, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      fail(file, ": model.vocab: bad id for \"", piece, "\"");
    vocab_.emplace(piece, id.get<int32_t>());
  }
  ascii_ids_.fill(-1);
  for (int c = 0; c < 128; ++c) ascii_ids_[c] = token_to_id(std::string(1, static_cast<char>(c)));
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    byte_ids_[byte] = token_to_id(name);
  }
}

void BpeModel::load_merges(const nlohmann::json& merges, const std::string& file) {
  if (!merges.is_array()) fail(file, ": model.merges is not an array");
  merges_.reserve(merges.size());
  int32_t rank = 0;
  for (const nlohmann::json& merge : merges) {
    std::string left, right;
    if (merge.is_array() && merge.size() == 2) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else if (merge.is_string()) {
      const std::string& line = merge.get_ref<const std::string&>();
      if (line.starts_with("#version")) continue;  // a header line of old merges.txt files
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        fail(file, ": merge ", rank + 1, " (\"", line, "\") is not two pieces separated by a space");
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else {
      fail(file, ": merge ", rank + 1, " is neither a string nor a pair");
    }
    const int32_t left_id = token_to_id(left), right_id = token_to_id(right),
                  merged_id = token_to_id(left + right);
    if (left_id < 0 || right_id < 0 || merged_id < 0)
      fail(file, ": merge ", rank + 1, " (\"", left, "\" + \"", right,
           "\") uses a piece missing from the vocabulary");
    merges_.set(left_id, right_id, {rank, merged_id});  // a repeated pair takes the later rank
    merged_by_rank_.push_back(merged_id);
    ++rank;
  }
}

int32_t BpeModel::token_to_id(std::string_view piece) const {
  auto it = vocab_.find(piece);
  return it == vocab_.end() ? -1 : it->second;
}

std::vector<std::string> BpeModel::pieces_by_id() const {
  int32_t max_id = -1;
  for (const auto& [piece, id] : vocab_) max_id = std::max(max_id, id);
  std::vector<std::string> pieces(max_id + 1);
  for (const auto& [piece, id] : vocab_) pieces[id] = piece;
  return pieces;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<Symbol>* symbols) const {
  auto add = [&](int32_t id) {
    const int32_t index = static_cast<int32_t>(symbols->size());
    symbols->push_back({id, index - 1, index + 1, false});
  };
  bool unknown_pending = false;  // an <unk> not yet added (consecutive ones fuse with fuse_unk)
  for (size_t at = 0; at < word.size();) {
    const size_t length = character_length(word, at);
    const std::string_view character = word.substr(at, length);
    at += length;
    const int32_t id = length == 1 && static_cast<unsigned char>(character[0]) < 128
                           ? ascii_ids_[static_cast<unsigned char>(character[0])]
                           : token_to_id(character);
    if (id >= 0) {
      if (unknown_pending) add(unk_id_);
      unknown_pending = false;
      add(id);
      continue;
    }
    if (byte_fallback_ && std::all_of(character.begin(), character.end(), [&](char byte) {
          return byte_ids_[static_cast<unsigned char>(byte)] >= 0;
        })) {
      // Like Hugging Face, a pending <unk> is not flushed here: it lands after these bytes.
      for (char byte : character) add(byte_ids_[static_cast<unsigned char>(byte)]);
      continue;
    }
    if (unk_id_ < 0) continue;
    if (unknown_pending && !fuse_unk_) add(unk_id_);
    unknown_pending = true;
  }
  if (unknown_pending) add(unk_id_);
  if (!symbols->empty()) symbols->back().next = -1;
}

void BpeModel::merge_all(std::vector<Symbol>* symbols_ptr) const {
  std::vector<Symbol>& symbols = *symbols_ptr;
  // A candidate merge is (rank << 32 | position of its left symbol): the smallest value is the lowest
  // rank, leftmost on ties, which is the order Hugging Face merges in.
  auto candidate = [&](int32_t left, uint64_t* out) {
    const int32_t right = symbols[left].next;
    if (right < 0) return false;
    const MergeRule* rule = merges_.find(symbols[left].id, symbols[right].id);
    if (rule == nullptr) return false;
    *out = (static_cast<uint64_t>(rule->rank) << 32) | static_cast<uint32_t>(left);
    return true;
  };
  std::vector<uint64_t> initial;
  initial.reserve(symbols.size());
  for (int32_t i = 0, n = static_cast<int32_t>(symbols.size()); i + 1 < n; ++i) {
    if (uint64_t c; candidate(i, &c)) initial.push_back(c);
  }
  std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<>> queue(std::greater<>(),
                                                                             std::move(initial));
  auto consider = [&](int32_t left) {
    if (uint64_t c; candidate(left, &c)) queue.push(c);
  };
  while (!queue.empty()) {
    const uint64_t top = queue.top();
    queue.pop();
    const int32_t position = static_cast<int32_t>(top & 0xFFFFFFFFu);
    const int32_t merged_id = merged_by_rank_[top >> 32];
    Symbol& left = symbols[position];
    if (left.merged_away || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    // Skip entries made stale by earlier merges: the pair must still produce the same piece.
    const MergeRule* rule = merges_.find(left.id, right.id);
    if (rule == nullptr || rule->merged_id != merged_id) continue;
    left.id = merged_id;
    right.merged_away = true;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = position;
    if (left.prev >= 0) consider(left.prev);
    consider(position);
  }
}

void BpeModel::encode(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const int32_t id = token_to_id(word); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  initial_symbols(word, &symbols);
  if (symbols.empty()) return;
  merge_all(&symbols);
  for (int32_t i = 0; i >= 0; i = symbols[i].next) out->push_back(symbols[i].id);
}

}  // namespace cpm

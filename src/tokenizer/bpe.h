// The tokenizer.json BPE model, as Hugging Face runs it on one piece of normalized text: split into
// characters (characters missing from the vocabulary become <0xXX> byte tokens with byte_fallback,
// or the unknown token), then repeatedly merge the adjacent pair with the lowest merge rank (leftmost
// first on ties). A heap of candidate pairs over a linked list of symbols makes this O(n log n), so
// a whole prompt can be one "word" (tokenizers without a pre-tokenizer, like MiniCPM3's).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/pair_table.h"
#include "tokenizer/string_map.h"

namespace cpm {

class BpeModel {
 public:
  // Parses a tokenizer.json "model" object; errors name `file`.
  static BpeModel from_json(const nlohmann::json& model, const std::string& file);

  // Appends the ids of `word` to `out`.
  void encode(std::string_view word, std::vector<int32_t>* out) const;

  int32_t token_to_id(std::string_view piece) const;  // -1 when absent
  int32_t unk_id() const { return unk_id_; }          // -1 when none
  // Every piece at its id; ids the vocabulary skips hold "".
  std::vector<std::string> pieces_by_id() const;
  // The id each merge rank produces, in rank order (for exporters that need merge priorities).
  const std::vector<int32_t>& merged_by_rank() const { return merged_by_rank_; }

 private:
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // neighbours in the word, -1 at the ends
    bool merged_away;    // absorbed into its left neighbour
  };

  void load_vocab(const nlohmann::json& vocab, const std::string& file);
  void load_merges(const nlohmann::json& merges, const std::string& file);
  void initial_symbols(std::string_view word, std::vector<Symbol>* symbols) const;
  void merge_all(std::vector<Symbol>* symbols) const;

  StringMap<int32_t> vocab_;
  PairTable merges_;                     // (left id, right id) -> rank and merged id
  std::vector<int32_t> merged_by_rank_;  // the merged id of each rank, to spot stale heap entries
  std::array<int32_t, 128> ascii_ids_;   // one-byte characters, -1 when absent
  std::array<int32_t, 256> byte_ids_;    // <0xXX> tokens, -1 when absent
  int32_t unk_id_ = -1;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
};

}  // namespace cpm

// Byte-pair encoding of one word, as Hugging Face's BPE model does it: start from the word's
// characters, repeatedly merge the adjacent pair of lowest merge rank (leftmost on ties), then map
// each symbol to its id, falling back to <0xXX> byte tokens for symbols not in the vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cpm {

class BpeModel {
 public:
  BpeModel() = default;
  BpeModel(std::unordered_map<std::string, int32_t> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, int32_t unk_id, bool byte_fallback,
           bool fuse_unk);

  // Appends the ids of `word` to `out`. O(n log n) in the word's length.
  void encode_word(std::string_view word, std::vector<int32_t>* out) const;
  int32_t find(std::string_view piece) const;  // -1 when absent
  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }

 private:
  struct PairHash {
    size_t operator()(const std::pair<int32_t, int32_t>& pair) const {
      return std::hash<int64_t>()((static_cast<int64_t>(pair.first) << 32) ^
                                  static_cast<uint32_t>(pair.second));
    }
  };
  struct Merge {
    int32_t rank;
    int32_t result;
  };

  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<std::pair<int32_t, int32_t>, Merge, PairHash> merges_;
  int32_t unk_id_ = -1;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  int32_t byte_ids_[256];
};

}  // namespace cpm

#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace cpm {

namespace {

using nlohmann::ordered_json;

const std::string kSpacePiece = "\xE2\x96\x81";  // "▁", which stands for a space in pieces
constexpr int32_t kUnmergeable = -1;             // a symbol no merge may touch

// The pieces and merges training produces, in id / rank order.
struct TrainedBpe {
  std::vector<std::string> pieces;
  std::vector<std::string> merges;  // "left right"
};

// Greedy BPE over the corpus's words: repeatedly merge the most frequent adjacent pair (ties: the
// smaller ids) until the piece budget is used or no pair is left.
class BpeTrainer {
 public:
  explicit BpeTrainer(int32_t piece_budget) : budget_(piece_budget) {}

  TrainedBpe train(const std::string& corpus) {
    add_fixed_pieces();
    count_words(corpus);
    add_characters();
    build_words();
    while (static_cast<int32_t>(result_.pieces.size()) < budget_ && merge_best_pair()) {
    }
    fill_reserved();
    return std::move(result_);
  }

 private:
  struct Word {
    std::vector<int32_t> symbols;
    int64_t count;
  };
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right);
  }

  void add_piece(const std::string& piece) {
    ids_.emplace(piece, static_cast<int32_t>(result_.pieces.size()));
    result_.pieces.push_back(piece);
  }

  void add_fixed_pieces() {
    for (const char* piece : {"<unk>", "<s>", "</s>"}) add_piece(piece);
    for (int byte = 0; byte < 256; ++byte) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", byte);
      add_piece(name);
    }
    // The added tokens come last, but no learned piece may spell them either.
    reserved_ = {result_.pieces.begin(), result_.pieces.end()};
    reserved_.insert({"<|im_end|>", "<|im_start|>"});
  }

  // Each line is normalized as the tokenizer will see it ("▁" first, spaces as "▁") and cut into
  // words that start at each "▁", so merges never cross a word boundary.
  void count_words(const std::string& corpus) {
    for (size_t start = 0; start <= corpus.size();) {
      size_t end = corpus.find('\n', start);
      if (end == std::string::npos) end = corpus.size();
      std::string line = kSpacePiece;
      for (char c : std::string_view(corpus).substr(start, end - start))
        line += c == ' ' ? kSpacePiece : std::string(1, c);
      for (size_t word_start = 0; word_start < line.size();) {
        size_t next = line.find(kSpacePiece, word_start + kSpacePiece.size());
        if (next == std::string::npos) next = line.size();
        ++word_counts_[line.substr(word_start, next - word_start)];
        word_start = next;
      }
      if (end < corpus.size()) ++character_counts_["\n"];
      start = end + 1;
    }
  }

  // Characters by frequency (ties: byte order) while the budget lasts; rarer ones fall back to bytes.
  void add_characters() {
    for (const auto& [word, count] : word_counts_) {
      for (size_t at = 0; at < word.size();) {
        const size_t length = std::max<size_t>(1, utf8::valid_sequence_length(word, at));
        character_counts_[word.substr(at, length)] += count;
        at += length;
      }
    }
    std::vector<std::pair<std::string, int64_t>> characters(character_counts_.begin(),
                                                            character_counts_.end());
    std::stable_sort(characters.begin(), characters.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [character, count] : characters) {
      if (static_cast<int32_t>(result_.pieces.size()) >= budget_) break;
      if (ids_.count(character) || !utf8::is_valid(character)) continue;
      add_piece(character);
      if (character[0] >= '0' && character[0] <= '9') digits_.insert(ids_[character]);
    }
  }

  void build_words() {
    for (const auto& [text, count] : word_counts_) {
      Word word{{}, count};
      for (size_t at = 0; at < text.size();) {
        const size_t length = std::max<size_t>(1, utf8::valid_sequence_length(text, at));
        auto it = ids_.find(text.substr(at, length));
        word.symbols.push_back(it == ids_.end() || digits_.count(it->second) ? kUnmergeable : it->second);
        at += length;
      }
      words_.push_back(std::move(word));
      count_pairs(static_cast<int32_t>(words_.size()) - 1, +1);
    }
  }

  // Adds (sign +1) or removes (-1) the pairs of one word in the counts.
  void count_pairs(int32_t word_index, int sign) {
    const Word& word = words_[word_index];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      if (word.symbols[i] == kUnmergeable || word.symbols[i + 1] == kUnmergeable) continue;
      const uint64_t pair = key(word.symbols[i], word.symbols[i + 1]);
      if (forbidden_.count(pair)) continue;
      auto& count = pair_counts_[pair];
      count += sign * word.count;
      if (count == 0) pair_counts_.erase(pair);
      if (sign > 0) pair_words_[pair].push_back(word_index);
    }
  }

  bool merge_best_pair() {
    uint64_t best = 0;
    int64_t best_count = 0;
    for (const auto& [pair, count] : pair_counts_) {
      if (count > best_count || (count == best_count && pair < best)) {
        best = pair;
        best_count = count;
      }
    }
    if (best_count == 0) return false;
    const int32_t left = static_cast<int32_t>(best >> 32), right = static_cast<int32_t>(best & 0xFFFFFFFFu);
    const std::string merged = result_.pieces[left] + result_.pieces[right];
    if (reserved_.count(merged)) {  // would spell a special or byte token: never merge this pair
      forbid(best);
      return true;
    }
    if (!ids_.count(merged)) add_piece(merged);  // else a second way to build an existing piece
    result_.merges.push_back(result_.pieces[left] + " " + result_.pieces[right]);
    apply_merge(best, left, right, ids_.at(merged));
    return true;
  }

  void forbid(uint64_t pair) {
    forbidden_.insert(pair);
    pair_counts_.erase(pair);
    pair_words_.erase(pair);
  }

  void apply_merge(uint64_t pair, int32_t left, int32_t right, int32_t merged) {
    std::vector<int32_t> word_indices = std::move(pair_words_[pair]);
    pair_words_.erase(pair);
    std::sort(word_indices.begin(), word_indices.end());
    word_indices.erase(std::unique(word_indices.begin(), word_indices.end()), word_indices.end());
    for (int32_t word_index : word_indices) {
      count_pairs(word_index, -1);
      std::vector<int32_t>& symbols = words_[word_index].symbols;
      std::vector<int32_t> next;
      for (size_t i = 0; i < symbols.size(); ++i) {
        const bool match = i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right;
        next.push_back(match ? merged : symbols[i]);
        if (match) ++i;
      }
      symbols.swap(next);
      count_pairs(word_index, +1);
    }
  }

  void fill_reserved() {
    for (int n = 0; static_cast<int32_t>(result_.pieces.size()) < budget_; ++n) {
      const std::string piece = "<reserved_" + std::to_string(n) + ">";
      if (!ids_.count(piece)) add_piece(piece);
    }
  }

  int32_t budget_;
  TrainedBpe result_;
  std::unordered_map<std::string, int32_t> ids_;
  std::set<std::string> reserved_;
  std::set<int32_t> digits_;
  std::set<uint64_t> forbidden_;  // pairs whose piece would spell a reserved token
  std::map<std::string, int64_t> word_counts_, character_counts_;
  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> pair_counts_;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words_;  // may list a word twice
};

ordered_json added_token_json(int32_t id, const std::string& content, bool with_id) {
  ordered_json token;
  if (with_id) token["id"] = id;
  token["content"] = content;
  for (const char* flag : {"single_word", "lstrip", "rstrip", "normalized"}) token[flag] = false;
  token["special"] = true;
  return token;
}

const char* const kChatTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% "
    "endif %}";

ordered_json tokenizer_json(const TrainedBpe& bpe, int32_t im_end) {
  // Built as a list: ordered_json's operator[] searches linearly, which is quadratic for a vocabulary.
  std::vector<std::pair<const std::string, ordered_json>> entries;
  entries.reserve(bpe.pieces.size());
  for (size_t id = 0; id < bpe.pieces.size(); ++id) entries.emplace_back(bpe.pieces[id], id);
  const ordered_json vocab = ordered_json::object_t(entries.begin(), entries.end());
  ordered_json added = ordered_json::array();
  for (auto [id, content] : {std::pair<int32_t, const char*>{0, "<unk>"},
                             {1, "<s>"},
                             {2, "</s>"},
                             {im_end, "<|im_end|>"},
                             {im_end + 1, "<|im_start|>"}}) {
    added.push_back(added_token_json(id, content, true));
  }
  ordered_json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = added;
  root["normalizer"] = {{"type", "Sequence"},
                        {"normalizers",
                         {{{"type", "Prepend"}, {"prepend", kSpacePiece}},
                          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpacePiece}}}}};
  root["pre_tokenizer"] = nullptr;
  root["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
        {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}},
        {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  root["decoder"] = {{"type", "Sequence"},
                     {"decoders",
                      {{{"type", "Replace"}, {"pattern", {{"String", kSpacePiece}}}, {"content", " "}},
                       {{"type", "ByteFallback"}},
                       {{"type", "Fuse"}},
                       {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  ordered_json model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = "<unk>";
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = true;
  model["byte_fallback"] = true;
  model["ignore_merges"] = false;
  model["vocab"] = vocab;
  model["merges"] = bpe.merges;
  root["model"] = model;
  return root;
}

ordered_json tokenizer_config_json(int32_t im_end) {
  ordered_json decoder = ordered_json::object();
  for (auto [id, content] : {std::pair<int32_t, const char*>{0, "<unk>"},
                             {1, "<s>"},
                             {2, "</s>"},
                             {im_end, "<|im_end|>"},
                             {im_end + 1, "<|im_start|>"}}) {
    decoder[std::to_string(id)] = added_token_json(id, content, false);
  }
  ordered_json config;
  config["add_bos_token"] = true;
  config["add_eos_token"] = false;
  config["added_tokens_decoder"] = decoder;
  config["additional_special_tokens"] = {"<|im_end|>", "<|im_start|>"};
  config["bos_token"] = "<s>";
  config["clean_up_tokenization_spaces"] = false;
  config["eos_token"] = "<|im_end|>";
  config["legacy"] = true;
  config["model_max_length"] = 1000000000000000019884624838656.0;
  config["pad_token"] = nullptr;
  config["sp_model_kwargs"] = ordered_json::object();
  config["spaces_between_special_tokens"] = false;
  config["tokenizer_class"] = "LlamaTokenizer";
  config["unk_token"] = "<unk>";
  config["use_default_system_prompt"] = false;
  config["chat_template"] = kChatTemplate;
  return config;
}

void write_json(const std::filesystem::path& path, const ordered_json& value) {
  std::ofstream out(path, std::ios::binary);
  out << value.dump(2) << "\n";
  if (!out) fail(path.string(), ": cannot write");
}

}  // namespace

void write_trained_tokenizer(const std::string& dir, const std::string& corpus, int32_t vocab_size) {
  if (vocab_size < 300) fail("a trained tokenizer needs at least 300 ids, got ", vocab_size);
  const int32_t im_end = vocab_size - 2;  // the two chat tokens take the last ids
  const TrainedBpe bpe = BpeTrainer(im_end).train(corpus);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) fail(dir, ": cannot create the folder: ", error.message());
  write_json(std::filesystem::path(dir) / "tokenizer.json", tokenizer_json(bpe, im_end));
  write_json(std::filesystem::path(dir) / "tokenizer_config.json", tokenizer_config_json(im_end));
}

}  // namespace cpm

#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace cpm {

namespace {

using nlohmann::ordered_json;
const std::string kSpace = "\xE2\x96\x81";  // "▁", which stands for a space in pieces

// Each corpus line as a word of symbols, normalized as the tokenizer will ("▁" + spaces as "▁").
std::vector<std::vector<std::string>> corpus_words(const std::string& corpus) {
  std::vector<std::vector<std::string>> words;
  size_t start = 0;
  while (start < corpus.size()) {
    size_t end = corpus.find('\n', start);
    if (end == std::string::npos) end = corpus.size();
    std::string line = kSpace;
    for (char c : corpus.substr(start, end - start)) line += c == ' ' ? kSpace : std::string(1, c);
    std::vector<std::string> symbols;
    for (std::string_view c : utf8::characters(line)) symbols.emplace_back(c);
    words.push_back(std::move(symbols));
    start = end + 1;
  }
  return words;
}

ordered_json added_token(int32_t id, const std::string& content) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

const char* kChatTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% "
    "endif %}";

}  // namespace

void write_trained_tokenizer(const std::string& dir, const std::string& corpus, int32_t vocab_size) {
  if (vocab_size < 300) fail("a trained tokenizer needs at least 300 ids, got ", vocab_size);
  std::vector<std::string> pieces = {"<unk>", "<s>", "</s>"};
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    pieces.push_back(name);
  }
  const int32_t budget = vocab_size - 2;  // the two chat tokens come last
  std::vector<std::vector<std::string>> words = corpus_words(corpus);
  // Characters first, most frequent first, as far as the budget allows.
  std::map<std::string, int64_t> char_counts;
  for (const auto& word : words)
    for (const auto& c : word) ++char_counts[c];
  std::vector<std::pair<std::string, int64_t>> chars(char_counts.begin(), char_counts.end());
  std::stable_sort(chars.begin(), chars.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::set<std::string> known;
  for (const auto& [c, count] : chars) {
    if (static_cast<int32_t>(pieces.size()) >= budget) break;
    pieces.push_back(c);
    known.insert(c);
  }
  // Greedy merges of the most frequent adjacent pair (ties: smallest pair) until the budget is used.
  ordered_json merges = ordered_json::array();
  while (static_cast<int32_t>(pieces.size()) < budget) {
    std::map<std::pair<std::string, std::string>, int64_t> counts;
    for (const auto& word : words) {
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        if (known.count(word[i]) && known.count(word[i + 1])) ++counts[{word[i], word[i + 1]}];
      }
    }
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_count = 1;  // a pair seen once teaches nothing
    for (const auto& [pair, count] : counts) {
      if (count > best_count && !known.count(pair.first + pair.second)) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr) break;
    const std::string left = best->first, right = best->second, merged = left + right;
    pieces.push_back(merged);
    known.insert(merged);
    merges.push_back(left + " " + right);
    for (auto& word : words) {
      std::vector<std::string> next;
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
          next.push_back(merged);
          ++i;
        } else {
          next.push_back(word[i]);
        }
      }
      word.swap(next);
    }
  }
  // A small corpus may run out of pairs: fill with unused placeholder pieces so ids stay dense.
  for (int filler = 0; static_cast<int32_t>(pieces.size()) < budget; ++filler)
    pieces.push_back("<unused" + std::to_string(filler) + ">");
  ordered_json vocab = ordered_json::object();
  for (size_t id = 0; id < pieces.size(); ++id) vocab[pieces[id]] = id;
  const int32_t im_end = budget, im_start = budget + 1;
  ordered_json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {added_token(0, "<unk>"), added_token(1, "<s>"), added_token(2, "</s>"),
        added_token(im_end, "<|im_end|>"), added_token(im_start, "<|im_start|>")}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", kSpace}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merges}}}};
  ordered_json config = {{"add_bos_token", true},
                         {"add_eos_token", false},
                         {"bos_token", "<s>"},
                         {"eos_token", "<|im_end|>"},
                         {"unk_token", "<unk>"},
                         {"pad_token", nullptr},
                         {"clean_up_tokenization_spaces", false},
                         {"legacy", true},
                         {"tokenizer_class", "LlamaTokenizer"},
                         {"chat_template", kChatTemplate}};
  std::filesystem::create_directories(dir);
  for (const auto& [name, value] :
       {std::pair{"tokenizer.json", &tokenizer}, {"tokenizer_config.json", &config}}) {
    std::ofstream out(std::filesystem::path(dir) / name);
    out << value->dump(2) << "\n";
    if (!out) fail(dir, "/", name, ": cannot write");
  }
}

const std::string& default_tokenizer_corpus() {
  static const std::string corpus = [] {
    const char* names[] = {"Tom", "Anna", "Maria", "James", "Lily", "Omar", "Chen", "Sofia", "Ravi", "Emma"};
    const char* things[] = {"apples",   "books", "pencils", "cookies", "marbles",
                            "stickers", "eggs",  "cars",    "shells",  "cards"};
    const char* verbs[] = {"buys", "finds", "gets", "makes", "picks", "receives"};
    std::string text =
        "The quick brown fox jumps over the lazy dog.\nOnce upon a time there was a small town by the sea.\n"
        "Question: What is the answer?\nAnswer: Let us think step by step.\nThe answer is correct.\n"
        "Hello world! How are you today? I am fine, thank you.\nThis is a simple test of the tokenizer.\n";
    for (int i = 0; i < 120; ++i) {
      const std::string name = names[i % 10], thing = things[(i * 3) % 10], verb = verbs[(i * 7) % 6];
      const int a = 2 + (i * 7) % 40, b = 1 + (i * 11) % 30;
      text += "Question: " + name + " has " + std::to_string(a) + " " + thing + ". " + name + " " + verb +
              " " + std::to_string(b) + " more " + thing + ". How many " + thing + " does " + name +
              " have now?\n";
      text += "Answer: " + name + " has " + std::to_string(a) + " + " + std::to_string(b) + " = <<" +
              std::to_string(a) + "+" + std::to_string(b) + "=" + std::to_string(a + b) + ">>" +
              std::to_string(a + b) + " " + thing + ".\n#### " + std::to_string(a + b) + "\n";
    }
    return text;
  }();
  return corpus;
}

}  // namespace cpm

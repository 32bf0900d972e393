#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace cpm {

namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::parse_error& error) {
    fail(path, ": malformed JSON: ", error.what());
  }
}

std::string string_pattern(const json& step, const std::string& path) {
  if (!step.contains("pattern") || !step["pattern"].contains("String")) {
    fail(path, ": only string patterns are supported in Replace steps");
  }
  return step["pattern"]["String"].get<std::string>();
}

// A token's text in tokenizer_config.json: a string or {"content": ...}.
std::string token_content(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content")) return value["content"].get<std::string>();
  return "";
}

bool byte_token(const std::string& piece, unsigned char* byte) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return false;
  unsigned value = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = piece[i];
    value = value * 16 + static_cast<unsigned>(c >= 'A' ? (c & ~0x20) - 'A' + 10 : c - '0');
  }
  *byte = static_cast<unsigned char>(value);
  return true;
}

}  // namespace

bool Tokenizer::exists(const std::string& model_dir) {
  return std::filesystem::exists(std::filesystem::path(model_dir) / "tokenizer.json");
}

Tokenizer Tokenizer::load(const std::string& model_dir) {
  Tokenizer tokenizer;
  const std::filesystem::path dir(model_dir);
  tokenizer.load_tokenizer_json((dir / "tokenizer.json").string());
  if (std::filesystem::exists(dir / "tokenizer_config.json"))
    tokenizer.load_config((dir / "tokenizer_config.json").string());
  std::sort(tokenizer.added_.begin(), tokenizer.added_.end(),
            [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  return tokenizer;
}

void Tokenizer::load_tokenizer_json(const std::string& path) {
  const json root = read_json(path);
  try {
    const json& model = root.at("model");
    if (model.value("type", std::string("BPE")) != "BPE") fail(path, ": only BPE models are supported");
    std::unordered_map<std::string, int32_t> vocab;
    for (const auto& [piece, id] : model.at("vocab").items()) {
      vocab.emplace(piece, id.get<int32_t>());
      if (id.get<int32_t>() >= static_cast<int32_t>(pieces_.size())) pieces_.resize(id.get<int32_t>() + 1);
      pieces_[id.get<int32_t>()] = piece;
    }
    std::vector<std::pair<std::string, std::string>> merges;
    for (const json& merge : model.at("merges")) {
      if (merge.is_array()) {
        merges.emplace_back(merge.at(0).get<std::string>(), merge.at(1).get<std::string>());
        continue;
      }
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos) fail(path, ": merge \"", text, "\" is not two pieces");
      merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    }
    const std::string unk =
        model.value("unk_token", json()).is_string() ? model["unk_token"].get<std::string>() : "";
    const int32_t unk_id = vocab.count(unk) ? vocab.at(unk) : -1;
    bpe_ = BpeModel(std::move(vocab), merges, unk_id, model.value("byte_fallback", false),
                    model.value("fuse_unk", false));
    for (const json& token : root.value("added_tokens", json::array())) {
      const int32_t id = token.at("id").get<int32_t>();
      if (id >= static_cast<int32_t>(pieces_.size())) pieces_.resize(id + 1);
      pieces_[id] = token.at("content").get<std::string>();
      added_.push_back({pieces_[id], id, token.value("special", false), token.value("lstrip", false),
                        token.value("rstrip", false)});
    }
    const json& normalizer = root.value("normalizer", json());
    std::vector<json> steps = normalizer.is_null() ? std::vector<json>{}
                              : normalizer.value("type", "") == "Sequence"
                                  ? normalizer.at("normalizers").get<std::vector<json>>()
                                  : std::vector<json>{normalizer};
    for (const json& step : steps) {
      const std::string type = step.value("type", "");
      if (type == "Prepend")
        normalizer_.steps.push_back({step.at("prepend").get<std::string>(), "", true});
      else if (type == "Replace")
        normalizer_.steps.push_back(
            {string_pattern(step, path), step.at("content").get<std::string>(), false});
      else
        fail(path, ": unsupported normalizer step \"", type, "\"");
    }
    if (!root.value("pre_tokenizer", json()).is_null())
      fail(path, ": pre_tokenizer is not supported (MiniCPM3 has none)");
    const json& decoder = root.value("decoder", json());
    steps = decoder.is_null()                         ? std::vector<json>{}
            : decoder.value("type", "") == "Sequence" ? decoder.at("decoders").get<std::vector<json>>()
                                                      : std::vector<json>{decoder};
    for (const json& step : steps) {
      const std::string type = step.value("type", "");
      if (type == "Replace")
        decoder_.replacements.emplace_back(string_pattern(step, path), step.at("content").get<std::string>());
      else if (type == "ByteFallback")
        decoder_.byte_fallback = true;
      else if (type == "Strip") {
        decoder_.strip_content = step.at("content").get<std::string>();
        decoder_.strip_start = step.value("start", 0);
      } else if (type != "Fuse") {
        fail(path, ": unsupported decoder step \"", type, "\"");
      }
    }
    const json& post = root.value("post_processor", json());
    if (post.is_object() && post.value("type", "") == "TemplateProcessing" && post.contains("single")) {
      const json& first = post["single"].at(0);
      if (first.contains("SpecialToken")) {
        bos_id_ = token_to_id(first["SpecialToken"].at("id").get<std::string>());
        add_bos_ = bos_id_ >= 0;
      }
    }
  } catch (const json::exception& error) {
    fail(path, ": unexpected structure: ", error.what());
  }
  special_.assign(pieces_.size(), false);
  for (const AddedToken& token : added_) special_[token.id] = token.special;
}

void Tokenizer::load_config(const std::string& path) {
  const json config = read_json(path);
  try {
    if (config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
      for (const auto& [key, token] : config["added_tokens_decoder"].items()) {
        const int32_t id = std::stoi(key);
        const std::string content = token.at("content").get<std::string>();
        if (token_to_id(content) >= 0) continue;
        if (id >= static_cast<int32_t>(pieces_.size())) {
          pieces_.resize(id + 1);
          special_.resize(id + 1, false);
        }
        pieces_[id] = content;
        special_[id] = token.value("special", false);
        added_.push_back(
            {content, id, special_[id], token.value("lstrip", false), token.value("rstrip", false)});
      }
    }
    if (config.contains("bos_token")) bos_id_ = token_to_id(token_content(config["bos_token"]));
    if (config.contains("eos_token")) eos_id_ = token_to_id(token_content(config["eos_token"]));
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean())
      add_bos_ = config["add_bos_token"].get<bool>();
    const json& chat_template = config.value("chat_template", json());
    if (chat_template.is_string()) {
      chat_template_ = chat_template.get<std::string>();
    } else if (chat_template.is_array()) {
      for (const json& named : chat_template) {
        if (named.value("name", "") == "default") chat_template_ = named.value("template", "");
      }
    }
  } catch (const std::exception& error) {
    fail(path, ": unexpected structure: ", error.what());
  }
}

int32_t Tokenizer::token_to_id(std::string_view token) const {
  for (const AddedToken& added : added_) {
    if (added.content == token) return added.id;
  }
  return bpe_.find(token);
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
  static const std::string kEmpty;
  return id >= 0 && id < vocab_size() ? pieces_[id] : kEmpty;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && special_[id];
}

std::string Tokenizer::normalize(std::string_view segment) const {
  std::string text(segment);
  for (const NormalizerStep& step : normalizer_.steps) {
    if (step.prepend) {
      if (!text.empty()) text = step.pattern + text;
      continue;
    }
    std::string replaced;
    for (size_t at = 0;;) {
      const size_t found = text.find(step.pattern, at);
      replaced.append(text, at, found == std::string::npos ? std::string::npos : found - at);
      if (found == std::string::npos) break;
      replaced += step.content;
      at = found + step.pattern.size();
    }
    text.swap(replaced);
  }
  return text;
}

void Tokenizer::encode_segment(std::string_view segment, std::vector<int32_t>* out) const {
  if (!segment.empty()) bpe_.encode_word(normalize(segment), out);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  if (add_special_tokens && add_bos_ && bos_id_ >= 0) ids.push_back(bos_id_);
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  size_t segment_start = 0, i = 0;
  while (i < text.size()) {
    const AddedToken* match = nullptr;
    for (const AddedToken& token : added_) {  // longest first
      if (text.compare(i, token.content.size(), token.content) == 0) {
        match = &token;
        break;
      }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    size_t segment_end = i;
    if (match->lstrip)
      while (segment_end > segment_start && is_space(text[segment_end - 1])) --segment_end;
    encode_segment(text.substr(segment_start, segment_end - segment_start), &ids);
    ids.push_back(match->id);
    i += match->content.size();
    if (match->rstrip)
      while (i < text.size() && is_space(text[i])) ++i;
    segment_start = i;
  }
  encode_segment(text.substr(segment_start), &ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string text, pending_bytes;
  auto flush_bytes = [&] {
    if (utf8::is_valid(pending_bytes)) {
      text += pending_bytes;
    } else {
      for (size_t k = 0; k < pending_bytes.size(); ++k) text += utf8::replacement_character();
    }
    pending_bytes.clear();
  };
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || (skip_special_tokens && special_[id])) continue;
    const std::string& piece = pieces_[id];
    unsigned char byte;
    if (decoder_.byte_fallback && byte_token(piece, &byte)) {
      pending_bytes += static_cast<char>(byte);
      continue;
    }
    flush_bytes();
    std::string token = piece;
    for (const auto& [pattern, content] : decoder_.replacements) {
      for (size_t at = token.find(pattern); at != std::string::npos;
           at = token.find(pattern, at + content.size())) {
        token.replace(at, pattern.size(), content);
      }
    }
    text += token;
  }
  flush_bytes();
  for (int k = 0; k < decoder_.strip_start && !decoder_.strip_content.empty(); ++k) {
    if (text.compare(0, decoder_.strip_content.size(), decoder_.strip_content) != 0) break;
    text.erase(0, decoder_.strip_content.size());
  }
  return text;
}

std::string IncrementalDecoder::feed(int32_t id) {
  ids_.push_back(id);
  const std::vector<int32_t> window(ids_.begin() + prefix_offset_, ids_.end());
  const std::vector<int32_t> context(ids_.begin() + prefix_offset_, ids_.begin() + read_offset_);
  const std::string before = tokenizer_->decode(context, skip_special_tokens_);
  const std::string after = tokenizer_->decode(window, skip_special_tokens_);
  const std::string& replacement = utf8::replacement_character();
  // A trailing U+FFFD may be a character whose bytes are still arriving: wait for more tokens.
  if (after.size() <= before.size() || after.compare(0, before.size(), before) != 0 ||
      (after.size() >= replacement.size() &&
       after.compare(after.size() - replacement.size(), replacement.size(), replacement) == 0)) {
    return "";
  }
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return after.substr(before.size());
}

std::string IncrementalDecoder::finish() {
  const std::vector<int32_t> window(ids_.begin() + prefix_offset_, ids_.end());
  const std::vector<int32_t> context(ids_.begin() + prefix_offset_, ids_.begin() + read_offset_);
  const std::string before = tokenizer_->decode(context, skip_special_tokens_);
  const std::string after = tokenizer_->decode(window, skip_special_tokens_);
  prefix_offset_ = read_offset_ = ids_.size();
  if (after.size() <= before.size() || after.compare(0, before.size(), before) != 0) return "";
  return after.substr(before.size());
}

}  // namespace cpm

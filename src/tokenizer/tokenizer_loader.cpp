// Tokenizer::load: tokenizer.json, then the transformers-level files beside it.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace cpm {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), ": cannot open (", fs::exists(path) ? "unreadable" : "no such file", ")");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::parse_error& error) {
    fail(path.string(), ": malformed JSON: ", error.what());
  }
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A special token in tokenizer_config.json / special_tokens_map.json: a string or {"content": ...}.
std::string token_content(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content")) return value["content"].get<std::string>();
  return "";
}

AddedToken added_token_from_json(const json& token, int32_t id, const std::string& file) {
  if (id < 0) fail(file, ": added token with negative id ", id);
  AddedToken added;
  added.content = token.at("content").get<std::string>();
  added.id = id;
  added.special = token.value("special", false);
  added.lstrip = token.value("lstrip", false);
  added.rstrip = token.value("rstrip", false);
  added.single_word = token.value("single_word", false);
  added.normalized = token.value("normalized", !added.special);
  return added;
}

// The special token names transformers knows (bos_token, ..., additional_special_tokens).
struct SpecialTokenNames {
  std::string bos, eos, unk, pad;
  std::vector<std::string> additional;

  void read(const json& config) {
    for (auto [key, field] :
         {std::pair{"bos_token", &bos}, {"eos_token", &eos}, {"unk_token", &unk}, {"pad_token", &pad}}) {
      if (config.contains(key)) *field = token_content(config[key]);
    }
    if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
      additional.clear();
      for (const json& token : config["additional_special_tokens"])
        additional.push_back(token_content(token));
    }
  }
  std::vector<std::string> all() const {
    std::vector<std::string> names = {bos, eos, unk, pad};
    names.insert(names.end(), additional.begin(), additional.end());
    std::erase(names, "");
    return names;
  }
};

}  // namespace

bool Tokenizer::exists(const std::string& model_dir) {
  return fs::is_regular_file(fs::path(model_dir) / "tokenizer.json");
}

Tokenizer Tokenizer::load(const std::string& model_dir) {
  const fs::path path = fs::path(model_dir) / "tokenizer.json";
  if (!fs::is_directory(model_dir)) fail(path.string(), ": cannot open (the folder does not exist)");
  const json root = read_json_file(path);
  Tokenizer tokenizer;
  try {
    tokenizer.load_tokenizer_json(root, path.string());
  } catch (const json::exception& error) {
    fail(path.string(), ": unexpected structure: ", error.what());
  }
  tokenizer.load_config(model_dir);
  tokenizer.finish_loading();
  return tokenizer;
}

void Tokenizer::load_tokenizer_json(const json& root, const std::string& file) {
  if (!root.is_object() || !root.contains("model")) fail(file, ": no \"model\" object");
  model_ = BpeModel::from_json(root["model"], file);
  normalizer_ = Normalizer::from_json(root.value("normalizer", json()), file);
  const json pre_tokenizer = root.value("pre_tokenizer", json());
  if (!pre_tokenizer.is_null())
    fail(file, ": pre_tokenizer \"", pre_tokenizer.value("type", "?"), "\" is not supported (only null)");
  decoder_ = DecoderChain::from_json(root.value("decoder", json()), file);
  for (const json& token : root.value("added_tokens", json::array()))
    added_.add(added_token_from_json(token, token.at("id").get<int32_t>(), file));
  load_post_processor(root.value("post_processor", json()), file);
}

// TemplateProcessing's "single" template: the special tokens before and after the text.
void Tokenizer::load_post_processor(const json& spec, const std::string& file) {
  if (spec.is_null()) return;
  const std::string type = spec.at("type").get<std::string>();
  if (type != "TemplateProcessing") fail(file, ": post_processor \"", type, "\" is not supported");
  bool seen_text = false;
  for (const json& item : spec.at("single")) {
    if (item.contains("Sequence")) {
      seen_text = true;
      continue;
    }
    const std::string name = item.at("SpecialToken").at("id").get<std::string>();
    const json& special = spec.at("special_tokens");
    if (!special.contains(name)) fail(file, ": post_processor uses undefined special token \"", name, "\"");
    for (const json& id : special[name].at("ids"))
      (seen_text ? suffix_ids_ : prefix_ids_).push_back(id.get<int32_t>());
  }
}

void Tokenizer::load_config(const std::string& model_dir) {
  const fs::path path = fs::path(model_dir) / "tokenizer_config.json";
  const json config = fs::exists(path) ? read_json_file(path) : json::object();
  try {
    if (!config.is_object()) fail(path.string(), ": not a JSON object");
    add_config_tokens(config, model_dir, path.string());
    const json& chat_template = config.value("chat_template", json());
    if (chat_template.is_string()) {
      chat_template_ = chat_template.get<std::string>();
    } else if (chat_template.is_array()) {  // named templates: use "default"
      for (const json& named : chat_template) {
        if (named.value("name", "") == "default") chat_template_ = named.at("template").get<std::string>();
      }
    } else if (fs::exists(fs::path(model_dir) / "chat_template.jinja")) {
      chat_template_ = read_text_file(fs::path(model_dir) / "chat_template.jinja");
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {  // nlohmann::json errors, a bad id key
    fail(path.string(), ": unexpected structure: ", error.what());
  }
}

// Added and special tokens from the transformers files, and the BOS / EOS template. Configs with
// added_tokens_decoder are complete; older ones rely on special_tokens_map.json and added_tokens.json.
void Tokenizer::add_config_tokens(const json& config, const std::string& model_dir, const std::string& file) {
  SpecialTokenNames names;
  names.read(config);
  if (config.contains("added_tokens_decoder")) {
    for (const auto& [key, token] : config["added_tokens_decoder"].items()) {
      AddedToken added = added_token_from_json(token, std::stoi(key), file);
      // A token already known keeps its id, as transformers' add_tokens does; its flags are replaced.
      const int32_t known = token_to_id(added.content);
      if (known >= 0) added.id = known;
      added_.add(added);
    }
  } else {
    const fs::path map_path = fs::path(model_dir) / "special_tokens_map.json";
    if (fs::exists(map_path)) names.read(read_json_file(map_path));
    const fs::path added_path = fs::path(model_dir) / "added_tokens.json";
    const std::vector<std::string> special_names = names.all();
    if (fs::exists(added_path)) {
      const json added_tokens = read_json_file(added_path);
      for (const auto& [content, id] : added_tokens.items()) {
        const bool special =
            std::find(special_names.begin(), special_names.end(), content) != special_names.end();
        if (id.get<int32_t>() < 0) fail(added_path.string(), ": negative id for \"", content, "\"");
        added_.add({content, id.get<int32_t>(), special, false, false, false, !special});
      }
    }
  }
  // transformers makes every named special token an added special token (when the vocabulary has it).
  for (const std::string& name : names.all()) {
    const int32_t id = token_to_id(name);
    if (id >= 0 && added_.find(name) == nullptr) added_.add({name, id, true, false, false, false, false});
  }
  bos_id_ = names.bos.empty() ? -1 : token_to_id(names.bos);
  eos_id_ = names.eos.empty() ? -1 : token_to_id(names.eos);
  unk_id_ = names.unk.empty() ? -1 : token_to_id(names.unk);
  // Llama-style tokenizers rebuild the template from these flags (defaults: BOS yes, EOS no).
  const json add_bos = config.value("add_bos_token", json());
  const json add_eos = config.value("add_eos_token", json());
  if (!add_bos.is_boolean() && !add_eos.is_boolean()) {
    if (bos_id_ < 0 && prefix_ids_.size() == 1) bos_id_ = prefix_ids_.front();
    return;
  }
  prefix_ids_.clear();
  suffix_ids_.clear();
  if (!add_bos.is_boolean() || add_bos.get<bool>()) {
    if (bos_id_ < 0) fail(file, ": add_bos_token is true but there is no bos_token in the vocabulary");
    prefix_ids_.push_back(bos_id_);
  }
  if (add_eos.is_boolean() && add_eos.get<bool>()) {
    if (eos_id_ < 0) fail(file, ": add_eos_token is true but there is no eos_token in the vocabulary");
    suffix_ids_.push_back(eos_id_);
  }
}

void Tokenizer::finish_loading() {
  added_.build(normalizer_);
  pieces_ = model_.pieces_by_id();
  for (const AddedToken& token : added_.tokens()) {
    if (token.id >= vocab_size()) pieces_.resize(token.id + 1);
    // Decoding gives the content as written, as tokenizers up to 0.22 and transformers.js do (0.23
    // switched normalized tokens to their normalized form).
    pieces_[token.id] = token.content;
  }
  special_.assign(pieces_.size(), false);
  for (const AddedToken& token : added_.tokens()) special_[token.id] = token.special;
  if (unk_id_ < 0) unk_id_ = model_.unk_id();
}

}  // namespace cpm

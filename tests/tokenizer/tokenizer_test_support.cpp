#include "tokenizer/tokenizer_test_support.h"

#include <cstdio>

#include "test_paths.h"
#include "tokenizer/utf8.h"

namespace cpm::test {

namespace {
const std::string kSpacePiece = "\xE2\x96\x81";
}

nlohmann::json minicpm3_style_tokenizer(const std::vector<std::string>& pieces,
                                        const std::vector<std::string>& merges) {
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    vocab[name] = 3 + byte;
  }
  for (size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = piece_id(i);
  const int32_t im_end = piece_id(pieces.size());
  auto added = [](int32_t id, const std::string& content) {
    return nlohmann::json{{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
                          {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  return {{"version", "1.0"},
          {"added_tokens",
           {added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(im_end, "<|im_end|>"),
            added(im_end + 1, "<|im_start|>")}},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", kSpacePiece}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpacePiece}}}}}},
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
             {{{"type", "Replace"}, {"pattern", {{"String", kSpacePiece}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", "<unk>"},
            {"fuse_unk", true},
            {"byte_fallback", true},
            {"vocab", vocab},
            {"merges", merges}}}};
}

Tokenizer load_from_json(const TempDir& dir, const nlohmann::json& tokenizer, const nlohmann::json& config) {
  dir.write("tokenizer.json", tokenizer.dump());
  if (!config.is_null()) dir.write("tokenizer_config.json", config.dump());
  return Tokenizer::load(dir.str());
}

std::string decode_incrementally(const Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                                 bool skip_special_tokens, bool* all_chunks_valid) {
  IncrementalDecoder decoder(tokenizer, skip_special_tokens);
  std::string text;
  auto take = [&](const std::string& chunk) {
    if (!utf8::is_valid(chunk)) *all_chunks_valid = false;
    text += chunk;
  };
  for (int32_t id : ids) take(decoder.feed(id));
  take(decoder.finish());
  return text;
}

const Tokenizer& minicpm3_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(shared_dir() + "/data/minicpm3-4b");
  return tokenizer;
}

}  // namespace cpm::test
